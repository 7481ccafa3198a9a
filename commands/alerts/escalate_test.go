package alerts

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
// with the group's episode as dedup key; the page resolves with the group,
// once.
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
	if len(evs) != 1 || evs[0].Action != "trigger" || evs[0].DedupKey != id+":1" || evs[0].Severity != "warning" ||
		!strings.Contains(evs[0].Summary, "CheckoutLatency: 1 alert firing, not acknowledged for 10m") || len(evs[0].Links) != 1 {
		t.Fatalf("events %+v", evs)
	}
	g := r1.group(id)
	if g.State.PagedVia != pagedViaEvents || g.State.PagedService != "checkout" || g.State.PageID != id+":1" {
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
	if g := r1.group(id); !g.State.PageResolved {
		t.Errorf("state %+v, want the resolution recorded", g.State)
	}
	clock.Add(time.Hour)
	flush(r1, r2)
	if got := resolves(w); len(got) != 1 || got[0] != id+":1" {
		t.Errorf("resolve events for %v, want one for %s:1", got, id)
	}
}

// resolves are the dedup keys of the resolve events PagerDuty accepted.
func resolves(w *world) []string {
	var out []string
	for _, ev := range w.events.Events() {
		if ev.Action == "resolve" {
			out = append(out, ev.DedupKey)
		}
	}
	return out
}

// restPaged makes a DiskFull group (route escalating to the db service,
// which has no routing key) page a REST incident: three escalation rounds
// at once across the replicas make one incident.
func restPaged(t *testing.T, w *world, clock *bottest.Clock, rs ...*replica) (string, fakepd.Incident) {
	t.Helper()
	w.pd.SetNow(clock.Now)
	id := rs[0].notify(diskGroup(disk("db-1", t0.Add(-time.Minute))))
	flush(rs...)
	clock.Add(5 * time.Minute)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); rs[i%len(rs)].svc.escalateDue(context.Background()) }()
	}
	wg.Wait()
	incs := w.pd.Incidents()
	if len(incs) != 1 || incs[0].ServiceID != "PSVCDB" || incs[0].IncidentKey != "alertgroup-"+id+"-1" ||
		!strings.Contains(incs[0].Title, "DiskFull") || incs[0].From != "opsbot@example.com" || incs[0].Status != "triggered" {
		t.Fatalf("PagerDuty incidents %+v, want one triggered on PSVCDB", incs)
	}
	if g := rs[0].group(id); g.State.PagedVia != pagedViaREST || g.State.PageID != incs[0].ID ||
		!strings.Contains(g.State.PageURL, incs[0].ID) || g.State.PageResolved {
		t.Fatalf("state %+v, want the page %s recorded, not resolved", g.State, incs[0].ID)
	}
	return id, incs[0]
}

// resolveDisk sends the resolution of restPaged's group, and lets the
// edit interval pass so that the next flush shows it.
func resolveDisk(r *replica, clock *bottest.Clock) {
	r.notify(diskGroup(disk("db-1", t0.Add(-time.Minute)).resolvedAt(clock.Now())))
	clock.Add(time.Second)
}

// pdIncident returns the fake PagerDuty's incident id.
func (w *world) pdIncident(id string) fakepd.Incident {
	w.t.Helper()
	for _, inc := range w.pd.Incidents() {
		if inc.ID == id {
			return inc
		}
	}
	w.t.Fatalf("no incident %s at PagerDuty", id)
	return fakepd.Incident{}
}

// TestEscalationThroughRESTIncident: a route's service without a routing
// key is paged with a REST incident, once however many replicas look; when
// the group resolves, that incident is resolved at PagerDuty once, as
// opsbot's PagerDuty user, and the group's state records it.
func TestEscalationThroughRESTIncident(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r1, r2 := w.replica(withClock(clock)), w.replica(withClock(clock))
	id, inc := restPaged(t, w, clock, r1, r2)

	// Still firing: the incident stays open.
	clock.Add(time.Minute)
	flush(r1, r2)
	if got := w.pdIncident(inc.ID); got.Status != "triggered" || w.pd.Requests("PUT /incidents") != 0 {
		t.Fatalf("incident %+v after %d PUT /incidents while the group fires, want it open and untouched", got, w.pd.Requests("PUT /incidents"))
	}

	resolveDisk(r2, clock)
	flush(r1, r2)
	got := w.pdIncident(inc.ID)
	if got.Status != "resolved" || got.ResolvedBy != "opsbot@example.com" || !got.ResolvedAt.Equal(clock.Now().UTC()) {
		t.Fatalf("incident %+v, want it resolved by opsbot@example.com when the group resolved", got)
	}
	if g := r1.group(id); !g.State.PageResolved || g.State.PageID != inc.ID {
		t.Errorf("state %+v, want the resolution of %s recorded", g.State, inc.ID)
	}
	// Later rounds on both replicas, past every lease, resolve nothing
	// again.
	for i := 0; i < 3; i++ {
		clock.Add(time.Hour)
		flush(r1, r2)
	}
	if n := w.pd.Requests("PUT /incidents"); n != 1 {
		t.Errorf("%d PUT /incidents, want 1", n)
	}
	if n := len(w.pd.Incidents()); n != 1 {
		t.Errorf("%d PagerDuty incidents, want 1", n)
	}
}

// TestRESTIncidentResolutionRetried: PagerDuty failing to resolve the
// incident (500s, 429s beyond the client's own retries) does not make a
// retry loop, nor is it forgotten: the resolution is retried when its lease
// ends, by either replica, and happens once.
func TestRESTIncidentResolutionRetried(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r1, r2 := w.replica(withClock(clock)), w.replica(withClock(clock))
	id, inc := restPaged(t, w, clock, r1, r2)

	// The client tries twice per round (MaxAttempts 2 in the harness).
	w.pd.FailNextOn("PUT /incidents", 1, fakepd.Fault{Status: http.StatusInternalServerError})
	w.pd.FailNextOn("PUT /incidents", 1, fakepd.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"})
	resolveDisk(r1, clock)
	flush(r1, r2)
	if got := w.pdIncident(inc.ID); got.Status != "triggered" || w.pd.Requests("PUT /incidents") != 2 {
		t.Fatalf("incident %+v after %d PUT /incidents, want it still open after the 2 failed tries", got, w.pd.Requests("PUT /incidents"))
	}
	if g := r1.group(id); g.State.PageResolved {
		t.Fatalf("state %+v records a resolution that failed", g.State)
	}
	clock.Add(30 * time.Second)
	flush(r1, r2)
	if n := w.pd.Requests("PUT /incidents"); n != 2 {
		t.Fatalf("retried within the lease: %d PUT /incidents, want still 2", n)
	}

	w.pd.FailNextOn("PUT /incidents", 2, fakepd.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"})
	clock.Add(time.Minute)
	flush(r1, r2)
	if got := w.pdIncident(inc.ID); got.Status != "triggered" || w.pd.Requests("PUT /incidents") != 4 {
		t.Fatalf("incident %+v after %d PUT /incidents, want still open after 2 more rate-limited tries", got, w.pd.Requests("PUT /incidents"))
	}

	clock.Add(2 * time.Minute)
	flush(r1, r2)
	if got := w.pdIncident(inc.ID); got.Status != "resolved" || got.ResolvedBy != "opsbot@example.com" {
		t.Fatalf("incident %+v, want it resolved once PagerDuty answers", got)
	}
	if g := r2.group(id); !g.State.PageResolved {
		t.Errorf("state %+v, want the resolution recorded", g.State)
	}
	clock.Add(time.Hour)
	flush(r1, r2)
	if n := w.pd.Requests("PUT /incidents"); n != 5 {
		t.Errorf("%d PUT /incidents, want 5 (4 failed, 1 resolved)", n)
	}
}

// TestRESTIncidentResolvedAtPagerDuty: someone resolved the incident in
// PagerDuty first; opsbot's resolution finds it so, takes that as done and
// records it, and does not try again.
func TestRESTIncidentResolvedAtPagerDuty(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r := w.replica(withClock(clock))
	id, inc := restPaged(t, w, clock, r)
	w.pd.SetIncidentStatus(inc.ID, "resolved")
	resolveDisk(r, clock)
	flush(r)
	if got := w.pdIncident(inc.ID); got.Status != "resolved" || got.ResolvedBy != "" {
		t.Errorf("incident %+v, want it as the person at PagerDuty left it", got)
	}
	if g := r.group(id); !g.State.PageResolved {
		t.Errorf("state %+v, want the resolution recorded", g.State)
	}
	clock.Add(time.Hour)
	flush(r)
	if n := w.pd.Requests("PUT /incidents"); n != 1 {
		t.Errorf("%d PUT /incidents, want 1", n)
	}
}

// TestRESTIncidentOfAnEarlierEpisodeResolved: the group resolves and fires
// again before any render shows the resolution, so its state moves on to
// the new episode at once; the earlier episode's incident is still resolved,
// and the new episode pages (and later resolves) an incident of its own.
func TestRESTIncidentOfAnEarlierEpisodeResolved(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r := w.replica(withClock(clock))
	id, first := restPaged(t, w, clock, r)
	resolveDisk(r, clock)
	clock.Add(time.Minute)
	again := clock.Now()
	r.notify(diskGroup(disk("db-1", again)))
	flush(r)
	if g := r.group(id); g.Episode != 2 || g.State.Episode != 2 || g.State.PageID != "" {
		t.Fatalf("group episode %d, state %+v, want the second episode's fresh state", g.Episode, g.State)
	}
	if got := w.pdIncident(first.ID); got.Status != "resolved" {
		t.Fatalf("first episode's incident %+v, want it resolved", got)
	}

	clock.Add(5 * time.Minute)
	flush(r)
	incs := w.pd.Incidents()
	if len(incs) != 2 || incs[1].IncidentKey != "alertgroup-"+id+"-2" || incs[1].Status != "triggered" {
		t.Fatalf("PagerDuty incidents %+v, want a second, open, for episode 2", incs)
	}
	r.notify(diskGroup(disk("db-1", again).resolvedAt(clock.Now())))
	clock.Add(time.Second)
	flush(r)
	if got := w.pdIncident(incs[1].ID); got.Status != "resolved" {
		t.Errorf("second episode's incident %+v, want it resolved", got)
	}
	if n := w.pd.Requests("PUT /incidents"); n != 2 {
		t.Errorf("%d PUT /incidents, want 2", n)
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
	if g.State.PagedAt.IsZero() || g.State.PagedVia != pagedViaREST || g.State.PageURL != earlier.URL || g.State.PageID != earlier.ID {
		t.Errorf("state %+v, want the earlier page %s recorded", g.State, earlier.ID)
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

// gatedPager holds Page calls until the test lets them go on.
type gatedPager struct {
	bot.Pager
	entered chan struct{}
	release chan struct{}
}

func (p *gatedPager) Page(ctx context.Context, req bot.PageRequest) (bot.PageResult, error) {
	p.entered <- struct{}{}
	<-p.release
	return p.Pager.Page(ctx, req)
}

// TestRESTPageRecordedAfterTheGroupResolved: the group resolves, and its
// resolution is shown, while the escalation's page is on its way to
// PagerDuty. The page recorded after that is still resolved, once.
func TestRESTPageRecordedAfterTheGroupResolved(t *testing.T) {
	w := newWorld(t)
	w.pd.SetNow(time.Now)
	clock := bottest.NewClock(t0)
	gate := &gatedPager{Pager: w.pager, entered: make(chan struct{}), release: make(chan struct{})}
	r1 := w.replica(withClock(clock), func(cfg *Config) { cfg.Pager = gate })
	r2 := w.replica(withClock(clock))
	id := r1.notify(diskGroup(disk("db-1", t0.Add(-time.Minute))))
	flush(r1, r2)
	clock.Add(5 * time.Minute)
	escalated := make(chan struct{})
	go func() { defer close(escalated); r1.svc.escalateDue(context.Background()) }()
	<-gate.entered

	resolveDisk(r2, clock)
	flush(r2)
	if g := r2.group(id); !g.State.ShownResolved || g.State.PageID != "" {
		t.Fatalf("state %+v, want the resolution shown before any page is recorded", g.State)
	}
	close(gate.release)
	<-escalated
	incs := w.pd.Incidents()
	if len(incs) != 1 {
		t.Fatalf("PagerDuty incidents %+v, want 1", incs)
	}
	flush(r1, r2)
	if got := w.pdIncident(incs[0].ID); got.Status != "resolved" {
		t.Errorf("incident %+v, want it resolved: its group resolved", got)
	}
	if g := r2.group(id); g.State.PageID != incs[0].ID || !g.State.PageResolved {
		t.Errorf("state %+v, want the page recorded and resolved", g.State)
	}
	clock.Add(time.Hour)
	flush(r1, r2)
	if n := w.pd.Requests("PUT /incidents"); n != 1 {
		t.Errorf("%d PUT /incidents, want 1", n)
	}
}

// lostPageAnswer pages at PagerDuty and, once armed, loses the answer to
// a page PagerDuty took, as a timeout would.
type lostPageAnswer struct {
	bot.Pager
	armed atomic.Bool
}

func (p *lostPageAnswer) Page(ctx context.Context, req bot.PageRequest) (bot.PageResult, error) {
	res, err := p.Pager.Page(ctx, req)
	if err == nil && p.armed.CompareAndSwap(true, false) {
		return bot.PageResult{}, fmt.Errorf("create incident: %w", context.DeadlineExceeded)
	}
	return res, err
}

// TestRESTPageOfUnknownOutcomeResolved: the escalation's REST incident was
// created but the escalation did not learn it (the answer was lost) or
// could not record it (Redis failed), and the group resolves before its
// lease ends and the escalation is tried again. The incident is still
// resolved with its group, found by its incident key.
func TestRESTPageOfUnknownOutcomeResolved(t *testing.T) {
	for _, tc := range []string{"record failed", "answer lost"} {
		t.Run(tc, func(t *testing.T) {
			w := newWorld(t)
			clock := bottest.NewClock(t0)
			w.pd.SetNow(clock.Now)
			var store *pageRecordFails
			lost := &lostPageAnswer{Pager: w.pager}
			r := w.replica(withClock(clock), func(cfg *Config) {
				store = &pageRecordFails{AlertStore: cfg.Store}
				cfg.Store, cfg.Pager = store, lost
			})
			id := r.notify(diskGroup(disk("db-1", t0.Add(-time.Minute))))
			flush(r)
			clock.Add(5 * time.Minute)
			if tc == "record failed" {
				store.armed.Store(true)
			} else {
				lost.armed.Store(true)
			}
			r.svc.escalateDue(context.Background())
			incs := w.pd.Incidents()
			if len(incs) != 1 || incs[0].Status != "triggered" {
				t.Fatalf("PagerDuty incidents %+v, want one triggered", incs)
			}
			if g := r.group(id); !g.State.PagedAt.IsZero() {
				t.Fatalf("state %+v, want no page recorded", g.State)
			}

			resolveDisk(r, clock)
			flush(r)
			if g := r.group(id); !g.State.ShownResolved {
				t.Fatalf("state %+v, want the resolution shown", g.State)
			}
			for i := 0; i < 3; i++ {
				clock.Add(10 * time.Minute)
				flush(r)
			}
			if got := w.pdIncident(incs[0].ID); got.Status != "resolved" {
				t.Errorf("incident %+v, want it resolved with its group", got)
			}
			if n := w.pd.Requests("PUT /incidents"); n != 1 {
				t.Errorf("%d PUT /incidents, want 1", n)
			}
			if n := len(w.pd.Incidents()); n != 1 {
				t.Errorf("%d PagerDuty incidents, want 1", n)
			}
		})
	}
}

// gatedResolver holds every resolution until released.
type gatedResolver struct {
	bot.PageResolver
	entered chan struct{}
	release chan struct{}
}

func (g *gatedResolver) ResolvePage(ctx context.Context, id string) error {
	g.entered <- struct{}{}
	<-g.release
	return g.PageResolver.ResolvePage(ctx, id)
}

func (g *gatedResolver) ResolvePageByKey(ctx context.Context, service, key string) error {
	g.entered <- struct{}{}
	<-g.release
	return g.PageResolver.ResolvePageByKey(ctx, service, key)
}

// TestHangingResolutionDoesNotHoldUpEscalations: while PagerDuty hangs on
// resolving one group's page (each call may take the client's whole
// timeout, 20 per pass), another group still escalates: resolutions run in
// a loop of their own. The held resolution completes once released.
func TestHangingResolutionDoesNotHoldUpEscalations(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	gate := &gatedResolver{PageResolver: w.pager, entered: make(chan struct{}, 1), release: make(chan struct{})}
	r := w.replica(withClock(clock), func(cfg *Config) { cfg.PageResolver = gate })
	id, inc := restPaged(t, w, clock, r)
	w.events.SetNow(clock.Now)

	r.run()
	var once sync.Once
	// Registered after run's cleanup, so it runs first: Run waits for the
	// held resolution.
	t.Cleanup(func() { once.Do(func() { close(gate.release) }) })
	resolveDisk(r, clock)
	// The resolution may wait out the escalation's lease first (when it was
	// queued before the page was recorded): move the clock on until it
	// reaches PagerDuty, where it is now stuck.
	for entered := false; !entered; {
		select {
		case <-gate.entered:
			entered = true
		case <-time.After(100 * time.Millisecond):
			clock.Add(time.Minute)
		}
	}

	other := r.notify(paymentsGroup("warning", clock.Now().Add(-time.Minute)))
	w.poll("the second group's message", func() bool { return r.group(other).State.Message.TS != "" })
	clock.Add(10 * time.Minute)
	w.poll("the second group's page while the first resolution hangs", func() bool {
		for _, a := range w.events.Alerts() {
			if a.DedupKey == other+":1" && a.Status == "triggered" {
				return true
			}
		}
		return false
	})
	if got := w.pdIncident(inc.ID); got.Status != "triggered" {
		t.Fatalf("incident %+v resolved while its resolution was held", got)
	}

	once.Do(func() { close(gate.release) })
	w.poll("the held resolution", func() bool { return w.pdIncident(inc.ID).Status == "resolved" && r.group(id).State.PageResolved })
}
