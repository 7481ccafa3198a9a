package alerts

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot/yamlconf"

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
	AlertmanagerURL string `yaml:"alertmanager_url"`
	// DefaultChannel is where groups no route matches are posted.
	DefaultChannel string `yaml:"default_channel"`
	// EditInterval is the shortest time between two edits of a group's
	// message (default DefaultEditInterval).
	EditInterval time.Duration `yaml:"edit_interval"`
	// Routes are tried in order; the first that matches a group decides
	// its channel, mention, auto-declare and escalation.
	Routes []Route `yaml:"routes"`

	// Filled by the composition root from other sections:
	// Timezone is the zone of fallback times (incidents.timezone).
	Timezone *time.Location `yaml:"-"`
	// PageServices are pagerduty.services names; RoutingKeys the services
	// with a pagerduty.routing_keys entry (names only: keys are secrets).
	PageServices []string `yaml:"-"`
	RoutingKeys  []string `yaml:"-"`
}

// Route is one entry of alerts.routes.
type Route struct {
	// Match are label equality conditions; MatchRE label regular
	// expressions, anchored at both ends as in Alertmanager. A route with
	// neither matches every group.
	Match   map[string]string  `yaml:"match"`
	MatchRE map[string]Pattern `yaml:"match_re"`
	// Channel is a channel ID; empty means DefaultChannel.
	Channel string `yaml:"channel"`
	// Mention is a user group ID (S…) or a user ID (U…, W…) pinged when a
	// group starts firing.
	Mention string `yaml:"mention"`
	// Declare, when set, declares an incident for a group once one of its
	// firing alerts has every label in When.
	Declare *DeclareRule `yaml:"declare"`
	// Escalate, when set, pages a service when a firing group is not
	// acknowledged within After.
	Escalate *EscalateRule `yaml:"escalate"`
	// Line is the route's line in the config file, for messages.
	Line int `yaml:"-"`
}

// DeclareRule is a route's auto-declare rule.
type DeclareRule struct {
	// When are the labels a firing alert must have, e.g. {severity: critical}.
	When map[string]string `yaml:"when"`
	// Severity of the declared incident (default sev3).
	Severity bot.Severity `yaml:"severity"`
}

// EscalateRule is a route's escalation rule.
type EscalateRule struct {
	// After is how long a firing group may go unacknowledged.
	After time.Duration `yaml:"after"`
	// Service is a name from pagerduty.services or pagerduty.routing_keys.
	Service string `yaml:"service"`
}

// Pattern is a label regular expression, anchored at both ends as
// Alertmanager's match_re is.
type Pattern struct {
	re  *regexp.Regexp
	src string
}

// NewPattern compiles src anchored at both ends.
func NewPattern(src string) (Pattern, error) {
	re, err := regexp.Compile("^(?:" + src + ")$")
	if err != nil {
		return Pattern{}, fmt.Errorf("%q is not a regular expression", src)
	}
	return Pattern{re: re, src: src}, nil
}

// UnmarshalText compiles the pattern.
func (p *Pattern) UnmarshalText(b []byte) error {
	np, err := NewPattern(string(b))
	if err != nil {
		return err
	}
	*p = np
	return nil
}

// MatchString reports whether the whole of s matches.
func (p Pattern) MatchString(s string) bool { return p.re != nil && p.re.MatchString(s) }

// String is the pattern as written.
func (p Pattern) String() string { return p.src }

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

// UnmarshalYAML decodes the `alerts:` section strictly and checks what can
// be checked within it, each problem with its line. The escalation services
// are checked against the pagerduty section by Validate, once the
// composition root has filled PageServices and RoutingKeys.
func (s *Settings) UnmarshalYAML(n *yaml.Node) error {
	keep := Settings{Timezone: s.Timezone, PageServices: s.PageServices, RoutingKeys: s.RoutingKeys}
	*s = keep
	if err := yamlconf.Decode(n, "alerts", s); err != nil {
		return err
	}
	var ps yamlconf.Problems
	if rn := yamlconf.Lookup(n, "routes"); rn != nil && len(rn.Content) == len(s.Routes) {
		for i := range s.Routes {
			if p := s.Routes[i].check(rn.Content[i], i); p != nil {
				ps = append(ps, *p)
			}
		}
	}
	switch {
	case s.DefaultChannel == "":
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "default_channel"), "alerts.default_channel",
			"required (a channel ID like C0123ABCD for groups no route matches)"))
	case !channelID.MatchString(s.DefaultChannel):
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "default_channel"), "alerts.default_channel",
			"%q is not a channel ID like C0123ABCD (names are not identities)", s.DefaultChannel))
	}
	if s.AlertmanagerURL != "" {
		if u, err := url.Parse(s.AlertmanagerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "alertmanager_url"), "alerts.alertmanager_url",
				"%q is not an http(s) URL like http://alertmanager:9093", redactURL(s.AlertmanagerURL)))
		}
	}
	if s.EditInterval != 0 && s.EditInterval < time.Second {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "edit_interval"), "alerts.edit_interval",
			"%s is too short; at least 1s (Slack rate-limits edits)", s.EditInterval))
	}
	return ps.Err()
}

// UnmarshalYAML decodes one route and keeps its line; Settings'
// UnmarshalYAML checks it (check), knowing its place in the list.
func (r *Route) UnmarshalYAML(n *yaml.Node) error {
	*r = Route{}
	if err := yamlconf.Decode(n, "alerts.routes", r); err != nil {
		return err
	}
	r.Line = n.Line
	return nil
}

// check checks route i of alerts.routes, decoded from n, as far as it can
// be checked without the pagerduty section, and names it as Validate does
// (alerts.routes[i]) and as the oncall section names its schedules.
func (r *Route) check(n *yaml.Node, i int) *yamlconf.Problem {
	at := fmt.Sprintf("alerts.routes[%d].", i)
	if r.Declare != nil && r.Declare.Severity != "" {
		sev, ok := bot.ParseSeverity(string(r.Declare.Severity))
		if !ok {
			p := yamlconf.Errorf(yamlconf.Line(yamlconf.Lookup(n, "declare"), "severity"), at+"declare.severity",
				"%q is not sev1..sev4", r.Declare.Severity)
			return &p
		}
		r.Declare.Severity = sev
	}
	if err := r.validate(nil); err != nil {
		key, msg, _ := strings.Cut(err.Error(), ": ")
		line := n.Line
		if k, _, _ := strings.Cut(key, "."); yamlconf.Lookup(n, k) != nil {
			line = yamlconf.Line(n, k)
		}
		p := yamlconf.Errorf(line, at+key, "%s", msg)
		return &p
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
