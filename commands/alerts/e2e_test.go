package alerts

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

func withEscalateAfter(d time.Duration) option {
	return func(c *Config) {
		routes := append([]Route(nil), c.Settings.Routes...)
		for i := range routes {
			if routes[i].Escalate != nil {
				e := *routes[i].Escalate
				e.After = d
				routes[i].Escalate = &e
			}
			routes[i].Declare = nil
		}
		c.Settings.Routes = routes
	}
}

func amAlertFor(name, instance, team string, starts time.Time) amtest.PostableAlert {
	return amtest.PostableAlert{Labels: map[string]string{"alertname": name, "instance": instance, "team": team},
		Annotations: map[string]string{"summary": name + " on " + instance}, StartsAt: starts}
}

// TestE2EAlertmanagerHAPair: an Alertmanager HA pair (two instances, each
// notifying, as when gossip is slow) delivers every notification twice, to
// two opsbot replicas. Each group still gets one message, edited in place as
// alerts join and resolve; an acknowledged group does not escalate, an
// unacknowledged one pages once.
func TestE2EAlertmanagerHAPair(t *testing.T) {
	w := newWorld(t)
	r1 := w.replica(withEscalateAfter(time.Second))
	r2 := w.replica(withEscalateAfter(time.Second))
	cfg := amtest.Config{Token: token, GroupWait: 100 * time.Millisecond, GroupInterval: 400 * time.Millisecond}
	cfg.WebhookURL = r1.hook.URL + PathAlertmanager
	am1 := amtest.New(t, cfg)
	cfg.WebhookURL = r2.hook.URL + PathAlertmanager
	am2 := amtest.New(t, cfg)
	r1.run()
	r2.run()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	post := func(alerts ...amtest.PostableAlert) {
		t.Helper()
		for _, am := range []*amtest.Alertmanager{am1, am2} {
			if err := am.PostAlerts(ctx, alerts...); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)

	// Fire: one message.
	db1 := amAlertFor("DiskFull", "db-1", "db", start)
	post(db1)
	w.waitFor("the DiskFull message", func() bool { return len(w.messages(w.alerts)) == 1 })
	msg := w.only(w.alerts)
	// The message may come from either replica's delivery; each
	// Alertmanager notifies on its own schedule.
	w.poll("deliveries to both replicas", func() bool { return r1.groups() >= 1 && r2.groups() >= 1 })
	id := r1.onlyGroup()
	if r2.onlyGroup() != id {
		t.Fatalf("the replicas accepted different groups: %s and %s", id, r2.onlyGroup())
	}

	// Acknowledge it right away: it will not escalate.
	if _, err := r2.click("U0BOB", ref(msg), ActionAck, buttonValue(id, 1)); err != nil {
		t.Fatal(err)
	}

	// More alerts: the same message, edited.
	db2 := amAlertFor("DiskFull", "db-2", "db", start)
	post(db1, db2)
	w.waitFor("db-2 on the message", func() bool {
		m, _ := w.fs.Message(msg.Channel, msg.TS)
		return strings.Contains(m.Rendered(), "db-2") && strings.Contains(m.Rendered(), "2 firing")
	})

	// A second group, not acknowledged: it pages once.
	api := amAlertFor("APIErrors", "api-1", "db", start)
	post(api)
	w.poll("the APIErrors page", func() bool { return len(w.pd.Incidents()) >= 1 })

	// db-1 resolves, then everything.
	db1.EndsAt = time.Now().UTC()
	post(db1, db2)
	w.waitFor("db-1 resolved on the message", func() bool {
		m, _ := w.fs.Message(msg.Channel, msg.TS)
		return strings.Contains(m.Rendered(), "1 firing*, 1 resolved")
	})
	db2.EndsAt = time.Now().UTC()
	post(db1, db2)
	w.waitFor("the group resolved on the message", func() bool {
		m, _ := w.fs.Message(msg.Channel, msg.TS)
		return strings.Contains(m.Rendered(), "RESOLVED: DiskFull")
	})

	posts := 0
	for _, c := range w.fs.Calls("chat.postMessage") {
		if c.Params.Get("channel") == w.alerts {
			posts++
		}
	}
	if posts != 2 {
		t.Errorf("%d messages posted for 2 groups", posts)
	}
	if r1.deliveries(id)+r2.deliveries(id) < 6 {
		t.Errorf("only %d+%d deliveries: the pair did not duplicate", r1.deliveries(id), r2.deliveries(id))
	}
	incs := w.pd.Incidents()
	if len(incs) != 1 || !strings.Contains(incs[0].Title, "APIErrors") {
		t.Errorf("PagerDuty incidents %+v, want one page for APIErrors", incs)
	}
}

// TestE2ESilenceStopsNotifications: Silence on the message creates a
// silence in the real Alertmanager on the group's labels; Alertmanager then
// mutes the group and sends nothing more.
func TestE2ESilenceStopsNotifications(t *testing.T) {
	w := newWorld(t)
	// The replica needs Alertmanager's URL and Alertmanager the replica's:
	// the silencer is pointed at Alertmanager once both run.
	r := w.replica()
	am := amtest.New(t, amtest.Config{WebhookURL: r.hook.URL + PathAlertmanager, Token: token,
		GroupWait: 100 * time.Millisecond, GroupInterval: 300 * time.Millisecond})
	silencer, err := alertmanager.New(alertmanager.Config{URL: am.URL})
	if err != nil {
		t.Fatal(err)
	}
	r.svc.silencer = silencer
	r.run()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	if err := am.PostAlerts(ctx, amAlertFor("DiskFull", "db-1", "db", start)); err != nil {
		t.Fatal(err)
	}
	w.waitFor("the message", func() bool { return len(w.messages(w.alerts)) == 1 })
	msg := w.only(w.alerts)
	id := r.onlyGroup()
	resp, err := r.click("U0ALICE", ref(msg), ActionSilence1h, buttonValue(id, 1))
	if err != nil || !strings.Contains(resp.Message.Text, "Silenced") {
		t.Fatalf("silence: %+v, %v", resp, err)
	}
	sils, err := silencer.Silences(ctx)
	if err != nil || len(sils) != 1 || sils[0].State != "active" || sils[0].Matchers[0].Name != "alertname" ||
		!strings.Contains(sils[0].CreatedBy, "U0ALICE") {
		t.Fatalf("silences in Alertmanager: %+v, %v", sils, err)
	}
	delivered := r.deliveries(id)

	// Another alert joins the group: Alertmanager mutes it.
	if err := am.PostAlerts(ctx, amAlertFor("DiskFull", "db-1", "db", start), amAlertFor("DiskFull", "db-2", "db", start)); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := am.Metric(ctx, "alertmanager_notifications_suppressed_total", map[string]string{"reason": "silence"})
		if err != nil {
			t.Fatal(err)
		}
		if n >= 1 {
			break // the group was flushed and muted
		}
		if err := ctxSleep(ctx, 20*time.Millisecond); err != nil {
			t.Fatalf("Alertmanager never muted the group: %v", err)
		}
	}
	alerts, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Status.State != "suppressed" || len(a.Status.SilencedBy) != 1 || a.Status.SilencedBy[0] != sils[0].ID {
			t.Errorf("alert %v is %s, silenced by %v", a.Labels, a.Status.State, a.Status.SilencedBy)
		}
	}
	if got := r.deliveries(id); got != delivered {
		t.Errorf("%d notifications after the silence, want none", got-delivered)
	}
	m, _ := w.fs.Message(msg.Channel, msg.TS)
	if strings.Contains(m.Rendered(), "db-2") || !strings.Contains(m.Rendered(), "FIRING (silenced)") {
		t.Errorf("message after the silence:\n%s", m.Rendered())
	}
}

func ctxSleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// TestE2ETenThousandAlertsInOneGroup: 10,000 alerts in one group. An
// Alertmanager without max_alerts sends them in one notification of more
// than 1 MiB: refused with 413 and a reason that tells the operator what to
// set, which Alertmanager logs. With max_alerts: 500, as deploy/README.md
// configures it, the notification is accepted and the one message says how
// many alerts Alertmanager left out.
func TestE2ETenThousandAlertsInOneGroup(t *testing.T) {
	w := newWorld(t)
	r := w.replica()
	r.run()
	// A group_wait long enough for Alertmanager to take in most of the
	// storm before its first notification; the next comes a second later.
	cfg := amtest.Config{Token: token, WebhookURL: r.hook.URL + PathAlertmanager, GroupWait: 3 * time.Second,
		GroupInterval: time.Second}
	uncapped := amtest.New(t, cfg)
	cfg.MaxAlerts = 500
	capped := amtest.New(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	storm := func(name string) []amtest.PostableAlert {
		var out []amtest.PostableAlert
		for i := 0; i < 10000; i++ {
			out = append(out, amAlertFor(name, fmt.Sprintf("db-%05d", i), "ops", start))
		}
		return out
	}
	// Without max_alerts. (A first notification sent before Alertmanager
	// took in the whole storm may be small enough to be accepted.)
	if err := uncapped.PostAlerts(ctx, storm("StormUncapped")...); err != nil {
		t.Fatal(err)
	}
	// The whole phrase: a bare "413" can be in the log's temp dir name.
	for !strings.Contains(uncapped.Logs(), "status code 413") {
		if err := ctxSleep(ctx, 50*time.Millisecond); err != nil {
			t.Fatalf("no 413 in Alertmanager's log:\n%s", uncapped.Logs())
		}
	}
	if !strings.Contains(uncapped.Logs(), "set max_alerts") {
		t.Errorf("Alertmanager's log lacks opsbot's reason:\n%s", uncapped.Logs())
	}

	// With max_alerts: 500, as deploy/README.md configures it: every
	// notification is accepted, and the message says what was left out.
	if err := capped.PostAlerts(ctx, storm("StormCapped")...); err != nil {
		t.Fatal(err)
	}
	capMessages := func() []fakeslack.Message {
		var out []fakeslack.Message
		for _, m := range w.messages(w.alerts) {
			if strings.Contains(m.Rendered(), "FIRING: StormCapped") {
				out = append(out, m)
			}
		}
		return out
	}
	w.waitFor("the message with the whole storm", func() bool {
		ms := capMessages()
		return len(ms) == 1 && strings.Contains(ms[0].Rendered(), "9500 not sent")
	})
	m := capMessages()[0]
	for _, want := range []string{"*500 firing* (+9500 not sent by Alertmanager)", "…and 490 more (490 firing, 0 resolved)",
		"+9500 more alerts not sent by Alertmanager (its max_alerts setting)"} {
		if !strings.Contains(m.Rendered(), want) {
			t.Errorf("message lacks %q:\n%s", want, m.Rendered())
		}
	}
	for _, c := range w.fs.Calls("chat.postMessage") {
		if c.Error != "" {
			t.Errorf("Slack refused the message: %s", c.Error)
		}
	}
}
