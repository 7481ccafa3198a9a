package oncall

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot/yamlconf"
)

var (
	channelID   = regexp.MustCompile(`^[CG][A-Z0-9]{2,20}$`)
	usergroupID = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
)

// UnmarshalYAML decodes the `oncall:` section strictly and checks what
// would stop New, each problem with its line, so that `opsbot validate`
// catches a config that cannot start also where no on-call provider is
// configured.
func (set *Settings) UnmarshalYAML(n *yaml.Node) error {
	if err := yamlconf.Decode(n, "oncall", set); err != nil {
		return err
	}
	var ps yamlconf.Problems
	schedules := yamlconf.Lookup(n, "schedules")
	for _, p := range set.problems() {
		line := yamlconf.Line(n, p.key)
		if p.schedule >= 0 && schedules != nil && p.schedule < len(schedules.Content) {
			line = schedules.Content[p.schedule].Line
		}
		ps = append(ps, yamlconf.Problem{Line: line, Msg: p.msg})
	}
	return ps.Err()
}

// Validate reports what would stop New.
func (set Settings) Validate() error {
	var errs []error
	for _, p := range set.problems() {
		errs = append(errs, errors.New(p.msg))
	}
	return errors.Join(errs...)
}

// settingsProblem is one mistake in the settings: the key concerned and,
// for a schedule's, the schedule's index (else -1).
type settingsProblem struct {
	key      string
	schedule int
	msg      string
}

// reserved are the subcommands of /oncall, which no schedule may be named.
var reserved = map[string]bool{"sync": true, "help": true, "cover": true, "override": true, "me": true}

func (set Settings) problems() []settingsProblem {
	var out []settingsProblem
	add := func(key string, schedule int, format string, args ...any) {
		out = append(out, settingsProblem{key: key, schedule: schedule, msg: fmt.Sprintf(format, args...)})
	}
	if set.SyncInterval != 0 && set.SyncInterval < time.Second {
		add("sync_interval", -1, "oncall: sync_interval %s: must be at least 1s", set.SyncInterval)
	}
	if set.CoverMax < 0 || (set.CoverMax > 0 && set.CoverMax < time.Hour) {
		add("cover_max", -1, "oncall: cover_max %s: must be at least 1h (absent means 14 days)", set.CoverMax)
	}
	if set.Lookahead < 0 {
		add("lookahead", -1, "oncall: lookahead %s: must not be negative", set.Lookahead)
	}
	if set.TimeZone != "" {
		if _, err := time.LoadLocation(set.TimeZone); err != nil {
			add("timezone", -1, "oncall: timezone %q: unknown zone", set.TimeZone)
		}
	}
	seenID, seenName := map[string]bool{}, map[string]bool{}
	for i, sc := range set.Schedules {
		if strings.TrimSpace(sc.ID) == "" {
			add("schedules", i, "oncall: schedules[%d]: id is required", i)
			continue
		}
		name := sc.Name
		if name == "" {
			name = sc.ID
		}
		if strings.ContainsAny(name, " \t") {
			add("schedules", i, "oncall: schedules[%d] (%s): name %q must be one word, people type it after /oncall", i, sc.ID, name)
		}
		key := strings.ToLower(name)
		if seenID[sc.ID] || seenName[key] || reserved[key] {
			add("schedules", i, "oncall: schedules[%d]: id %q or name %q is used twice or reserved", i, sc.ID, name)
		}
		seenID[sc.ID], seenName[key] = true, true
		for _, l := range sc.Levels {
			if l < 1 {
				add("schedules", i, "oncall: schedules[%d] (%s): level %d must be 1 or more", i, sc.ID, l)
			}
		}
		// Slack IDs, as everywhere in the config: a name would only fail
		// at the first shift change, in the logs.
		if c := sc.HandoffChannel; c != "" && !channelID.MatchString(c) {
			add("schedules", i, "oncall: schedules[%d] (%s): handoff_channel %q is not a channel ID like C0123ABCD (names are not identities)", i, sc.ID, c)
		}
		if g := sc.Usergroup; g != "" && !usergroupID.MatchString(g) {
			add("schedules", i, "oncall: schedules[%d] (%s): usergroup %q is not a user group ID like S0123ABCD (names are not identities)", i, sc.ID, g)
		}
	}
	return out
}
