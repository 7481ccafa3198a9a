package oncall_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/oncall"
)

// TestSettingsYAML decodes the SPEC's oncall: section strictly, as the
// composition root does.
func TestSettingsYAML(t *testing.T) {
	src := `
sync_interval: 2m
file: oncall.yaml
ack_reminder_after: 10m
timezone: Europe/Berlin
cover_max: 72h
schedules:
  - {id: PSCHED01, name: payments, handoff_channel: C0PAYMENTS, usergroup: S0ONCALLPAY, levels: [1, 2]}
`
	var got oncall.Settings
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := oncall.Settings{SyncInterval: 2 * time.Minute, File: "oncall.yaml", AckReminderAfter: 10 * time.Minute, TimeZone: "Europe/Berlin", CoverMax: 72 * time.Hour,
		Schedules: []bot.ScheduleConfig{{ID: "PSCHED01", Name: "payments", HandoffChannel: "C0PAYMENTS", Usergroup: "S0ONCALLPAY", Levels: []int{1, 2}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

// TestSettingsYAMLProblems: the section is decoded strictly and checked as
// New would check it, each problem at the line of the value concerned.
func TestSettingsYAMLProblems(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{name: "unknown keys", yaml: "sync_interval: 1m\nsyncinterval: 1m\nschedules:\n  - {id: P1, channel: C0X}\n",
			want: []string{`line 2: oncall: unknown key "syncinterval"`, `line 4: oncall.schedules: unknown key "channel"`}},
		{name: "not a duration", yaml: "lookahead: a week\n",
			want: []string{"line 1: oncall.lookahead: expected a duration such as 30s or 5m, got text `a week`"}},
		{name: "cover limit too short", yaml: "sync_interval: 1m\ncover_max: 30m\n",
			want: []string{"line 2: oncall: cover_max 30m0s: must be at least 1h"}},
		{name: "subcommands are not schedule names", yaml: "schedules:\n  - {id: P1, name: cover}\n  - {id: P2, name: me}\n",
			want: []string{`line 2: oncall: schedules[0]: id "P1" or name "cover" is used twice or reserved`, `line 3: oncall: schedules[1]: id "P2" or name "me" is used twice or reserved`}},
		{name: "every schedule problem at its entry", yaml: "timezone: Mars/Olympus\nschedules:\n  - {id: P1, name: pay}\n  - {id: P2, name: Pay}\n  - {id: P3, handoff_channel: \"#ops\"}\n",
			want: []string{
				`line 1: oncall: timezone "Mars/Olympus": unknown zone`,
				`line 4: oncall: schedules[1]: id "P2" or name "Pay" is used twice or reserved`,
				`line 5: oncall: schedules[2] (P3): handoff_channel "#ops" is not a channel ID`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got oncall.Settings
			err := yaml.Unmarshal([]byte(tc.yaml), &got)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want it to start with %q", i, lines[i], w)
				}
			}
		})
	}
}
