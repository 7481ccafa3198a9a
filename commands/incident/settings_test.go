package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
)

func TestSettingsYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		check   func(t *testing.T, s Settings)
		wantErr string
	}{
		{name: "spec sketch", yaml: `
broadcast_channel: C0INCIDENTS
channel_prefix: inc
responders: {users: [U0SRE1], usergroups: [S0SRE]}
oncall_for: [sev1, sev2]
roles:
  comms: "Post an update every 30 minutes."
  scribe: "Pin key messages."
update_reminders: {sev1: 15m, sev2: 30m, sev3: 60m, sev4: none}
archive_after: 24h
timezone: Europe/Berlin
`, check: func(t *testing.T, s Settings) {
			if s.BroadcastChannel != "C0INCIDENTS" || s.ArchiveAfter != 24*time.Hour || s.Timezone.String() != "Europe/Berlin" {
				t.Errorf("got broadcast %q archive %s zone %s", s.BroadcastChannel, s.ArchiveAfter, s.Timezone)
			}
			want := map[bot.Severity]time.Duration{bot.Sev1: 15 * time.Minute, bot.Sev2: 30 * time.Minute, bot.Sev3: time.Hour, bot.Sev4: 0}
			if diff := cmp.Diff(want, s.UpdateReminders); diff != "" {
				t.Errorf("reminders (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(Responders{Users: []string{"U0SRE1"}, Usergroups: []string{"S0SRE"}}, s.Responders); diff != "" {
				t.Errorf("responders (-want +got):\n%s", diff)
			}
			if len(s.Roles) != 2 || s.Roles["scribe"] != "Pin key messages." {
				t.Errorf("roles = %v", s.Roles)
			}
		}},
		{name: "empty section gives defaults after New", yaml: `{}`, check: func(t *testing.T, s Settings) {
			d, err := s.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if d.ChannelPrefix != "inc" || len(d.Roles) != 3 || d.UpdateReminders[bot.Sev1] != 15*time.Minute ||
				d.UpdateReminders[bot.Sev4] != 0 || d.Timezone != time.UTC || len(d.OnCallFor) != 2 {
				t.Errorf("defaults = %+v", d)
			}
		}},
		{name: "unknown key", yaml: "broadcast: C1\n", wantErr: `unknown key "broadcast"`},
		{name: "bad duration", yaml: "update_reminders: {sev1: soon}\n", wantErr: `"soon" is not a duration`},
		{name: "bad severity key", yaml: "update_reminders: {sev7: 5m}\n", wantErr: `unknown severity "sev7"`},
		{name: "too short a reminder", yaml: "update_reminders: {sev1: 5s}\n", wantErr: "not a sensible interval"},
		{name: "bad zone", yaml: "timezone: Mars/Olympus\n", wantErr: "IANA zone"},
		{name: "bad oncall severity", yaml: "oncall_for: [sev0]\n", wantErr: `unknown severity "sev0"`},
		{name: "commander is built in", yaml: "roles: {commander: lead}\n", wantErr: "commander is built in"},
		{name: "bad prefix", yaml: "channel_prefix: Inc_\n", wantErr: "channel_prefix"},
		{name: "negative archive", yaml: "archive_after: -1h\n", wantErr: "negative"},
		// Names are not identities: they would fail only later, at each
		// declaration, in the logs.
		{name: "broadcast channel by name", yaml: "broadcast_channel: \"#incidents\"\n", wantErr: `incidents.broadcast_channel: "#incidents" is not a channel ID`},
		{name: "responder by name", yaml: "responders: {users: [alice]}\n", wantErr: `responders.users: "alice" is not a user ID`},
		{name: "responder group by handle", yaml: "responders: {usergroups: [\"@sre\"]}\n", wantErr: `responders.usergroups: "@sre" is not a user group ID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Settings
			err := yaml.Unmarshal([]byte(tt.yaml), &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			tt.check(t, s)
		})
	}
}

// Problems name the line of the value concerned and the section's key, also
// for the checks made after decoding.
func TestSettingsYAMLProblemLines(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"channel_prefix: inc\nbroadcast_channel: \"#x\"\n", `line 2: incidents.broadcast_channel: "#x" is not a channel ID`},
		{"archive_after: 1h\nresponders:\n  users: [alice]\n", `line 3: incidents.responders.users: "alice" is not a user ID`},
		{"oncall_for:\n  - sev1\n  - sev0\n", `line 3: incidents.oncall_for: unknown severity "sev0"`},
		{"update_reminders:\n  sev1: 15m\n  sev2: soon\n", `line 3: incidents.update_reminders.sev2: "soon" is not a duration like 30m`},
		{"update_reminders: {sev1: [15m]}\n", "line 1: incidents.update_reminders.sev1: expected a duration like 30m or none"},
		{"roles: x\ntimezone: Mars/Olympus\n", "line 1: incidents.roles: expected a mapping, got text `x`"},
	}
	for _, tt := range tests {
		var s Settings
		err := yaml.Unmarshal([]byte(tt.yaml), &s)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want an error starting %q", tt.yaml, err, tt.want)
		}
	}
	var s Settings
	if err := yaml.Unmarshal([]byte("update_reminders: {sev4: }\n"), &s); err != nil || s.UpdateReminders[bot.Sev4] != 0 {
		t.Errorf("an empty reminder: got %v, %v; want none", err, s.UpdateReminders)
	}
}

// TestSettingsYAMLAllProblems: every value problem of the section comes
// back at once, each with its line and key path, in the order of the file,
// together with what the decoder found.
func TestSettingsYAMLAllProblems(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{
			name: "three bad values",
			yaml: `broadcast_channel: "#incidents"
channel_prefix: inc
responders:
  users: [U0ALICE, bob]
archive_after: -1h
`,
			want: []string{
				`line 1: incidents.broadcast_channel: "#incidents" is not a channel ID like C0123ABCD (names are not identities)`,
				`line 4: incidents.responders.users: "bob" is not a user ID like U0123ABCD (names are not identities)`,
				`line 5: incidents.archive_after: -1h0m0s is negative`,
			},
		},
		{
			name: "every check, with decoding problems",
			yaml: `channel_prefix: Inc_
brodcast_channel: C0INC
responders:
  usergroups:
    - S0SRE
    - "@sre"
oncall_for: [sev1, sev9]
roles:
  Ops Lead: "Coordinate."
  commander: "Lead."
update_reminders:
  SEV1: 10s
  sev2: soon
timezone: Mars/Olympus
drills: {channel_prefix: Drill!}
`,
			want: []string{
				`line 1: incidents.channel_prefix: "Inc_": use lower-case letters, digits and dashes`,
				`line 2: incidents: unknown key "brodcast_channel"`,
				`line 6: incidents.responders.usergroups: "@sre" is not a user group ID like S0123ABCD (names are not identities)`,
				`line 7: incidents.oncall_for: unknown severity "sev9" (want sev1..sev4)`,
				`line 9: incidents.roles.Ops Lead: "Ops Lead" is not a role name: use a short lower-case word`,
				`line 10: incidents.roles.commander: commander is built in; set commander_instructions instead`,
				`line 12: incidents.update_reminders.sev1: 10s is not a sensible interval (0 or at least 1m)`,
				`line 13: incidents.update_reminders.sev2: "soon" is not a duration like 30m`,
				`line 14: incidents.timezone: "Mars/Olympus" is not an IANA zone name like Europe/Berlin`,
				`line 15: incidents.drills.channel_prefix: "Drill!": use lower-case letters, digits and dashes`,
			},
		},
		{
			// Checked against the incidents' own prefix, which is only
			// known to the whole section.
			name: "drills look real",
			yaml: "channel_prefix: inc\ndrills:\n  channel_prefix: inc\n",
			want: []string{`line 3: incidents.drills.channel_prefix: "inc" is the incidents' own prefix: drills would look real`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Settings
			err := yaml.Unmarshal([]byte(tt.yaml), &s)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSettingsWithDefaultsAllProblems: settings built in code (not from
// the file) are checked by New the same way, every problem named by key.
func TestSettingsWithDefaultsAllProblems(t *testing.T) {
	_, err := Settings{BroadcastChannel: "incidents", OnCallFor: []bot.Severity{"sev0"},
		UpdateReminders: map[bot.Severity]time.Duration{"sev7": time.Hour}}.withDefaults()
	want := []string{
		`incidents.broadcast_channel: "incidents" is not a channel ID like C0123ABCD (names are not identities)`,
		`incidents.oncall_for: unknown severity "sev0" (want sev1..sev4)`,
		`incidents.update_reminders.sev7: unknown severity "sev7" (want sev1..sev4)`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
