package incident

import (
	"errors"
	"fmt"
	"regexp"
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

// withDefaults fills zero values and validates the result.
func (s Settings) withDefaults() (_ Settings, err error) {
	if s.ChannelPrefix == "" {
		s.ChannelPrefix = "inc"
	}
	if p := slugify(s.ChannelPrefix, 20); p != s.ChannelPrefix {
		return s, badKey("channel_prefix", "channel_prefix %q: use lower-case letters, digits and dashes", s.ChannelPrefix)
	}
	// Slack IDs, as everywhere in the config: a name like #incidents or
	// @sre would only fail later, one declaration at a time, in the logs.
	if c := s.BroadcastChannel; c != "" && !channelID.MatchString(c) {
		return s, badKey("broadcast_channel", "broadcast_channel %q is not a channel ID like C0123ABCD (names are not identities)", c)
	}
	for _, u := range s.Responders.Users {
		if !bot.IsUserID(u) {
			return s, badKey("responders", "responders.users: %q is not a user ID like U0123ABCD (names are not identities)", u)
		}
	}
	for _, g := range s.Responders.Usergroups {
		if !usergroupID.MatchString(g) {
			return s, badKey("responders", "responders.usergroups: %q is not a user group ID like S0123ABCD (names are not identities)", g)
		}
	}
	if s.OnCallFor == nil {
		s.OnCallFor = []bot.Severity{bot.Sev1, bot.Sev2}
	}
	for _, sev := range s.OnCallFor {
		if !sev.Valid() {
			return s, badKey("oncall_for", "oncall_for: unknown severity %q (want sev1..sev4)", sev)
		}
	}
	if len(s.Roles) == 0 {
		s.Roles = DefaultRoles
	}
	roles := make(map[string]string, len(s.Roles))
	for name, instr := range s.Roles {
		n := strings.ToLower(strings.TrimSpace(name))
		if !roleName.MatchString(n) {
			return s, badKey("roles", "roles: role name %q: use a short lower-case word", name)
		}
		if n == string(bot.RoleCommander) {
			return s, badKey("roles", "roles: commander is built in; set commander_instructions instead")
		}
		roles[n] = instr
	}
	s.Roles = roles
	if s.CommanderInstructions == "" {
		s.CommanderInstructions = DefaultCommanderInstructions
	}
	if s.UpdateReminders == nil {
		s.UpdateReminders = DefaultUpdateReminders
	}
	for sev, d := range s.UpdateReminders {
		if !sev.Valid() {
			return s, badKey("update_reminders", "update_reminders: unknown severity %q (want sev1..sev4)", sev)
		}
		if d < 0 || (d > 0 && d < time.Minute) {
			return s, badKey("update_reminders", "update_reminders: %s: %s is not a sensible interval (0 or at least 1m)", sev, d)
		}
	}
	if s.ArchiveAfter < 0 {
		return s, badKey("archive_after", "archive_after: %s is negative", s.ArchiveAfter)
	}
	if s.Timezone == nil {
		s.Timezone = time.UTC
	}
	if s.Drills, err = s.Drills.withDefaults(s.ChannelPrefix); err != nil {
		return s, err
	}
	s.Limits = s.Limits.withDefaults()
	return s, nil
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
// IANA name. Every problem is reported with its line.
func (s *Settings) UnmarshalYAML(node *yaml.Node) error {
	var raw settingsYAML
	if err := yamlconf.Decode(node, "incidents", &raw); err != nil {
		return err
	}
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
	var ps yamlconf.Problems
	onCallFor := yamlconf.Lookup(node, "oncall_for")
	for i, sev := range raw.OnCallFor {
		if p, ok := bot.ParseSeverity(string(sev)); ok {
			out.OnCallFor[i] = p
		} else {
			ps = append(ps, yamlconf.Errorf(onCallFor.Content[i].Line, "incidents.oncall_for", "unknown severity %q (want sev1..sev4)", sev))
		}
	}
	if raw.UpdateReminders != nil {
		out.UpdateReminders = map[bot.Severity]time.Duration{}
		keys := make([]string, 0, len(raw.UpdateReminders))
		for k := range raw.UpdateReminders {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
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
	if len(ps) > 0 {
		return ps
	}
	if _, err := out.withDefaults(); err != nil {
		line := node.Line
		var ke *keyError
		if errors.As(err, &ke) {
			line = yamlconf.Line(node, ke.key)
		}
		return yamlconf.Problem{Line: line, Key: "incidents", Msg: err.Error()}
	}
	*s = out
	return nil
}

// keyError is a settings mistake with the top-level key of the section it
// concerns, so the config file's line can be found.
type keyError struct {
	key string
	msg string
}

func (e *keyError) Error() string { return e.msg }

func badKey(key, format string, args ...any) error {
	return &keyError{key: key, msg: fmt.Sprintf(format, args...)}
}
