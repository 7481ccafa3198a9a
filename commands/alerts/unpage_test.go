package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/pagerduty"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

// eventsPaged makes a CheckoutLatency group (route escalating to the
// checkout service, which has a routing key) page through the Events API:
// three escalation rounds at once across the replicas send one trigger,
// keyed by the group's first episode.
func eventsPaged(t *testing.T, w *world, clock *bottest.Clock, rs ...*replica) string {
	t.Helper()
	w.events.SetNow(clock.Now)
	id := rs[0].notify(paymentsGroup("warning", t0.Add(-time.Minute)))
	flush(rs...)
	clock.Add(10 * time.Minute)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); rs[i%len(rs)].svc.escalateDue(context.Background()) }()
	}
	wg.Wait()
	as := w.events.Alerts()
	if len(as) != 1 || as[0].DedupKey != id+":1" || as[0].Service != "checkout" || as[0].Status != "triggered" || triggers(w) != 1 {
		t.Fatalf("PagerDuty alerts %+v after %d triggers, want one triggered, keyed %s:1", as, triggers(w), id)
	}
	if g := rs[0].group(id); g.State.PagedVia != pagedViaEvents || g.State.PageID != id+":1" || g.State.PageResolved {
		t.Fatalf("state %+v, want the page %s:1 recorded, not resolved", g.State, id)
	}
	return id
}

// resolvePayments sends the resolution of eventsPaged's group, and lets the
// edit interval pass so that the next flush shows it.
func resolvePayments(r *replica, clock *bottest.Clock) {
	r.notify(paymentsGroup("warning", t0.Add(-time.Minute), clock.Now()))
	clock.Add(time.Second)
}

// eventAlert returns the fake Events API's alert with dedup key key.
func (w *world) eventAlert(key string) fakepd.EventAlert {
	w.t.Helper()
	var found []fakepd.EventAlert
	for _, a := range w.events.Alerts() {
		if a.DedupKey == key {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		w.t.Fatalf("%d Events API alerts keyed %s, want 1: %+v", len(found), key, w.events.Alerts())
	}
	return found[0]
}

// shortEvents is an Events API client whose attempts give up after 100ms,
// so that a test can make PagerDuty time out.
func shortEvents(w *world) option {
	ev, err := pagerduty.NewEvents(pagerduty.EventsConfig{URL: w.events.URL, Logger: zaptest.NewLogger(w.t),
		Timeout: 100 * time.Millisecond, MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	if err != nil {
		w.t.Fatal(err)
	}
	return func(cfg *Config) { cfg.EventPager = ev }
}

// TestEventsPageResolutionRetried: the Events API failing to take the
// resolve event (500s, 429s beyond the client's own retries, timeouts) does
// not make a retry loop, nor is it forgotten, though no render comes again:
// the resolution is retried when its lease ends, by either replica, until
// PagerDuty takes it, once.
func TestEventsPageResolutionRetried(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r1, r2 := w.replica(withClock(clock), shortEvents(w)), w.replica(withClock(clock), shortEvents(w))
	id := eventsPaged(t, w, clock, r1, r2)
	key := id + ":1"
	sent := w.events.Requests()
	// stillOpen checks a round: n more requests, all failed.
	stillOpen := func(round string, n int) {
		t.Helper()
		if got := w.eventAlert(key); got.Status != "triggered" || w.events.Requests() != sent+n {
			t.Fatalf("%s: alert %+v after %d requests, want it still triggered after %d", round, got, w.events.Requests()-sent, n)
		}
		if g := r1.group(id); g.State.PageResolved {
			t.Fatalf("%s: state %+v records a resolution that failed", round, g.State)
		}
		sent += n
	}

	// The client tries twice per round (MaxAttempts 2).
	w.events.FailNext(1, fakepd.Fault{Status: http.StatusInternalServerError})
	w.events.FailNext(1, fakepd.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"})
	resolvePayments(r1, clock)
	flush(r1, r2)
	if g := r2.group(id); !g.State.ShownResolved {
		t.Fatalf("state %+v, want the resolution shown", g.State)
	}
	stillOpen("5xx and 429", 2)
	clock.Add(30 * time.Second)
	flush(r1, r2)
	stillOpen("within the lease", 0)

	w.events.FailNext(2, fakepd.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"})
	clock.Add(time.Minute)
	flush(r1, r2)
	stillOpen("429s after the lease", 2)

	w.events.SetLatency(time.Minute)
	clock.Add(2 * time.Minute)
	flush(r1, r2)
	w.events.SetLatency(0)
	stillOpen("timeouts", 2)

	clock.Add(2 * time.Minute)
	flush(r1, r2)
	if got := w.eventAlert(key); got.Status != "resolved" || !got.ResolvedAt.Equal(clock.Now().UTC()) {
		t.Fatalf("alert %+v, want it resolved once PagerDuty answers", got)
	}
	if g := r2.group(id); !g.State.PageResolved {
		t.Errorf("state %+v, want the resolution recorded", g.State)
	}
	for i := 0; i < 3; i++ {
		clock.Add(time.Hour)
		flush(r1, r2)
	}
	if got := resolves(w); !slices.Equal(got, []string{key}) {
		t.Errorf("resolve events for %v, want one for %s", got, key)
	}
	if n := w.events.Requests(); n != sent+1 {
		t.Errorf("%d requests after the one that resolved, want none", n-sent-1)
	}
}

// TestEventsPageOfAnEarlierEpisodeResolved: the group resolves and fires
// again before any render shows the resolution, so its state moves on to
// the new episode at once. The earlier episode's alert is still resolved —
// here only after the new episode paged, its first try having failed — and
// that resolution leaves the new episode's page, an alert of its own,
// triggered until that episode resolves.
func TestEventsPageOfAnEarlierEpisodeResolved(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r1, r2 := w.replica(withClock(clock)), w.replica(withClock(clock))
	id := eventsPaged(t, w, clock, r1, r2)
	r1.notify(paymentsGroup("warning", t0.Add(-time.Minute), clock.Now()))
	clock.Add(time.Minute)
	again := clock.Now()
	r2.notify(paymentsGroup("warning", again))
	w.events.FailNext(2, fakepd.Fault{Status: http.StatusBadGateway})
	flush(r1, r2)
	if g := r1.group(id); g.Episode != 2 || g.State.Episode != 2 || !g.State.PagedAt.IsZero() {
		t.Fatalf("group episode %d, state %+v, want the second episode's fresh state", g.Episode, g.State)
	}
	if got := w.eventAlert(id + ":1"); got.Status != "triggered" {
		t.Fatalf("first episode's alert %+v, want it open while PagerDuty fails", got)
	}

	// The new episode escalates, and the earlier one's resolution is
	// retried after it.
	clock.Add(10 * time.Minute)
	flush(r1, r2)
	if got := w.eventAlert(id + ":1"); got.Status != "resolved" {
		t.Errorf("first episode's alert %+v, want it resolved", got)
	}
	second := w.eventAlert(id + ":2")
	if second.Status != "triggered" || second.Triggers != 1 {
		t.Fatalf("second episode's alert %+v, want a new one, triggered", second)
	}
	if g := r2.group(id); g.State.PageID != id+":2" || g.State.PageResolved {
		t.Errorf("state %+v, want the second episode's page recorded, open", g.State)
	}
	clock.Add(time.Hour)
	flush(r1, r2)
	if got := w.eventAlert(id + ":2"); got.Status != "triggered" {
		t.Fatalf("second episode's alert %+v while its group fires, want it triggered", got)
	}

	r2.notify(paymentsGroup("warning", again, clock.Now()))
	clock.Add(time.Second)
	flush(r1, r2)
	if got := w.eventAlert(id + ":2"); got.Status != "resolved" {
		t.Errorf("second episode's alert %+v, want it resolved with its group", got)
	}
	clock.Add(time.Hour)
	flush(r1, r2)
	if got := resolves(w); !slices.Equal(got, []string{id + ":1", id + ":2"}) {
		t.Errorf("resolve events for %v, want one per episode", got)
	}
	if n := triggers(w); n != 2 {
		t.Errorf("%d triggers, want 2", n)
	}
}

// legacyPage makes the group's episode look paged by an earlier version,
// which keyed every episode's alert by the bare group ID (and, before that,
// kept no page ID in the state): the trigger at PagerDuty, the state.
func legacyPage(t *testing.T, w *world, r *replica, id string, episode int, pageID string) {
	t.Helper()
	if _, err := w.eventPg.Enqueue(context.Background(), bot.PagerEvent{RoutingKey: routingKey, Action: bot.PagerTrigger,
		DedupKey: id, Summary: "an earlier version's page", Source: "opsbot", Severity: "warning"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.UpdateState(context.Background(), id, true, func(x *bot.AlertGroupState) error {
		if x.Episode != episode {
			t.Fatalf("state of episode %d, want %d", x.Episode, episode)
		}
		x.PagedAt, x.PagedVia, x.PagedService, x.PageID = t0, pagedViaEvents, "checkout", pageID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestEventsLegacyPageResolved: a page in flight from before dedup keys
// named the episode is resolved under the key it was triggered with, the
// group ID, whether its state kept that key or no page ID at all.
func TestEventsLegacyPageResolved(t *testing.T) {
	for _, kept := range []string{"group ID", "none"} {
		t.Run(kept, func(t *testing.T) {
			w := newWorld(t)
			clock := bottest.NewClock(t0)
			w.events.SetNow(clock.Now)
			r := w.replica(withClock(clock))
			id := r.notify(paymentsGroup("warning", t0.Add(-time.Minute)))
			flush(r)
			pageID := id
			if kept == "none" {
				pageID = ""
			}
			legacyPage(t, w, r, id, 1, pageID)
			clock.Add(time.Hour)
			flush(r)
			if n := triggers(w); n != 1 {
				t.Fatalf("%d triggers, want only the earlier version's", n)
			}
			resolvePayments(r, clock)
			flush(r)
			if got := w.eventAlert(id); got.Status != "resolved" {
				t.Errorf("alert %+v, want it resolved", got)
			}
			if g := r.group(id); !g.State.PageResolved {
				t.Errorf("state %+v, want the resolution recorded", g.State)
			}
			clock.Add(time.Hour)
			flush(r)
			if got := resolves(w); !slices.Equal(got, []string{id}) {
				t.Errorf("resolve events for %v, want one for %s", got, id)
			}
		})
	}
}

// TestEventsLegacyKeyReusedByALaterEpisode: an earlier version's page is
// queued for resolution when the group resolves and fires again, and before
// it is sent a replica still running that version pages the new episode
// under the same key, which PagerDuty folds into the same alert. Resolving
// it would end the new episode's page: the resolution is skipped, and the
// new episode's own resolution ends the alert.
func TestEventsLegacyKeyReusedByALaterEpisode(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	w.events.SetNow(clock.Now)
	r := w.replica(withClock(clock))
	id := r.notify(paymentsGroup("warning", t0.Add(-time.Minute)))
	flush(r)
	legacyPage(t, w, r, id, 1, id)
	r.notify(paymentsGroup("warning", t0.Add(-time.Minute), clock.Now()))
	clock.Add(time.Minute)
	again := clock.Now()
	r.notify(paymentsGroup("warning", again))
	r.svc.renderDue(context.Background()) // queues the first episode's page, no escalation round yet
	if g := r.group(id); g.State.Episode != 2 {
		t.Fatalf("state %+v, want the second episode's", g.State)
	}
	legacyPage(t, w, r, id, 2, id)
	flush(r)
	clock.Add(time.Hour)
	flush(r)
	if got := w.eventAlert(id); got.Status != "triggered" || got.Triggers != 2 {
		t.Fatalf("alert %+v, want the one alert both episodes paged, triggered", got)
	}
	if got := resolves(w); len(got) != 0 {
		t.Fatalf("resolve events for %v while the second episode fires, want none", got)
	}

	r.notify(paymentsGroup("warning", again, clock.Now()))
	clock.Add(time.Second)
	flush(r)
	if got := w.eventAlert(id); got.Status != "resolved" {
		t.Errorf("alert %+v, want it resolved with the second episode", got)
	}
	if got := resolves(w); !slices.Equal(got, []string{id}) {
		t.Errorf("resolve events for %v, want one for %s", got, id)
	}
}

// gatedEvents holds triggers until the test lets them go on.
type gatedEvents struct {
	bot.EventPager
	entered chan struct{}
	release chan struct{}
}

func (p *gatedEvents) Enqueue(ctx context.Context, ev bot.PagerEvent) (string, error) {
	if ev.Action == bot.PagerTrigger {
		p.entered <- struct{}{}
		<-p.release
	}
	return p.EventPager.Enqueue(ctx, ev)
}

// TestEventsPageRecordedAfterTheGroupResolved: the group resolves, and its
// resolution is shown, while the escalation's trigger is on its way to
// PagerDuty. The page recorded after that is still resolved, once.
func TestEventsPageRecordedAfterTheGroupResolved(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	gate := &gatedEvents{EventPager: w.eventPg, entered: make(chan struct{}), release: make(chan struct{})}
	r1 := w.replica(withClock(clock), func(cfg *Config) { cfg.EventPager = gate })
	r2 := w.replica(withClock(clock))
	id := r1.notify(paymentsGroup("warning", t0.Add(-time.Minute)))
	flush(r1, r2)
	clock.Add(10 * time.Minute)
	escalated := make(chan struct{})
	go func() { defer close(escalated); r1.svc.escalateDue(context.Background()) }()
	<-gate.entered

	resolvePayments(r2, clock)
	flush(r2)
	if g := r2.group(id); !g.State.ShownResolved || !g.State.PagedAt.IsZero() {
		t.Fatalf("state %+v, want the resolution shown before any page is recorded", g.State)
	}
	close(gate.release)
	<-escalated
	flush(r1, r2)
	if got := w.eventAlert(id + ":1"); got.Status != "resolved" {
		t.Errorf("alert %+v, want it resolved: its group resolved", got)
	}
	if g := r2.group(id); g.State.PageID != id+":1" || !g.State.PageResolved {
		t.Errorf("state %+v, want the page recorded and resolved", g.State)
	}
	clock.Add(time.Hour)
	flush(r1, r2)
	if got := resolves(w); !slices.Equal(got, []string{id + ":1"}) {
		t.Errorf("resolve events for %v, want one", got)
	}
}

// TestEventsPageResolvedByAReplicaWithItsKey: a replica without the routing
// key of the page's service (a configuration being rolled out) cannot
// resolve it; it leaves it, and a replica that has the key resolves it when
// the lease ends.
func TestEventsPageResolvedByAReplicaWithItsKey(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	keyless := w.replica(withClock(clock), func(cfg *Config) { cfg.RoutingKeys = map[string]string{} })
	keyed := w.replica(withClock(clock))
	id := eventsPaged(t, w, clock, keyed)
	sent := w.events.Requests()
	resolvePayments(keyless, clock)
	flush(keyless)
	if got := w.eventAlert(id + ":1"); got.Status != "triggered" || w.events.Requests() != sent {
		t.Fatalf("alert %+v after %d requests, want it untouched by the replica without the key", got, w.events.Requests()-sent)
	}
	flush(keyed)
	if got := w.eventAlert(id + ":1"); got.Status != "triggered" {
		t.Fatalf("alert %+v resolved within the lease of the replica without the key", got)
	}
	clock.Add(2 * time.Minute)
	flush(keyed)
	if got := w.eventAlert(id + ":1"); got.Status != "resolved" {
		t.Errorf("alert %+v, want it resolved by the replica with the key", got)
	}
	if g := keyed.group(id); !g.State.PageResolved {
		t.Errorf("state %+v, want the resolution recorded", g.State)
	}
}

// TestEventsResolutionRefused: the Events API refusing the resolve event
// itself (the service's integration was deleted at PagerDuty) is final:
// it is logged for a person and not sent again every lease.
func TestEventsResolutionRefused(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	r := w.replica(withClock(clock))
	id := eventsPaged(t, w, clock, r)
	w.events.RemoveRoutingKey(routingKey)
	sent := w.events.Requests()
	resolvePayments(r, clock)
	flush(r)
	if n := w.events.Requests(); n != sent+1 {
		t.Fatalf("%d requests, want the one refused", n-sent)
	}
	for i := 0; i < 3; i++ {
		clock.Add(time.Hour)
		flush(r)
	}
	if n := w.events.Requests(); n != sent+1 {
		t.Errorf("%d requests, want no retry of a refused event", n-sent)
	}
	if got := w.eventAlert(id + ":1"); got.Status != "triggered" {
		t.Errorf("alert %+v, want it as it was", got)
	}
	if g := r.group(id); g.State.PageResolved {
		t.Errorf("state %+v records a resolution PagerDuty refused", g.State)
	}
}

// TestUnpageTimerIDs: a page's timer ID reads back as the same page, REST
// timers queued before Events API pages were queued included; anything
// else is refused.
func TestUnpageTimerIDs(t *testing.T) {
	g := "f585ca365d8f46d476ba21dd3e98971d"
	for _, p := range []page{
		{group: g, via: pagedViaREST, id: "PINC123"},
		{group: g, via: pagedViaEvents, id: g + ":3", service: "checkout", episode: 3},
		{group: g, via: pagedViaEvents, id: g, service: "db-primary_2", episode: 1},
		{group: g, via: pagedViaREST, id: "alertgroup-" + g + "-2", service: "db", episode: 2, unsent: true},
	} {
		got, ok := parsePage(p.timer())
		if !ok || got != p {
			t.Errorf("%+v: timer %q reads %+v, %v", p, p.timer(), got, ok)
		}
	}
	if got, ok := parsePage(g + "/PINC123"); !ok || got.via != pagedViaREST || got.id != "PINC123" {
		t.Errorf("REST timer: %+v, %v", got, ok)
	}
	for _, bad := range []string{"", g, g + "/", "/PINC123", g + "/a/b", g + "/events/checkout/0/" + g,
		g + "/events/checkout/x/" + g, g + "/events//1/" + g, g + "/events/checkout/1/", g + "/events/checkout/1/a/b",
		g + "/restkey/db/0", g + "/restkey//1", g + "/restkey/db/x", g + "/restkey/db"} {
		if p, ok := parsePage(bad); ok {
			t.Errorf("%q read as %+v", bad, p)
		}
	}
}

// TestRESTIncidentLeftByAReplicaWithoutResolver: a replica that resolves
// Events API alerts but has no PageResolver claims queued pages of both
// kinds; a REST incident it leaves, and a replica with a PageResolver
// resolves it when the lease ends.
func TestRESTIncidentLeftByAReplicaWithoutResolver(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(t0)
	full := w.replica(withClock(clock))
	core, logs := observer.New(zapcore.InfoLevel)
	eventsOnly := w.replica(withClock(clock), func(cfg *Config) {
		cfg.PageResolver, cfg.Logger = nil, zap.New(zapcore.NewTee(cfg.Logger.Core(), core))
	})
	id, inc := restPaged(t, w, clock, full)
	resolveDisk(full, clock)
	full.svc.renderDue(context.Background()) // queues the incident
	flush(eventsOnly)
	if got := w.pdIncident(inc.ID); got.Status != "triggered" || w.pd.Requests("PUT /incidents") != 0 {
		t.Fatalf("incident %+v after %d PUT /incidents, want it untouched by the replica without a resolver", got, w.pd.Requests("PUT /incidents"))
	}
	if n := logs.FilterMessage("page not resolved: this replica has no PagerDuty REST client; retried").
		FilterField(zap.String("pd_incident", inc.ID)).Len(); n != 1 || logs.FilterMessage("page resolution panicked").Len() != 0 {
		t.Fatalf("the replica without a resolver logged %d times that it left the incident, want 1; all: %v", n, logs.All())
	}
	flush(full)
	if got := w.pdIncident(inc.ID); got.Status != "triggered" {
		t.Fatalf("incident %+v resolved within the other replica's lease", got)
	}
	clock.Add(2 * time.Minute)
	flush(full)
	if got := w.pdIncident(inc.ID); got.Status != "resolved" {
		t.Errorf("incident %+v, want it resolved by the replica with a resolver", got)
	}
	if g := full.group(id); !g.State.PageResolved {
		t.Errorf("state %+v, want the resolution recorded", g.State)
	}
}

// pageRecordFails fails, once armed, the state update that records a page
// (the one that sets PagedAt), as a Redis error would: nothing is written.
type pageRecordFails struct {
	bot.AlertStore
	armed atomic.Bool
}

func (s *pageRecordFails) UpdateState(ctx context.Context, id string, touch bool, fn func(*bot.AlertGroupState) error) (bot.AlertGroupState, error) {
	return s.AlertStore.UpdateState(ctx, id, touch, func(x *bot.AlertGroupState) error {
		before := x.PagedAt
		if err := fn(x); err != nil {
			return err
		}
		if before.IsZero() && !x.PagedAt.IsZero() && s.armed.CompareAndSwap(true, false) {
			return errors.New("connection reset by peer")
		}
		return nil
	})
}

// answerLost forwards events to PagerDuty and, once armed, loses the
// answer to a trigger that PagerDuty took, as a timeout would.
type answerLost struct {
	bot.EventPager
	armed atomic.Bool
}

func (p *answerLost) Enqueue(ctx context.Context, ev bot.PagerEvent) (string, error) {
	id, err := p.EventPager.Enqueue(ctx, ev)
	if err == nil && ev.Action == bot.PagerTrigger && p.armed.CompareAndSwap(true, false) {
		return "", fmt.Errorf("send event: %w", context.DeadlineExceeded)
	}
	return id, err
}

// TestEventsPageOfUnknownOutcomeResolved: the escalation's trigger reached
// PagerDuty but the escalation did not learn it (the answer was lost) or
// could not record it (Redis failed), and the group resolves before its
// lease ends and the escalation is tried again. The escalation then finds
// nothing to page, but the alert at PagerDuty is still resolved with its
// group, once.
func TestEventsPageOfUnknownOutcomeResolved(t *testing.T) {
	for _, tc := range []string{"record failed", "answer lost"} {
		t.Run(tc, func(t *testing.T) {
			w := newWorld(t)
			clock := bottest.NewClock(t0)
			w.events.SetNow(clock.Now)
			var store *pageRecordFails
			lost := &answerLost{EventPager: w.eventPg}
			r := w.replica(withClock(clock), func(cfg *Config) {
				store = &pageRecordFails{AlertStore: cfg.Store}
				cfg.Store, cfg.EventPager = store, lost
			})
			id := r.notify(paymentsGroup("warning", t0.Add(-time.Minute)))
			flush(r)
			clock.Add(10 * time.Minute)
			if tc == "record failed" {
				store.armed.Store(true)
			} else {
				lost.armed.Store(true)
			}
			r.svc.escalateDue(context.Background())
			if got := w.eventAlert(id + ":1"); got.Status != "triggered" {
				t.Fatalf("alert %+v, want it triggered", got)
			}
			if g := r.group(id); !g.State.PagedAt.IsZero() {
				t.Fatalf("state %+v, want no page recorded", g.State)
			}

			resolvePayments(r, clock)
			flush(r)
			if g := r.group(id); !g.State.ShownResolved {
				t.Fatalf("state %+v, want the resolution shown", g.State)
			}
			for i := 0; i < 3; i++ {
				clock.Add(10 * time.Minute)
				flush(r)
			}
			if got := w.eventAlert(id + ":1"); got.Status != "resolved" {
				t.Errorf("alert %+v, want it resolved with its group", got)
			}
			if got := resolves(w); !slices.Equal(got, []string{id + ":1"}) {
				t.Errorf("resolve events for %v, want one for %s:1", got, id)
			}
		})
	}
}
