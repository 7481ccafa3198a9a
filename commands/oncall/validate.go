package oncall

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var (
	channelID   = regexp.MustCompile(`^[CG][A-Z0-9]{2,20}$`)
	usergroupID = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
)

// Validate reports what would stop New: `opsbot validate` calls it, so that
// a config that cannot start is caught before it is deployed, also when no
// on-call provider is configured where it runs.
func (set Settings) Validate() error {
	if set.SyncInterval != 0 && set.SyncInterval < time.Second {
		return fmt.Errorf("oncall: sync_interval %s: must be at least 1s", set.SyncInterval)
	}
	if set.TimeZone != "" {
		if _, err := time.LoadLocation(set.TimeZone); err != nil {
			return fmt.Errorf("oncall: timezone %q: unknown zone", set.TimeZone)
		}
	}
	seenID, seenName := map[string]bool{}, map[string]bool{}
	for i, sc := range set.Schedules {
		if strings.TrimSpace(sc.ID) == "" {
			return fmt.Errorf("oncall: schedules[%d]: id is required", i)
		}
		name := sc.Name
		if name == "" {
			name = sc.ID
		}
		if strings.ContainsAny(name, " \t") {
			return fmt.Errorf("oncall: schedules[%d] (%s): name %q must be one word, people type it after /oncall", i, sc.ID, name)
		}
		key := strings.ToLower(name)
		if seenID[sc.ID] || seenName[key] || key == "sync" || key == "help" {
			return fmt.Errorf("oncall: schedules[%d]: id %q or name %q is used twice or reserved", i, sc.ID, name)
		}
		seenID[sc.ID], seenName[key] = true, true
		for _, l := range sc.Levels {
			if l < 1 {
				return fmt.Errorf("oncall: schedules[%d] (%s): level %d must be 1 or more", i, sc.ID, l)
			}
		}
		// Slack IDs, as everywhere in the config: a name would only fail
		// at the first shift change, in the logs.
		if c := sc.HandoffChannel; c != "" && !channelID.MatchString(c) {
			return fmt.Errorf("oncall: schedules[%d] (%s): handoff_channel %q is not a channel ID like C0123ABCD (names are not identities)", i, sc.ID, c)
		}
		if g := sc.Usergroup; g != "" && !usergroupID.MatchString(g) {
			return fmt.Errorf("oncall: schedules[%d] (%s): usergroup %q is not a user group ID like S0123ABCD (names are not identities)", i, sc.ID, g)
		}
	}
	return nil
}
