package alerts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func userError(err error) string {
	var ue *bot.UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	if err != nil {
		return "internal: " + err.Error()
	}
	return ""
}

// TestButtons: Acknowledge, Silence, Expire and Declare act on the group of
// the message they are on, show who did what, and refuse forged values,
// other messages and guests.
func TestButtons(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Now().UTC())
	r := w.replica(withClock(clock))
	id := r.notify(diskGroup(disk("db-1", clock.Now().Add(-5*time.Minute))))
	other := r.notify(amNotification{GroupKey: `{}:{alertname="Other"}`, GroupLabels: map[string]string{"alertname": "Other"},
		Common: map[string]string{"alertname": "Other"},
		Alerts: []amAlert{{Labels: map[string]string{"alertname": "Other"}, Starts: clock.Now().Add(-time.Minute), Fingerprint: "o"}}})
	flush(r)
	var msg, otherMsg bot.MessageRef
	for _, m := range w.messages(w.alerts) {
		if strings.Contains(m.Rendered(), "DiskFull") {
			msg = ref(m)
		} else {
			otherMsg = ref(m)
		}
	}
	value := buttonValue(id, 1)

	refusals := []struct {
		name, user string
		msg        bot.MessageRef
		action     string
		value      string
		want       string
	}{
		{"malformed value", "U0ALICE", msg, ActionAck, "not a value", "does not belong"},
		{"value of another group on this message", "U0ALICE", msg, ActionAck, buttonValue(other, 1), "does not belong"},
		{"this group's value on another message", "U0ALICE", otherMsg, ActionAck, value, "does not belong"},
		{"a future episode", "U0ALICE", msg, ActionAck, buttonValue(id, 2), "does not belong"},
		{"unknown group", "U0ALICE", msg, ActionAck, buttonValue("0123abcd", 1), "no longer know"},
		{"guest", "U0GUEST", msg, ActionAck, value, "Guest accounts"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.click(tt.user, tt.msg, tt.action, tt.value)
			if got := userError(err); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if g := r.group(id); g.State.AckedBy != "" {
		t.Fatalf("a refused click acknowledged: %+v", g.State)
	}

	// Acknowledge: shown on the message, the button goes, a second click
	// says who did it.
	if _, err := r.click("U0BOB", msg, ActionAck, value); err != nil {
		t.Fatal(err)
	}
	m, _ := w.fs.Message(msg.Channel, msg.TS)
	if !strings.Contains(m.Rendered(), "<@U0BOB>") {
		t.Errorf("acknowledgement not shown:\n%s", m.Rendered())
	}
	if _, ok := buttonIn(t, m, ActionAck); ok {
		t.Error("Acknowledge still offered after acknowledging")
	}
	resp, err := r.click("U0ALICE", msg, ActionAck, value)
	if err != nil || !strings.Contains(resp.Message.Text, "<@U0BOB> already acknowledged") {
		t.Errorf("second acknowledgement: %+v, %v", resp, err)
	}

	// Silence 4h: a silence on the group labels, createdBy the Slack user,
	// the permalink in the comment; the message shows it with Expire.
	resp, err = r.click("U0ALICE", msg, ActionSilence4h, value)
	if err != nil || !strings.Contains(resp.Message.Text, "Silenced alertname=DiskFull until") {
		t.Fatalf("silence: %+v, %v", resp, err)
	}
	am, _ := alertmanager.New(alertmanager.Config{URL: w.silences})
	sils, err := am.Silences(context.Background())
	if err != nil || len(sils) != 1 {
		t.Fatalf("silences %+v, %v", sils, err)
	}
	s := sils[0]
	if s.CreatedBy != "Alice Adams (Slack U0ALICE)" || !strings.Contains(s.Comment, "https://fake.slack.com/archives/"+msg.Channel) ||
		len(s.Matchers) != 1 || s.Matchers[0] != (bot.SilenceMatcher{Name: "alertname", Value: "DiskFull", IsEqual: true}) ||
		s.EndsAt.Sub(clock.Now()).Round(time.Minute) != 4*time.Hour || s.State != "active" {
		t.Errorf("silence %+v", s)
	}
	m, _ = w.fs.Message(msg.Channel, msg.TS)
	if !strings.Contains(m.Rendered(), "FIRING (silenced)") || !strings.Contains(m.Rendered(), "by <@U0ALICE> until") {
		t.Errorf("silence not shown:\n%s", m.Rendered())
	}
	expire, ok := buttonIn(t, m, ActionExpire)
	if !ok || expire != value {
		t.Fatalf("no Expire button bound to the group")
	}
	if _, ok := buttonIn(t, m, ActionSilence1h); ok {
		t.Error("Silence still offered while silenced")
	}
	if resp, _ := r.click("U0BOB", msg, ActionSilence1h, value); !strings.Contains(resp.Message.Text, "already silenced") {
		t.Errorf("second silence: %+v", resp)
	}

	// Expire: the silence ends in Alertmanager and on the message.
	if _, err := r.click("U0BOB", msg, ActionExpire, value); err != nil {
		t.Fatal(err)
	}
	sils, _ = am.Silences(context.Background())
	if sils[0].State != "expired" {
		t.Errorf("silence %s after Expire", sils[0].State)
	}
	m, _ = w.fs.Message(msg.Channel, msg.TS)
	if strings.Contains(m.Rendered(), "silenced") {
		t.Errorf("still shown silenced:\n%s", m.Rendered())
	}

	// Declare: an incident linked to the group, its alerts in its timeline,
	// the message links to its channel.
	resp, err = r.click("U0ALICE", msg, ActionDeclare, value)
	if err != nil || !strings.Contains(resp.Message.Text, "Declared INC-1 (sev3)") {
		t.Fatalf("declare: %+v, %v", resp, err)
	}
	g := r.group(id)
	if g.State.Incident != "INC-1" || g.State.IncidentChannel == "" {
		t.Fatalf("state %+v", g.State)
	}
	m, _ = w.fs.Message(msg.Channel, msg.TS)
	if !strings.Contains(m.Rendered(), "INC-1 in <#"+g.State.IncidentChannel+">") {
		t.Errorf("incident not linked on the message:\n%s", m.Rendered())
	}
	evs, err := w.tl.Events(context.Background(), "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	var firing []bot.TimelineEvent
	for _, ev := range evs {
		if ev.Type == bot.TLAlertFiring {
			firing = append(firing, ev)
		}
	}
	if len(firing) != 1 || !firing[0].Time.Equal(g.Alerts[0].StartsAt) || firing[0].Text != "Disk almost full on db-1" {
		t.Errorf("alert events %+v", firing)
	}
	if resp, _ := r.click("U0BOB", msg, ActionDeclare, value); !strings.Contains(resp.Message.Text, "already linked to INC-1") {
		t.Errorf("second declare: %+v", resp)
	}
	inc, err := w.incident.Export(context.Background(), "INC-1", "json")
	if err != nil || !strings.Contains(string(inc), `"time_to_detect_seconds"`) {
		t.Errorf("export lacks time to detect: %v\n%s", err, inc)
	}
}

// TestSilenceRefusals: a group without group labels cannot be silenced
// from its message (the silence would match everything), nor a Grafana
// group (silenced in Grafana), and Alertmanager's refusal is shown.
func TestSilenceRefusals(t *testing.T) {
	w := newWorld(t)
	r := w.replica()
	all := r.notify(amNotification{GroupKey: `{}:{}`, Common: map[string]string{"alertname": "A"},
		Alerts: []amAlert{{Labels: map[string]string{"alertname": "A"}, Starts: time.Now().Add(-time.Minute), Fingerprint: "a"}}})
	flush(r)
	m := w.only(w.alerts)
	if _, ok := buttonIn(t, m, ActionSilence1h); ok {
		t.Error("Silence offered for a group without group labels")
	}
	_, err := r.click("U0ALICE", ref(m), ActionSilence1h, buttonValue(all, 1))
	if got := userError(err); !strings.Contains(got, "would match every alert") {
		t.Errorf("got %q", got)
	}
}

// TestAckFailsClosedWithoutReplicas: an acknowledgement the store's
// replicas do not confirm is given back, so a failover cannot undo one the
// person was told about: they are told the store is unreachable and nothing
// is acknowledged, and their next click, once the replicas confirm, is.
func TestAckFailsClosedWithoutReplicas(t *testing.T) {
	w := newWorld(t)
	tg := redistest.Shared(t, redistest.KindSentinel) // a primary and two replicas
	w.rdb = tg.Client
	strict, err := redis.NewAlerts(redis.AlertsConfig{Client: tg.Client, SpoolDir: t.TempDir(), Logger: zaptest.NewLogger(t),
		Durability: redis.Durability{Replicas: 3, Timeout: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = strict.Close() })
	r := w.replica(func(c *Config) { c.Store = strict })
	id := r.notify(diskGroup(disk("db-1", time.Now().Add(-5*time.Minute))))
	flush(r)
	msg, value := ref(w.only(w.alerts)), buttonValue(id, 1)

	_, err = r.click("U0BOB", msg, ActionAck, value)
	if got := userError(err); !strings.Contains(got, "can't reach the alert store right now, so it is not acknowledged") {
		t.Fatalf("acknowledgement the replicas did not confirm: got %q, want the store unreachable", got)
	}
	if g := r.group(id); g.State.AckedBy != "" {
		t.Fatalf("an unconfirmed acknowledgement was kept: %+v", g.State)
	}
	if _, err := w.replica().click("U0BOB", msg, ActionAck, value); err != nil {
		t.Fatalf("acknowledgement with the replicas confirming: %v", err)
	}
	if g := r.group(id); g.State.AckedBy != "U0BOB" {
		t.Fatalf("acknowledged by %q, want U0BOB", g.State.AckedBy)
	}
}
