package alerts

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

func paymentsGroup(severity string, starts time.Time, resolved ...time.Time) amNotification {
	a := amAlert{Labels: map[string]string{"alertname": "CheckoutLatency", "team": "payments", "severity": severity},
		Annotations: map[string]string{"summary": "Checkout p99 above 2s"}, Starts: starts, Fingerprint: "c1"}
	if len(resolved) > 0 {
		a.Ends = resolved[0]
	}
	return amNotification{GroupKey: `{}/{team="payments"}:{alertname="CheckoutLatency"}`,
		GroupLabels: map[string]string{"alertname": "CheckoutLatency"},
		Common:      map[string]string{"alertname": "CheckoutLatency", "team": "payments", "severity": severity}, Alerts: []amAlert{a}}
}

func triggers(w *world) int {
	n := 0
	for _, ev := range w.events.Events() {
		if ev.Action == "trigger" {
			n++
		}
	}
	return n
}

// TestEscalationPagesOnce: a firing group nobody acknowledges pages the
// route's service once, however many replicas look, through the Events API
// with the group as dedup key; the page resolves with the group.
func TestEscalationPagesOnce(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r1, r2 := w.replica(withClock(clock)), w.replica(withClock(clock))
	id := r1.notify(paymentsGroup("warning", t0.Add(-time.Minute)))
	flush(r1, r2)
	clock.Add(9 * time.Minute)
	flush(r1, r2)
	if n := triggers(w); n != 0 {
		t.Fatalf("paged after 9 minutes: %d", n)
	}
	clock.Add(time.Minute)
	flush(r1, r2, r1, r2)
	evs := w.events.Events()
	if len(evs) != 1 || evs[0].Action != "trigger" || evs[0].DedupKey != id || evs[0].Severity != "warning" ||
		!strings.Contains(evs[0].Summary, "CheckoutLatency: 1 alert firing, not acknowledged for 10m") || len(evs[0].Links) != 1 {
		t.Fatalf("events %+v", evs)
	}
	g := r1.group(id)
	if g.State.PagedVia != pagedViaEvents || g.State.PagedService != "checkout" {
		t.Errorf("state %+v", g.State)
	}
	if m := w.only(w.payments); !strings.Contains(m.Rendered(), "Paged") || !strings.Contains(m.Rendered(), "checkout on-call") {
		t.Errorf("page not shown:\n%s", m.Rendered())
	}
	clock.Add(time.Hour)
	flush(r1, r2)
	if n := triggers(w); n != 1 {
		t.Errorf("%d triggers after an hour, want 1", n)
	}

	// The group resolves: the PagerDuty alert resolves, once.
	r2.notify(paymentsGroup("warning", t0.Add(-time.Minute), clock.Now()))
	flush(r1, r2)
	clock.Add(time.Minute)
	flush(r1, r2)
	alerts := w.events.Alerts()
	if len(alerts) != 1 || alerts[0].Status != "resolved" || alerts[0].Triggers != 1 {
		t.Errorf("PagerDuty alerts %+v", alerts)
	}
}

func TestEscalationThroughRESTIncident(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r := w.replica(withClock(clock))
	id := r.notify(diskGroup(disk("db-1", t0.Add(-time.Minute))))
	flush(r)
	clock.Add(5 * time.Minute)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.svc.escalateDue(context.Background()) }()
	}
	wg.Wait()
	incs := w.pd.Incidents()
	if len(incs) != 1 || incs[0].ServiceID != "PSVCDB" || incs[0].IncidentKey != "alertgroup-"+id+"-1" ||
		!strings.Contains(incs[0].Title, "DiskFull") || incs[0].From != "opsbot@example.com" {
		t.Fatalf("PagerDuty incidents %+v", incs)
	}
	if g := r.group(id); g.State.PagedVia != pagedViaREST || !strings.Contains(g.State.PageURL, incs[0].ID) {
		t.Errorf("state %+v", g.State)
	}
}

// TestNoEscalation: acknowledged or silenced groups do not page, nor do
// groups that resolved in time.
func TestNoEscalation(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Now().UTC())
	r := w.replica(withClock(clock))
	start := clock.Now().Add(-time.Minute)
	acked := r.notify(paymentsGroup("warning", start))
	silenced := r.notify(diskGroup(disk("db-1", start)))
	resolved := r.notify(amNotification{GroupKey: `{}:{alertname="Flappy"}`, GroupLabels: map[string]string{"alertname": "Flappy"},
		Common: map[string]string{"alertname": "Flappy", "team": "db"},
		Alerts: []amAlert{{Labels: map[string]string{"alertname": "Flappy", "team": "db"}, Starts: start, Fingerprint: "f"}}})
	flush(r)
	byName := map[string]bot.MessageRef{}
	for _, ch := range []string{w.alerts, w.payments} {
		for _, m := range w.messages(ch) {
			for _, name := range []string{"CheckoutLatency", "DiskFull", "Flappy"} {
				if strings.Contains(m.Rendered(), name) {
					byName[name] = ref(m)
				}
			}
		}
	}
	if _, err := r.click("U0BOB", byName["CheckoutLatency"], ActionAck, buttonValue(acked, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.click("U0BOB", byName["DiskFull"], ActionSilence1h, buttonValue(silenced, 1)); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	r.notify(amNotification{GroupKey: `{}:{alertname="Flappy"}`, GroupLabels: map[string]string{"alertname": "Flappy"},
		Common: map[string]string{"alertname": "Flappy", "team": "db"},
		Alerts: []amAlert{{Labels: map[string]string{"alertname": "Flappy", "team": "db"}, Starts: start, Ends: clock.Now(), Fingerprint: "f"}}})
	flush(r)
	clock.Add(30 * time.Minute)
	flush(r)
	if n := len(w.events.Events()); n != 0 {
		t.Errorf("%d Events API events", n)
	}
	if n := len(w.pd.Incidents()); n != 0 {
		t.Errorf("%d PagerDuty incidents", n)
	}
	for _, id := range []string{acked, silenced, resolved} {
		if g := r.group(id); !g.State.PagedAt.IsZero() {
			t.Errorf("group %s paged: %+v", id, g.State)
		}
	}
}

// TestFailedPageIsRetriedAfterItsLease: PagerDuty failing does not make a
// retry loop; the escalation waits for its lease and pages then.
func TestFailedPageIsRetriedAfterItsLease(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r := w.replica(withClock(clock))
	r.notify(paymentsGroup("warning", t0.Add(-time.Minute)))
	flush(r)
	w.events.FailNext(2, fakepd.Fault{Status: http.StatusServiceUnavailable})
	clock.Add(10 * time.Minute)
	flush(r)
	flush(r)
	if n := triggers(w); n != 0 {
		t.Fatalf("%d triggers while PagerDuty fails", n)
	}
	clock.Add(30 * time.Second)
	flush(r)
	if n := triggers(w); n != 0 {
		t.Fatalf("retried within the lease: %d triggers", n)
	}
	clock.Add(time.Minute)
	flush(r)
	if n := triggers(w); n != 1 {
		t.Errorf("%d triggers after the lease, want 1", n)
	}
}

// TestAutoDeclareOnce: a route's declare rule declares one incident for the
// group, with the route's severity, however many replicas render it; the
// alerts go into its timeline and the message links to it.
func TestAutoDeclareOnce(t *testing.T) {
	w := newWorld(t)
	r1, r2 := w.replica(), w.replica()
	start := time.Now().Add(-3 * time.Minute).UTC().Truncate(time.Millisecond)
	id := r1.notify(paymentsGroup("critical", start))
	r2.notify(paymentsGroup("critical", start))
	flush(r1, r2)
	flush(r1, r2)
	incs, err := w.incident.OpenIncidentSummaries(context.Background())
	if err != nil || len(incs) != 1 || incs[0].Severity != "sev2" || incs[0].Commander != "" {
		t.Fatalf("open incidents %+v, %v", incs, err)
	}
	g := r1.group(id)
	if g.State.Incident != incs[0].Key || !g.State.AutoDeclared {
		t.Errorf("state %+v", g.State)
	}
	m := w.only(w.payments)
	if !strings.Contains(m.Rendered(), incs[0].Key+" in <#") {
		t.Errorf("message does not link the incident:\n%s", m.Rendered())
	}
	if _, ok := buttonIn(t, m, ActionDeclare); ok {
		t.Error("Declare incident still offered")
	}
	evs, _ := w.tl.Events(context.Background(), incs[0].Key)
	n := 0
	for _, ev := range evs {
		if ev.Type == bot.TLAlertFiring && ev.Time.Equal(start) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d alert firing events at %v in %+v", n, start, evs)
	}
	doc, err := w.incident.Export(context.Background(), incs[0].Key, "md")
	if err != nil || !strings.Contains(string(doc), "time to detect") || !strings.Contains(string(doc), "Checkout p99 above 2s") {
		t.Errorf("export: %v\n%s", err, doc)
	}
}

// TestNoAutoDeclareWhileSilenced: a silence from the message means someone
// is on it, so the route's declare rule waits; once the silence is expired
// and the group still fires, it applies.
func TestNoAutoDeclareWhileSilenced(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Now().UTC())
	r := w.replica(withClock(clock))
	start := clock.Now().Add(-time.Minute)
	id := r.notify(paymentsGroup("warning", start))
	flush(r)
	msg := ref(w.only(w.payments))
	if _, err := r.click("U0BOB", msg, ActionSilence1h, buttonValue(id, 1)); err != nil {
		t.Fatal(err)
	}
	// A critical alert joins the silenced group (sent before the silence
	// reached every Alertmanager, say).
	clock.Add(time.Minute)
	r.notify(paymentsGroup("critical", start))
	flush(r)
	clock.Add(time.Minute)
	flush(r)
	if incs, _ := w.incident.OpenIncidentSummaries(context.Background()); len(incs) != 0 {
		t.Fatalf("a silenced group declared %+v", incs)
	}
	if g := r.group(id); g.State.AutoDeclared || g.State.Incident != "" {
		t.Fatalf("state %+v", g.State)
	}
	// Expired: nobody is on it any more, and the rule applies.
	if _, err := r.click("U0BOB", msg, ActionExpire, buttonValue(id, 1)); err != nil {
		t.Fatal(err)
	}
	flush(r)
	incs, err := w.incident.OpenIncidentSummaries(context.Background())
	if err != nil || len(incs) != 1 || incs[0].Severity != "sev2" {
		t.Fatalf("after the silence: incidents %+v, %v", incs, err)
	}
}

// TestEscalationFindsItsEarlierPage: the REST incident of an escalation
// already exists (an earlier attempt created it, and its answer was lost,
// or the replica that made it died before recording it). The escalation
// records that page instead of failing for ever, and makes no second one.
func TestEscalationFindsItsEarlierPage(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r := w.replica(withClock(clock))
	id := r.notify(diskGroup(disk("db-1", t0.Add(-time.Minute))))
	flush(r)
	earlier, err := w.pager.Page(context.Background(), bot.PageRequest{Service: "db", Title: "an earlier attempt",
		IncidentKey: "alertgroup-" + id + "-1"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(5 * time.Minute)
	flush(r)
	if incs := w.pd.Incidents(); len(incs) != 1 {
		t.Fatalf("PagerDuty incidents %+v, want only the earlier one", incs)
	}
	g := r.group(id)
	if g.State.PagedAt.IsZero() || g.State.PagedVia != pagedViaREST || g.State.PageURL != earlier.URL {
		t.Errorf("state %+v, want the earlier page %s recorded", g.State, earlier.URL)
	}
}

// TestEscalationResumesAfterTheSilence: a silence holds the escalation
// back, but when it ends (or is expired) with the group still firing and
// nobody having acknowledged it, the escalation clock starts again.
func TestEscalationResumesAfterTheSilence(t *testing.T) {
	for _, how := range []string{"ends", "expired"} {
		t.Run(how, func(t *testing.T) {
			w := newWorld(t)
			// The silence stand-in keeps real time.
			clock := bottest.NewClock(time.Now().UTC())
			r := w.replica(withClock(clock))
			id := r.notify(paymentsGroup("warning", clock.Now().Add(-time.Minute)))
			flush(r)
			msg := ref(w.only(w.payments))
			if _, err := r.click("U0BOB", msg, ActionSilence1h, buttonValue(id, 1)); err != nil {
				t.Fatal(err)
			}
			clock.Add(30 * time.Minute)
			flush(r)
			if n := triggers(w); n != 0 {
				t.Fatalf("paged while silenced: %d", n)
			}
			if how == "expired" {
				if _, err := r.click("U0BOB", msg, ActionExpire, buttonValue(id, 1)); err != nil {
					t.Fatal(err)
				}
			} else {
				clock.Add(31 * time.Minute)
				flush(r)
			}
			clock.Add(9 * time.Minute)
			flush(r)
			if n := triggers(w); n != 0 {
				t.Fatalf("paged %d times within escalate.after of the silence's end", n)
			}
			clock.Add(2 * time.Minute)
			flush(r)
			if n := triggers(w); n != 1 {
				t.Errorf("%d pages after the silence ended and escalate.after passed, want 1", n)
			}
		})
	}
}
