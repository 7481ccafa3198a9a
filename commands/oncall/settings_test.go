package oncall_test

import (
	"bytes"
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
schedules:
  - {id: PSCHED01, name: payments, handoff_channel: C0PAYMENTS, usergroup: S0ONCALLPAY, levels: [1, 2]}
`
	var got oncall.Settings
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := oncall.Settings{SyncInterval: 2 * time.Minute, File: "oncall.yaml", AckReminderAfter: 10 * time.Minute, TimeZone: "Europe/Berlin",
		Schedules: []bot.ScheduleConfig{{ID: "PSCHED01", Name: "payments", HandoffChannel: "C0PAYMENTS", Usergroup: "S0ONCALLPAY", Levels: []int{1, 2}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}
