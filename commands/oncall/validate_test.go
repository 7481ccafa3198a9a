package oncall_test

import (
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/oncall"
)

// Settings.Validate (what `opsbot validate` runs) refuses exactly what New
// would refuse at start, including channels and user groups given by name.
func TestSettingsValidateMatchesNew(t *testing.T) {
	tests := []struct {
		name string
		set  oncall.Settings
		want string // "" = valid
	}{
		{name: "valid", set: oncall.Settings{Schedules: []bot.ScheduleConfig{{ID: "P1", Name: "pay", HandoffChannel: "C0PAY", Usergroup: "S0PAY"}}}},
		{name: "handoff channel by name", set: oncall.Settings{Schedules: []bot.ScheduleConfig{{ID: "P1", HandoffChannel: "#payments"}}},
			want: `handoff_channel "#payments" is not a channel ID`},
		{name: "user group by handle", set: oncall.Settings{Schedules: []bot.ScheduleConfig{{ID: "P1", Usergroup: "@oncall-payments"}}},
			want: `usergroup "@oncall-payments" is not a user group ID`},
		{name: "name used twice", set: oncall.Settings{Schedules: []bot.ScheduleConfig{{ID: "P1", Name: "pay"}, {ID: "P2", Name: "Pay"}}},
			want: "used twice"},
		{name: "tiny interval", set: oncall.Settings{SyncInterval: 10 * time.Millisecond}, want: "sync_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verr := tc.set.Validate()
			_, nerr := oncall.New(oncall.Config{Provider: &flaky{}, Chat: newChat(), Cache: newStore(), Settings: tc.set})
			for what, err := range map[string]error{"Validate": verr, "New": nerr} {
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("%s: got %v, want no error", what, err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("%s: got %v, want an error containing %q", what, err, tc.want)
				}
			}
		})
	}
}
