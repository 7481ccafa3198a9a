package incident

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/yamlconf"
)

// Settings are the knobs of the config file's `incidents:` section, decoded
// and checked by UnmarshalYAML; zero values mean the defaults.
type Settings struct {
	// Admins are Slack user IDs allowed admin commands (the top-level
	// `admins:` list; copied here by the composition root).
	Admins []string `yaml:"-"`
	// BroadcastChannel is the channel ID where declarations and updates are
	// announced; empty announces nowhere.
	BroadcastChannel string `yaml:"broadcast_channel"`
	// ChannelPrefix starts every incident channel name (default "inc").
	ChannelPrefix string `yaml:"channel_prefix"`
	// Responders are invited to every incident.
	Responders Responders `yaml:"responders"`
	// OnCallFor are the severities that pull in the current on-call
	// (default sev1, sev2).
	OnCallFor []bot.Severity `yaml:"oncall_for"`
	// Roles maps role names (other than commander) to the instructions
	// DM'd to whoever takes the role. Empty means DefaultRoles.
	Roles map[string]string `yaml:"roles"`
	// UpdateReminders is how long an incident of each severity may go
	// without a status update before the channel is reminded; 0 or absent
	// means never. Nil means DefaultUpdateReminders.
	UpdateReminders map[bot.Severity]time.Duration `yaml:"update_reminders"`
	// ArchiveAfter is how long after resolution the channel is archived;
	// 0 means never.
	ArchiveAfter time.Duration `yaml:"archive_after"`
	// Timezone is the IANA zone of times in exports and messages (default
	// UTC). In YAML it is the zone's name.
	Timezone *time.Location `yaml:"-"`
	// ExportTemplate overrides the Markdown post-mortem template: either
	// the template text itself (anything containing "{{") or a file path.
	ExportTemplate string `yaml:"export_template"`
	// PageServices are the service names usable in /incident page (the
	// keys of the config's pagerduty.services), for usage and validation.
	PageServices []string `yaml:"-"`
	// CommanderInstructions are DM'd to a newly assigned commander.
	CommanderInstructions string `yaml:"commander_instructions"`
	// Drills say how drills run (`incidents.drills`).
	Drills DrillSettings `yaml:"drills"`
	// Permissions narrow who may page, resolve and change severity.
	Permissions Permissions `yaml:"permissions"`
	// Limits bound declarations per person and timeline size per incident.
	Limits Limits `yaml:"limits"`
}

// Responders are people invited to every incident.
type Responders struct {
	Users      []string `yaml:"users"`
	Usergroups []string `yaml:"usergroups"`
}

// DefaultRoles are the roles offered when the config names none.
var DefaultRoles = map[string]string{
	"comms": "You are the communications lead. Post a status update with `/incident update …` " +
		"at least as often as the severity asks, answer stakeholders in the broadcast channel, " +
		"and keep the commander free to lead the response.",
	"scribe": "You are the scribe. Pin key messages with :pushpin: so they land in the timeline, " +
		"record decisions with `/incident note …`, and keep the summary accurate for the post-mortem.",
	"ops": "You are the operations lead. Coordinate the hands-on work, run runbooks with " +
		"`/runbook run …`, and tell the commander before making risky changes.",
}

// DefaultCommanderInstructions are DM'd to a new commander unless the config
// says otherwise.
const DefaultCommanderInstructions = "You are the incident commander. Lead the response: set the severity " +
	"and status, assign roles (`/incident role comms @someone`), make sure updates go out, and " +
	"resolve the incident when the impact is over. Hand over with `/incident commander @someone`."

// DefaultUpdateReminders are the reminder intervals used when the config
// sets none: sev4 incidents are never nudged.
var DefaultUpdateReminders = map[bot.Severity]time.Duration{
	bot.Sev1: 15 * time.Minute,
	bot.Sev2: 30 * time.Minute,
	bot.Sev3: 60 * time.Minute,
}

var roleName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,29}$`)

var (
	channelID   = regexp.MustCompile(`^[CG][A-Z0-9]{2,20}$`)
	usergroupID = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
)

// withDefaults fills zero values and validates the result; the error
// joins every problem, each naming its key (incidents.KEY).
func (s Settings) withDefaults() (Settings, error) {
	s, ps := s.defaulted()
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return s, errors.Join(errs...)
}

// defaulted fills zero values and returns every problem of the result.
func (s Settings) defaulted() (Settings, []settingsProblem) {
	var ps []settingsProblem
	add := func(p settingsProblem, format string, args ...any) {
		p.msg = fmt.Sprintf(format, args...)
		ps = append(ps, p)
	}
	if s.ChannelPrefix == "" {
		s.ChannelPrefix = "inc"
	}
	if p := slugify(s.ChannelPrefix, 20); p != s.ChannelPrefix {
		add(problemAt("channel_prefix"), "%q: use lower-case letters, digits and dashes", s.ChannelPrefix)
	}
	// Slack IDs, as everywhere in the config: a name like #incidents or
	// @sre would only fail later, one declaration at a time, in the logs.
	if c := s.BroadcastChannel; c != "" && !channelID.MatchString(c) {
		add(problemAt("broadcast_channel"), "%q is not a channel ID like C0123ABCD (names are not identities)", c)
	}
	for i, u := range s.Responders.Users {
		if !bot.IsUserID(u) {
			add(problemAtElem("responders.users", i), "%q is not a user ID like U0123ABCD (names are not identities)", u)
		}
	}
	for i, g := range s.Responders.Usergroups {
		if !usergroupID.MatchString(g) {
			add(problemAtElem("responders.usergroups", i), "%q is not a user group ID like S0123ABCD (names are not identities)", g)
		}
	}
	if s.OnCallFor == nil {
		s.OnCallFor = []bot.Severity{bot.Sev1, bot.Sev2}
	}
	for i, sev := range s.OnCallFor {
		if !sev.Valid() {
			add(problemAtElem("oncall_for", i), "unknown severity %q (want sev1..sev4)", sev)
		}
	}
	if len(s.Roles) == 0 {
		s.Roles = DefaultRoles
	}
	roles := make(map[string]string, len(s.Roles))
	for _, name := range sortedKeys(s.Roles) {
		n := strings.ToLower(strings.TrimSpace(name))
		switch {
		case !roleName.MatchString(n):
			add(problemAtEntry("roles", name), "%q is not a role name: use a short lower-case word", name)
		case n == string(bot.RoleCommander):
			add(problemAtEntry("roles", name), "commander is built in; set commander_instructions instead")
		default:
			roles[n] = s.Roles[name]
		}
	}
	s.Roles = roles
	if s.CommanderInstructions == "" {
		s.CommanderInstructions = DefaultCommanderInstructions
	}
	if s.UpdateReminders == nil {
		s.UpdateReminders = DefaultUpdateReminders
	}
	for _, sev := range sortedKeys(s.UpdateReminders) {
		d := s.UpdateReminders[sev]
		switch {
		case !sev.Valid():
			add(problemAtEntry("update_reminders", string(sev)), "unknown severity %q (want sev1..sev4)", sev)
		case d < 0 || (d > 0 && d < time.Minute):
			add(problemAtEntry("update_reminders", string(sev)), "%s is not a sensible interval (0 or at least 1m)", d)
		}
	}
	if s.ArchiveAfter < 0 {
		add(problemAt("archive_after"), "%s is negative", s.ArchiveAfter)
	}
	if s.Timezone == nil {
		s.Timezone = time.UTC
	}
	drills, err := s.Drills.withDefaults(s.ChannelPrefix)
	if err != nil {
		add(problemAt("drills.channel_prefix"), "%s", strings.TrimPrefix(err.Error(), "drills.channel_prefix "))
	} else {
		s.Drills = drills
	}
	s.Limits = s.Limits.withDefaults()
	return s, ps
}

// settingsProblem is one mistake in the settings: the key it concerns
// below `incidents:` (dotted), and, for one element of a list or one
// entry of a mapping there, which, so that its line can be found.
type settingsProblem struct {
	key    string
	elem   int    // index in the list at key, or -1
	mapKey string // key of the entry in the mapping at key, or ""
	msg    string
}

func problemAt(key string) settingsProblem            { return settingsProblem{key: key, elem: -1} }
func problemAtElem(key string, i int) settingsProblem { return settingsProblem{key: key, elem: i} }
func problemAtEntry(key, k string) settingsProblem {
	return settingsProblem{key: key, elem: -1, mapKey: k}
}

// path is the problem's key as the config file spells it.
func (p settingsProblem) path() string {
	if p.mapKey != "" {
		return "incidents." + p.key + "." + p.mapKey
	}
	return "incidents." + p.key
}

func (p settingsProblem) Error() string { return p.path() + ": " + p.msg }

// line finds the problem's line in the section's node: the element's or
// the entry's where there is one, else that of the deepest key present,
// else the section's.
func (p settingsProblem) line(section *yaml.Node) int {
	n, line := section, section.Line
	for _, k := range strings.Split(p.key, ".") {
		v := yamlconf.Lookup(n, k)
		if v == nil {
			return line
		}
		n, line = v, v.Line
	}
	switch {
	case p.elem >= 0 && n.Kind == yaml.SequenceNode && p.elem < len(n.Content):
		return n.Content[p.elem].Line
	case p.mapKey != "" && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p.mapKey {
				return n.Content[i].Line
			}
		}
	}
	return line
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RoleNames lists the configured roles (commander first), sorted.
func (s *Settings) RoleNames() []string {
	out := make([]string, 0, len(s.Roles))
	for r := range s.Roles {
		out = append(out, r)
	}
	sort.Strings(out)
	return append([]string{string(bot.RoleCommander)}, out...)
}

// settingsYAML mirrors Settings with YAML-friendly types.
type settingsYAML struct {
	BroadcastChannel      string               `yaml:"broadcast_channel"`
	ChannelPrefix         string               `yaml:"channel_prefix"`
	Responders            Responders           `yaml:"responders"`
	OnCallFor             []bot.Severity       `yaml:"oncall_for"`
	Roles                 map[string]string    `yaml:"roles"`
	UpdateReminders       map[string]yaml.Node `yaml:"update_reminders"`
	ArchiveAfter          time.Duration        `yaml:"archive_after"`
	Timezone              string               `yaml:"timezone"`
	ExportTemplate        string               `yaml:"export_template"`
	CommanderInstructions string               `yaml:"commander_instructions"`
	Drills                DrillSettings        `yaml:"drills"`
	Permissions           Permissions          `yaml:"permissions"`
	Limits                Limits               `yaml:"limits"`
}

// UnmarshalYAML decodes the `incidents:` section strictly: durations as Go
// duration strings ("15m"), "none" or 0 for no reminder, the time zone by
// IANA name. Every problem is reported, each with its line and key
// (incidents.KEY): those of decoding and those of the values.
func (s *Settings) UnmarshalYAML(node *yaml.Node) error {
	var raw settingsYAML
	ps := yamlconf.AsProblems(yamlconf.Decode(node, "incidents", &raw), node.Line, "incidents")
	out := Settings{
		Admins:                s.Admins,
		PageServices:          s.PageServices,
		BroadcastChannel:      raw.BroadcastChannel,
		ChannelPrefix:         raw.ChannelPrefix,
		Responders:            raw.Responders,
		OnCallFor:             raw.OnCallFor,
		Roles:                 raw.Roles,
		ArchiveAfter:          raw.ArchiveAfter,
		ExportTemplate:        raw.ExportTemplate,
		CommanderInstructions: raw.CommanderInstructions,
		Drills:                raw.Drills,
		Permissions:           raw.Permissions,
		Limits:                raw.Limits,
	}
	// Severities as people write them (SEV1, 1); what does not parse is
	// left for defaulted to report.
	for i, sev := range raw.OnCallFor {
		if p, ok := bot.ParseSeverity(string(sev)); ok {
			out.OnCallFor[i] = p
		}
	}
	if raw.UpdateReminders != nil {
		out.UpdateReminders = map[bot.Severity]time.Duration{}
		for _, k := range sortedKeys(raw.UpdateReminders) {
			v := raw.UpdateReminders[k]
			sev, ok := bot.ParseSeverity(k)
			if !ok {
				ps = append(ps, yamlconf.Errorf(v.Line, "incidents.update_reminders", "unknown severity %q (want sev1..sev4)", k))
				continue
			}
			if v.Kind != yaml.ScalarNode && v.Kind != 0 { // 0: no value, as none
				ps = append(ps, yamlconf.Errorf(v.Line, "incidents.update_reminders."+k, "expected a duration like 30m or none"))
				continue
			}
			switch strings.ToLower(strings.TrimSpace(v.Value)) {
			case "none", "off", "never", "0", "":
				out.UpdateReminders[sev] = 0
				continue
			}
			d, err := time.ParseDuration(v.Value)
			if err != nil {
				ps = append(ps, yamlconf.Errorf(v.Line, "incidents.update_reminders."+k, "%q is not a duration like 30m", v.Value))
				continue
			}
			out.UpdateReminders[sev] = d
		}
	}
	if raw.Timezone != "" {
		loc, err := time.LoadLocation(raw.Timezone)
		if err != nil {
			ps = append(ps, yamlconf.Errorf(yamlconf.Line(node, "timezone"), "incidents.timezone", "%q is not an IANA zone name like Europe/Berlin", raw.Timezone))
		}
		out.Timezone = loc
	}
	// A value that did not decode is reported once, by the decoder.
	type place struct {
		line int
		key  string
	}
	undecoded := map[place]bool{}
	for _, p := range ps {
		undecoded[place{p.Line, p.Key}] = true
	}
	_, vps := out.defaulted()
	for _, p := range vps {
		line := p.line(node)
		if p.mapKey != "" && p.key == "update_reminders" {
			// The reminders were re-keyed by their parsed severity.
			line = reminderLine(node, bot.Severity(p.mapKey))
		}
		if !undecoded[place{line, p.path()}] {
			ps = append(ps, yamlconf.Problem{Line: line, Key: p.path(), Msg: p.msg})
		}
	}
	if len(ps) > 0 {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
		return ps
	}
	*s = out
	return nil
}

// reminderLine is the line of the update_reminders entry for sev, however
// its key was written (sev1, SEV1).
func reminderLine(node *yaml.Node, sev bot.Severity) int {
	m := yamlconf.Lookup(node, "update_reminders")
	if m == nil {
		return node.Line
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if p, ok := bot.ParseSeverity(m.Content[i].Value); ok && p == sev {
			return m.Content[i].Line
		}
	}
	return m.Line
}
