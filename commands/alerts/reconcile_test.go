package alerts

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
)

// TestReconcileWithAlertmanager: a group Alertmanager has been quiet about
// is checked against the real Alertmanager once it has run long enough to
// hold every firing alert again; its alerts Alertmanager no longer holds
// are resolved, those it holds stay firing.
func TestReconcileWithAlertmanager(t *testing.T) {
	w := newWorld(t)
	am := amtest.New(t, amtest.Config{WebhookURL: "http://127.0.0.1:9/unused"})
	client, err := alertmanager.New(alertmanager.Config{URL: am.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// db-1 still fires in Alertmanager; db-2 is gone from it.
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	if err := am.PostAlerts(ctx, amtest.PostableAlert{Labels: map[string]string{"alertname": "DiskFull", "team": "db", "instance": "db-1"},
		StartsAt: start}); err != nil {
		t.Fatal(err)
	}
	held, err := am.Alerts(ctx)
	if err != nil || len(held) != 1 {
		t.Fatalf("Alertmanager holds %+v, %v", held, err)
	}
	db1, db2 := disk("db-1", start), disk("db-2", start)
	db1.Fingerprint = held[0].Fingerprint

	// The group was last reported eleven minutes ago, by this clock.
	clock := bottest.NewClock(time.Now().UTC().Add(-11 * time.Minute))
	r := w.replica(withClock(clock), func(c *Config) { c.Lister = client })
	id := r.notify(diskGroup(db1, db2))
	flush(r)
	msg := ref(w.only(w.alerts))

	// Now: but Alertmanager has only just started, and may not have been
	// told about every firing alert yet.
	clock.Add(11 * time.Minute)
	flush(r)
	if g := r.group(id); g.Firing != 2 {
		t.Fatalf("checked against an Alertmanager that just started: %d firing, want 2", g.Firing)
	}

	// Ten minutes on, the check happens.
	clock.Add(11 * time.Minute)
	flush(r)
	flush(r)
	g := r.group(id)
	if g.Firing != 1 {
		t.Fatalf("%d firing after the check, want 1 (db-1)", g.Firing)
	}
	for _, a := range g.Alerts {
		if a.Fingerprint == db2.Fingerprint && (a.Firing() || a.EndsAt.IsZero()) {
			t.Errorf("db-2 %+v, want resolved", a)
		}
	}
	m, _ := w.fs.Message(msg.Channel, msg.TS)
	if !strings.Contains(m.Rendered(), "*1 firing*, 1 resolved") {
		t.Errorf("message after the check:\n%s", m.Rendered())
	}
}
