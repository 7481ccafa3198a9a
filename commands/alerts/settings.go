package alerts

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
)

// DefaultEditInterval is the shortest time between two edits of one alert
// group's message when the config does not say: changes arriving faster are
// coalesced into one edit.
const DefaultEditInterval = 10 * time.Second

// Settings are the config file's `alerts:` section.
type Settings struct {
	// AlertmanagerURL is Alertmanager's base URL, for silences from Slack
	// (API v2); empty means no Silence buttons and no /alerts silence.
	AlertmanagerURL string
	// DefaultChannel is where groups no route matches are posted.
	DefaultChannel string
	// EditInterval is the shortest time between two edits of a group's
	// message (default DefaultEditInterval).
	EditInterval time.Duration
	// Routes are tried in order; the first that matches a group decides
	// its channel, mention, auto-declare and escalation.
	Routes []Route

	// Filled by the composition root from other sections:
	// Timezone is the zone of fallback times (incidents.timezone).
	Timezone *time.Location
	// PageServices are pagerduty.services names; RoutingKeys the services
	// with a pagerduty.routing_keys entry (names only: keys are secrets).
	PageServices []string
	RoutingKeys  []string
}

// Route is one entry of alerts.routes.
type Route struct {
	// Match are label equality conditions; MatchRE label regular
	// expressions, anchored at both ends as in Alertmanager. A route with
	// neither matches every group.
	Match   map[string]string
	MatchRE map[string]*regexp.Regexp
	// Channel is a channel ID; empty means DefaultChannel.
	Channel string
	// Mention is a user group ID (S…) or a user ID (U…, W…) pinged when a
	// group starts firing.
	Mention string
	// Declare, when set, declares an incident for a group once one of its
	// firing alerts has every label in When.
	Declare *DeclareRule
	// Escalate, when set, pages a service when a firing group is not
	// acknowledged within After.
	Escalate *EscalateRule
	// Line is the route's line in the config file, for messages.
	Line int
}

// DeclareRule is a route's auto-declare rule.
type DeclareRule struct {
	When     map[string]string
	Severity bot.Severity
}

// EscalateRule is a route's escalation rule.
type EscalateRule struct {
	After time.Duration
	// Service is a name from pagerduty.services or pagerduty.routing_keys.
	Service string
}

var (
	channelID    = regexp.MustCompile(`^[CG][A-Z0-9]{2,20}$`)
	mentionID    = regexp.MustCompile(`^[SUW][A-Z0-9]{2,20}$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	serviceNameR = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

// labels a group is routed by: its group labels and the labels all its
// alerts share.
func groupLabels(g *bot.AlertGroup) map[string]string {
	out := make(map[string]string, len(g.CommonLabels)+len(g.GroupLabels))
	for k, v := range g.CommonLabels {
		out[k] = v
	}
	for k, v := range g.GroupLabels {
		out[k] = v
	}
	return out
}

// Matches reports whether the route takes a group with these labels.
func (r *Route) Matches(labels map[string]string) bool {
	for k, v := range r.Match {
		if labels[k] != v {
			return false
		}
	}
	for k, re := range r.MatchRE {
		if !re.MatchString(labels[k]) {
			return false
		}
	}
	return true
}

// route returns the first route matching the group, or the default route
// (DefaultChannel, nothing else).
func (s *Settings) route(g *bot.AlertGroup) Route {
	labels := groupLabels(g)
	for _, r := range s.Routes {
		if r.Matches(labels) {
			if r.Channel == "" {
				r.Channel = s.DefaultChannel
			}
			return r
		}
	}
	return Route{Channel: s.DefaultChannel}
}

// declares reports whether a firing alert of the group has every label of
// the rule.
func (d *DeclareRule) declares(g *bot.AlertGroup) bool {
	for _, a := range g.Alerts {
		if !a.Firing() {
			continue
		}
		ok := true
		for k, v := range d.When {
			if a.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Validate reports what would stop New; `opsbot validate` calls it too.
// Errors name the key as alerts.KEY and, where known, the line.
func (s *Settings) Validate() error { return s.validate(true) }

// validate checks the section; withServices checks escalation services
// against PageServices and RoutingKeys too.
func (s *Settings) validate(withServices bool) error {
	if s.DefaultChannel == "" {
		return fmt.Errorf("alerts.default_channel: required (a channel ID like C0123ABCD for groups no route matches)")
	}
	if !channelID.MatchString(s.DefaultChannel) {
		return fmt.Errorf("alerts.default_channel: %q is not a channel ID like C0123ABCD (names are not identities)", s.DefaultChannel)
	}
	if s.AlertmanagerURL != "" {
		u, err := url.Parse(s.AlertmanagerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("alerts.alertmanager_url: %q is not an http(s) URL like http://alertmanager:9093", redactURL(s.AlertmanagerURL))
		}
	}
	if s.EditInterval < 0 {
		return fmt.Errorf("alerts.edit_interval: %s is negative", s.EditInterval)
	}
	var services map[string]bool
	if withServices {
		services = map[string]bool{}
		for _, n := range s.PageServices {
			services[n] = true
		}
		for _, n := range s.RoutingKeys {
			services[n] = true
		}
	}
	for i, r := range s.Routes {
		at := fmt.Sprintf("alerts.routes[%d]", i)
		if r.Line > 0 {
			at = fmt.Sprintf("line %d: %s", r.Line, at)
		}
		if err := r.validate(services); err != nil {
			return fmt.Errorf("%s.%w", at, err)
		}
	}
	return nil
}

func (r *Route) validate(services map[string]bool) error {
	for k := range r.Match {
		if !labelNameRE.MatchString(k) {
			return fmt.Errorf("match: %q is not a label name", k)
		}
	}
	for k := range r.MatchRE {
		if !labelNameRE.MatchString(k) {
			return fmt.Errorf("match_re: %q is not a label name", k)
		}
	}
	if r.Channel != "" && !channelID.MatchString(r.Channel) {
		return fmt.Errorf("channel: %q is not a channel ID like C0123ABCD (names are not identities)", r.Channel)
	}
	if r.Mention != "" && !mentionID.MatchString(r.Mention) {
		return fmt.Errorf("mention: %q is not a user group ID (S…) or user ID (U…)", r.Mention)
	}
	if d := r.Declare; d != nil {
		if len(d.When) == 0 {
			return fmt.Errorf("declare.when: give at least one label, e.g. {severity: critical}")
		}
		for k := range d.When {
			if !labelNameRE.MatchString(k) {
				return fmt.Errorf("declare.when: %q is not a label name", k)
			}
		}
		if d.Severity != "" && !d.Severity.Valid() {
			return fmt.Errorf("declare.severity: %q is not sev1..sev4", d.Severity)
		}
	}
	if e := r.Escalate; e != nil {
		if e.After <= 0 {
			return fmt.Errorf("escalate.after: give a duration like 10m")
		}
		if !serviceNameR.MatchString(e.Service) {
			return fmt.Errorf("escalate.service: %q is not a service name", e.Service)
		}
		switch {
		case services == nil:
		case len(services) == 0:
			return fmt.Errorf("escalate.service: %q: no PagerDuty service is configured (pagerduty.services or pagerduty.routing_keys)", e.Service)
		case !services[e.Service]:
			return fmt.Errorf("escalate.service: %q is in neither pagerduty.services nor pagerduty.routing_keys", e.Service)
		}
	}
	return nil
}

// redactURL hides a password in a URL shown in an error.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparseable URL)"
}

// settingsYAML mirrors Settings with YAML types.
type settingsYAML struct {
	AlertmanagerURL string               `yaml:"alertmanager_url"`
	DefaultChannel  string               `yaml:"default_channel"`
	EditInterval    string               `yaml:"edit_interval"`
	Routes          []yaml.Node          `yaml:"routes"`
	Unknown         map[string]yaml.Node `yaml:",inline"`
}

type routeYAML struct {
	Match    map[string]string    `yaml:"match"`
	MatchRE  map[string]string    `yaml:"match_re"`
	Channel  string               `yaml:"channel"`
	Mention  string               `yaml:"mention"`
	Declare  yaml.Node            `yaml:"declare"` // a *yaml.Node stays empty next to an inline map
	Escalate yaml.Node            `yaml:"escalate"`
	Unknown  map[string]yaml.Node `yaml:",inline"`
}

type declareYAML struct {
	When     map[string]string    `yaml:"when"`
	Severity string               `yaml:"severity"`
	Unknown  map[string]yaml.Node `yaml:",inline"`
}

type escalateYAML struct {
	After   string               `yaml:"after"`
	Service string               `yaml:"service"`
	Unknown map[string]yaml.Node `yaml:",inline"`
}

// UnmarshalYAML decodes the `alerts:` section strictly (an unknown key is
// an error), compiles match_re anchored at both ends, and validates what
// can be checked within the section. Errors read `line N: alerts.KEY: what`.
// The escalation services are checked against the pagerduty section by
// Validate once the composition root has filled PageServices and
// RoutingKeys.
func (s *Settings) UnmarshalYAML(node *yaml.Node) error {
	var raw settingsYAML
	if err := node.Decode(&raw); err != nil {
		return fmt.Errorf("line %d: alerts: %w", node.Line, yamlReason(err))
	}
	if err := unknownKey(raw.Unknown, "alerts"); err != nil {
		return err
	}
	out := Settings{AlertmanagerURL: strings.TrimSpace(raw.AlertmanagerURL), DefaultChannel: raw.DefaultChannel,
		Timezone: s.Timezone, PageServices: s.PageServices, RoutingKeys: s.RoutingKeys}
	if raw.EditInterval != "" {
		d, err := time.ParseDuration(raw.EditInterval)
		if err != nil || d < time.Second {
			return fmt.Errorf("line %d: alerts.edit_interval: %q is not a duration of at least 1s", lineOf(node, "edit_interval"), raw.EditInterval)
		}
		out.EditInterval = d
	}
	for i, rn := range raw.Routes {
		r, err := decodeRoute(&rn, i)
		if err != nil {
			return err
		}
		out.Routes = append(out.Routes, r)
	}
	// Escalation services are checked against the pagerduty section by
	// Validate, once the composition root has filled them in.
	if err := out.validate(false); err != nil {
		if strings.HasPrefix(err.Error(), "line ") {
			return err
		}
		return fmt.Errorf("line %d: %w", lineOf(node, strings.TrimPrefix(strings.SplitN(err.Error(), ":", 2)[0], "alerts.")), err)
	}
	*s = out
	return nil
}

func decodeRoute(n *yaml.Node, i int) (Route, error) {
	at := func(key string) string { return fmt.Sprintf("line %d: alerts.routes[%d].%s", lineOf(n, key), i, key) }
	var raw routeYAML
	if err := n.Decode(&raw); err != nil {
		return Route{}, fmt.Errorf("line %d: alerts.routes[%d]: %w", n.Line, i, yamlReason(err))
	}
	if err := unknownKey(raw.Unknown, fmt.Sprintf("alerts.routes[%d]", i)); err != nil {
		return Route{}, err
	}
	r := Route{Match: raw.Match, Channel: raw.Channel, Mention: raw.Mention, Line: n.Line}
	if len(raw.MatchRE) > 0 {
		r.MatchRE = map[string]*regexp.Regexp{}
		for _, k := range sortedKeys(raw.MatchRE) {
			re, err := regexp.Compile("^(?:" + raw.MatchRE[k] + ")$")
			if err != nil {
				return Route{}, fmt.Errorf("%s: %s: %q is not a regular expression", at("match_re"), k, raw.MatchRE[k])
			}
			r.MatchRE[k] = re
		}
	}
	if raw.Declare.Kind != 0 {
		var d declareYAML
		if err := raw.Declare.Decode(&d); err != nil {
			return Route{}, fmt.Errorf("%s: %w", at("declare"), yamlReason(err))
		}
		if err := unknownKey(d.Unknown, fmt.Sprintf("alerts.routes[%d].declare", i)); err != nil {
			return Route{}, err
		}
		rule := &DeclareRule{When: d.When}
		if d.Severity != "" {
			sev, ok := bot.ParseSeverity(d.Severity)
			if !ok {
				return Route{}, fmt.Errorf("%s: severity %q is not sev1..sev4", at("declare"), d.Severity)
			}
			rule.Severity = sev
		}
		r.Declare = rule
	}
	if raw.Escalate.Kind != 0 {
		var e escalateYAML
		if err := raw.Escalate.Decode(&e); err != nil {
			return Route{}, fmt.Errorf("%s: %w", at("escalate"), yamlReason(err))
		}
		if err := unknownKey(e.Unknown, fmt.Sprintf("alerts.routes[%d].escalate", i)); err != nil {
			return Route{}, err
		}
		after, err := time.ParseDuration(e.After)
		if err != nil || after <= 0 {
			return Route{}, fmt.Errorf("%s: after %q is not a duration like 10m", at("escalate"), e.After)
		}
		r.Escalate = &EscalateRule{After: after, Service: e.Service}
	}
	if err := r.validate(nil); err != nil {
		return Route{}, fmt.Errorf("line %d: alerts.routes[%d].%w", n.Line, i, err)
	}
	return r, nil
}

// unknownKey reports the first (by line) unknown key of a mapping.
func unknownKey(unknown map[string]yaml.Node, section string) error {
	if len(unknown) == 0 {
		return nil
	}
	keys := sortedKeys(unknown)
	sort.SliceStable(keys, func(i, j int) bool { return unknown[keys[i]].Line < unknown[keys[j]].Line })
	return fmt.Errorf("line %d: %s: unknown key %q", unknown[keys[0]].Line, section, keys[0])
}

// lineOf is the line of key in a mapping node, or the node's own.
func lineOf(n *yaml.Node, key string) int {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i].Line
			}
		}
	}
	return n.Line
}

// yamlReason strips yaml's own "yaml: unmarshal errors:" wrapping.
func yamlReason(err error) error {
	msg := strings.TrimSpace(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:"))
	return fmt.Errorf("%s", strings.ReplaceAll(msg, "\n  ", "; "))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
