package oncall_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/oncall"
)

// TestOneScheduleAtShiftBoundaries asks `/oncall berlin` at fixed moments
// around shift changes, an override and both DST changes.
func TestOneScheduleAtShiftBoundaries(t *testing.T) {
	tests := []struct {
		name string
		at   string
		want []string
	}{
		{name: "last second before the spring-DST handoff", at: "2026-03-29T06:59:59Z", want: []string{
			"L1 <@UBEN> until 2026-03-29 09:00 CEST (in 1s)",
			"next L1 <@UCLEO> from 2026-03-29 09:00 CEST (in 1s) until 2026-03-30 09:00 CEST",
			"L2 <@ULEAD> until at least 2026-04-06 09:00 CEST",
		}},
		{name: "09:00 CEST is 07:00 UTC", at: "2026-03-29T07:00:00Z", want: []string{
			"L1 <@UCLEO> until 2026-03-30 09:00 CEST (in 24h)",
			// The next turn is cut short by Dora's override.
			"next L1 <@UANNA> from 2026-03-30 09:00 CEST (in 24h) until 2026-03-30 12:00 CEST",
		}},
		{name: "override in force, person not in Slack", at: "2026-03-30T10:30:00Z", want: []string{
			"L1 Dora (dora@example.com, not found in Slack) until 2026-03-30 18:00 CEST (in 5h 30m)",
			"next L1 <@UANNA> from 2026-03-30 18:00 CEST (in 5h 30m) until 2026-03-31 09:00 CEST",
		}},
		{name: "autumn DST: a 25-hour turn", at: "2026-10-25T07:59:59Z", want: []string{
			"L1 <@UBEN> until 2026-10-25 09:00 CET (in 1s)",
			"next L1 <@UCLEO> from 2026-10-25 09:00 CET (in 1s) until 2026-10-26 09:00 CET",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.clock.Set(utc(tc.at))
			resp, err := f.command(t, "UX", "berlin")
			if err != nil {
				t.Fatalf("/oncall berlin: %v", err)
			}
			got := text(resp)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("got:\n%s\nwant it to contain %q", got, w)
				}
			}
			if strings.Contains(got, "not answering") {
				t.Errorf("got a staleness warning in a live answer:\n%s", got)
			}
		})
	}
}

func TestAllSchedules(t *testing.T) {
	f := newFixture(t, func(c *oncall.Config) {
		c.Settings.Schedules = append(c.Settings.Schedules, bot.ScheduleConfig{ID: "ops", Name: "ops", Levels: []int{1}})
	})
	f.clock.Set(utc("2026-03-31T12:00:00Z"))
	resp, err := f.command(t, "UX", "")
	if err != nil {
		t.Fatalf("/oncall: %v", err)
	}
	// ops follows level 1 only, so its level-2 Lead is not shown.
	want := "On call now\n*berlin*\n• L1 <@UBEN> until 2026-04-01 09:00 CEST (in 19h)\n• L2 <@ULEAD> until at least 2026-04-13 09:00 CEST (in 12d 19h)\n\n" +
		"*ops*\n• L1 <@UCLEO> until 2026-04-01 02:00 CEST (in 12h)\n"
	if diff := cmp.Diff(want, text(resp)); diff != "" {
		t.Errorf("/oncall (-want +got):\n%s", diff)
	}
	if resp.Visibility != bot.Ephemeral {
		t.Errorf("got visibility %v, want ephemeral", resp.Visibility)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		user string
		text string
		want string
	}{
		{name: "unknown schedule", text: "payroll", want: "I do not follow a schedule called `payroll`. Schedules: `berlin`."},
		{name: "extra words", text: "berlin now", want: "Usage: `/oncall`, `/oncall SCHEDULE`, `/oncall me`"},
		{name: "sync by a non-admin", user: "UX", text: "sync", want: "Only opsbot admins can force an on-call sync"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			_, err := f.command(t, tc.user, tc.text)
			var ue *bot.UserError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tc.want) {
				t.Fatalf("got %v, want a user error containing %q", err, tc.want)
			}
			if n := len(f.chat.ChannelPosts()); n != 0 {
				t.Errorf("got %d posts, want none", n)
			}
			if _, ok, _ := f.store.Snapshot(context.Background(), "berlin"); ok {
				t.Errorf("bad input stored a snapshot, want nothing changed")
			}
		})
	}
}

// flaky wraps a provider and fails while failing is set.
type flaky struct {
	bot.OnCallProvider
	mu      sync.Mutex
	failing bool
	calls   int
}

func (p *flaky) Shifts(ctx context.Context, id string, from, to time.Time) ([]bot.Shift, error) {
	p.mu.Lock()
	p.calls++
	failing := p.failing
	p.mu.Unlock()
	if failing {
		return nil, errors.New("pagerduty: list on-calls: pagerduty unavailable (HTTP 500)")
	}
	return p.OnCallProvider.Shifts(ctx, id, from, to)
}

func (p *flaky) fail(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing = v
}

func TestProviderDownAnswersFromCacheWithAge(t *testing.T) {
	prov := &flaky{OnCallProvider: fileProvider(t)}
	f := newFixture(t, func(c *oncall.Config) { c.Provider = prov; c.ProviderName = "PagerDuty" })
	f.clock.Set(utc("2026-03-29T06:50:00Z"))
	if err := f.svc.SyncNow(context.Background()); err != nil {
		t.Fatalf("SyncNow: %v", err)
	}
	prov.fail(true)
	// 17 minutes later, across the 09:00 CEST handoff: the cached snapshot
	// holds the coming shifts, so the answer is still right.
	f.clock.Set(utc("2026-03-29T07:07:00Z"))
	resp, err := f.command(t, "UX", "berlin")
	if err != nil {
		t.Fatalf("/oncall berlin: %v", err)
	}
	got := text(resp)
	for _, want := range []string{
		"L1 <@UCLEO> until 2026-03-30 09:00 CEST",
		":warning: PagerDuty is not answering; showing the last good sync: berlin as of 2026-03-29 08:50 CEST (17m ago).",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("got:\n%s\nwant it to contain %q", got, want)
		}
	}
	// Within the sync interval of that failure, the next question is
	// answered from the cache without waiting for the provider again.
	calls := prov.calls
	f.clock.Set(utc("2026-03-29T07:07:30Z"))
	resp, err = f.command(t, "UX", "")
	if err != nil || !strings.Contains(resp.Message.Context, "(17m ago)") {
		t.Errorf("/oncall = %q, %v; want the cached answer with its age", resp.Message.Context, err)
	}
	if prov.calls != calls {
		t.Errorf("got %d more provider reads, want none while it is known to be down", prov.calls-calls)
	}
	if err := f.svc.SyncNow(context.Background()); err == nil {
		t.Errorf("SyncNow with the provider down: got nil error, want one")
	}
	if prov.calls != calls+1 {
		t.Errorf("SyncNow made %d provider reads, want 1: the sync always probes", prov.calls-calls)
	}
	resp, _ = f.command(t, "UADMIN", "sync")
	if !strings.Contains(resp.Message.Text, "The sync did not complete: PagerDuty did not answer") || strings.Contains(resp.Message.Text, "HTTP 500") {
		t.Errorf("got %q, want a short failure without internal details", resp.Message.Text)
	}
}

func TestProviderDownNothingCached(t *testing.T) {
	prov := &flaky{OnCallProvider: fileProvider(t), failing: true}
	f := newFixture(t, func(c *oncall.Config) { c.Provider = prov; c.ProviderName = "PagerDuty" })
	resp, err := f.command(t, "UX", "")
	if err != nil {
		t.Fatalf("/oncall: %v", err)
	}
	if want := "unknown: PagerDuty did not answer and nothing is cached yet"; !strings.Contains(resp.Message.Text, want) {
		t.Errorf("got %q, want it to contain %q", resp.Message.Text, want)
	}
	if _, err := f.svc.CurrentOnCall(context.Background()); err == nil {
		t.Errorf("CurrentOnCall: got nil error, want one when nothing is known")
	}
}

func TestUnmappedPeopleAreReported(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	f := newFixture(t, func(c *oncall.Config) { c.Logger = zap.New(core) })
	f.clock.Set(utc("2026-03-30T11:00:00Z")) // Dora's override
	for i := 0; i < 3; i++ {
		if err := f.svc.SyncNow(context.Background()); err != nil {
			t.Fatalf("SyncNow: %v", err)
		}
	}
	want := []bot.Person{{Name: "Dora", Email: "dora@example.com", ProviderID: "dora@example.com"}}
	if diff := cmp.Diff(want, f.svc.Unmapped()); diff != "" {
		t.Errorf("Unmapped (-want +got):\n%s", diff)
	}
	entries := logs.FilterMessage("on-call person not mapped to Slack").All()
	if len(entries) != 1 || entries[0].ContextMap()["email"] != "dora@example.com" {
		t.Errorf("got %d log entries %v, want one naming dora@example.com", len(entries), entries)
	}
	// Dora is not in Slack, so she cannot be invited to incidents; the
	// resolver leaves her out rather than failing.
	ids, err := f.svc.CurrentOnCall(context.Background())
	if err != nil || len(ids) != 0 {
		t.Errorf("CurrentOnCall = %v, %v; want none and no error", ids, err)
	}
	lookups := len(f.chat.CallsMatching("UserByEmail"))
	if lookups != 2 { // Dora and Lead, each once: the cache answers after that
		t.Errorf("got %d users.lookupByEmail calls, want 2", lookups)
	}
}

func TestCurrentOnCall(t *testing.T) {
	f := newFixture(t, func(c *oncall.Config) {
		c.Settings.Schedules = append(c.Settings.Schedules, bot.ScheduleConfig{ID: "ops", Name: "ops"})
	})
	f.clock.Set(utc("2026-03-31T12:00:00Z"))
	got, err := f.svc.CurrentOnCall(context.Background())
	if err != nil {
		t.Fatalf("CurrentOnCall: %v", err)
	}
	// Level 1 of both schedules; Lead (level 2) is not invited.
	if diff := cmp.Diff([]string{"UBEN", "UCLEO"}, got); diff != "" {
		t.Errorf("CurrentOnCall (-want +got):\n%s", diff)
	}
}

type openIncidents []bot.IncidentSummary

func (o openIncidents) OpenIncidentSummaries(context.Context) ([]bot.IncidentSummary, error) {
	return o, nil
}

// TestHandoffLifecycle follows one shift change: exactly one handoff with
// the open incidents, the user group set once, a refused and an accepted
// acknowledgement, and the reminder only while unacknowledged.
func TestHandoffLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(c *oncall.Config) {
		c.Incidents = openIncidents{{Key: "INC-7", Title: "checkout errors", Severity: "sev2", Status: "investigating", Commander: "UCMD", Channel: "CINC7"}}
	})
	f.clock.Set(utc("2026-03-29T06:59:00Z"))
	if err := f.svc.SyncNow(ctx); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if n := len(f.chat.ChannelPosts()); n != 0 {
		t.Fatalf("first sync posted %d messages, want none (no previous state)", n)
	}
	for _, at := range []string{"2026-03-29T07:00:10Z", "2026-03-29T07:01:10Z", "2026-03-29T07:02:10Z"} {
		f.clock.Set(utc(at))
		if err := f.svc.SyncNow(ctx); err != nil {
			t.Fatalf("sync at %s: %v", at, err)
		}
	}
	posts := f.chat.ChannelPosts()
	if len(posts) != 1 {
		t.Fatalf("got %d posts, want exactly one handoff", len(posts))
	}
	h := posts[0]
	wantFields := []bot.Field{
		{Label: "Outgoing", Value: "<@UBEN>"},
		{Label: "Incoming", Value: "<@UCLEO>"},
		{Label: "Until", Value: "2026-03-30 09:00 CEST (in 23h 59m)"},
		{Label: "Level 2", Value: "<@ULEAD> until at least 2026-04-06 09:00 CEST (in 7d 23h)"},
	}
	var gotFields []bot.Field
	for _, fl := range h.Fields {
		if !strings.Contains(fl.Value, "<!date^") && strings.Contains(fl.Value, "CEST") {
			t.Errorf("field %q shows a time without Slack date markup", fl.Value)
		}
		gotFields = append(gotFields, bot.Field{Label: fl.Label, Value: bot.DateFallbacks(fl.Value)})
	}
	if diff := cmp.Diff(wantFields, gotFields); diff != "" {
		t.Errorf("handoff fields (-want +got):\n%s", diff)
	}
	for _, want := range []string{"<@UBEN> hands over to <@UCLEO> for *berlin*.", "INC-7 checkout errors (sev2, investigating) in <#CINC7> — commander <@UCMD>"} {
		if !strings.Contains(h.Text, want) {
			t.Errorf("handoff text %q, want it to contain %q", h.Text, want)
		}
	}
	if h.Channel != "CHANDOFF" || len(h.Buttons) != 1 || h.Buttons[0].ID != oncall.AckAction {
		t.Fatalf("got channel %q buttons %+v, want CHANDOFF with one %s button", h.Channel, h.Buttons, oncall.AckAction)
	}
	// The incoming person's read-in, once, with the same context.
	dms := f.chat.DMs()
	if len(dms) != 1 || dms[0].Channel != "UCLEO" ||
		!strings.Contains(bot.DateFallbacks(dms[0].Text), "You are now on call for *berlin* until 2026-03-30 09:00 CEST") ||
		!strings.Contains(dms[0].Text, "INC-7 checkout errors (sev2, investigating) in <#CINC7> — commander <@UCMD>") {
		t.Errorf("read-ins %+v, want one DM to UCLEO with the open incident", dms)
	}
	sets, members := len(f.chat.CallsMatching("SetUsergroupMembers")), f.chat.Group("SONCALL")
	if sets != 2 || !cmp.Equal(members, []string{"UCLEO"}) {
		t.Errorf("got %d user group updates, members %v; want 2 (Ben, then Cleo) ending with [UCLEO]", sets, members)
	}

	handoffRef := latestHandoffRef(t, f)
	// The button's value copied onto another message (a crafted click)
	// acknowledges nothing, even for the incoming person.
	resp, err := f.click(t, "UCLEO", bot.MessageRef{Channel: "CHANDOFF", TS: "1700000000.000099"}, h.Buttons[0])
	if err == nil || !strings.Contains(err.Error(), "does not belong to the message") {
		t.Errorf("ack from another message = %q, %v; want a refusal", resp.Message.Text, err)
	}
	resp, err = f.click(t, "UBEN", handoffRef, h.Buttons[0])
	if err != nil || !strings.Contains(resp.Message.Text, "Only the incoming on-call (<@UCLEO>) can acknowledge") {
		t.Errorf("ack by the outgoing person = %q, %v; want a refusal", resp.Message.Text, err)
	}
	// 15 minutes after the post: one reminder, in the thread, however many syncs.
	for _, at := range []string{"2026-03-29T07:15:10Z", "2026-03-29T07:16:10Z"} {
		f.clock.Set(utc(at))
		if err := f.svc.SyncNow(ctx); err != nil {
			t.Fatalf("sync at %s: %v", at, err)
		}
	}
	posts = f.chat.ChannelPosts()
	if len(posts) != 2 || posts[1].ThreadTS != "1700000000.000001" || !strings.Contains(posts[1].Text, "<@UCLEO> please acknowledge the on-call handoff for *berlin* (posted 15m ago)") {
		t.Fatalf("got posts %+v, want the handoff and one reminder in its thread", posts)
	}
	resp, err = f.click(t, "UCLEO", handoffRef, h.Buttons[0])
	if err != nil || !strings.Contains(resp.Message.Text, "you are on call for *berlin*") {
		t.Fatalf("ack by the incoming person = %q, %v; want thanks", resp.Message.Text, err)
	}
	// The fake refuses edits naming another channel than the post's.
	edits := f.chat.Updates("1700000000.000001")
	ok := len(edits) > 0
	var updated bot.Message
	if ok {
		updated = edits[len(edits)-1]
	}
	if !ok || len(updated.Buttons) != 0 || !strings.Contains(bot.DateFallbacks(updated.Context), "Acknowledged by <@UCLEO> at 2026-03-29 09:16 CEST") {
		t.Errorf("updated handoff %+v, want no button and the acknowledgement", updated)
	}
	resp, _ = f.click(t, "UCLEO", handoffRef, h.Buttons[0])
	if !strings.Contains(resp.Message.Text, "Already acknowledged by <@UCLEO>") {
		t.Errorf("second ack = %q, want already acknowledged", resp.Message.Text)
	}

	// Next day's handoff: acknowledged at once, so no reminder follows.
	f.clock.Set(utc("2026-03-30T07:00:05Z"))
	if err := f.svc.SyncNow(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	posts = f.chat.ChannelPosts()
	if len(posts) != 3 || !strings.Contains(posts[2].Text, "<@UCLEO> hands over to <@UANNA>") {
		t.Fatalf("got %d posts, last %+v; want the second handoff", len(posts), posts[len(posts)-1])
	}
	if _, err := f.click(t, "UANNA", latestHandoffRef(t, f), posts[2].Buttons[0]); err != nil {
		t.Fatalf("ack: %v", err)
	}
	// The old message's button now names a replaced handoff.
	resp, _ = f.click(t, "UCLEO", handoffRef, h.Buttons[0])
	if !strings.Contains(resp.Message.Text, "replaced by a later shift change") {
		t.Errorf("old ack = %q, want replaced", resp.Message.Text)
	}
	f.clock.Set(utc("2026-03-30T07:30:00Z"))
	if err := f.svc.SyncNow(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if n := len(f.chat.ChannelPosts()); n != 3 {
		t.Errorf("got %d posts, want 3: no reminder after an acknowledgement", n)
	}
}

func TestSyncByAdmin(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := f.command(t, "UADMIN", "sync")
	if err != nil || resp.Message.Text != "Synced 1 schedule(s) from the rotation file." {
		t.Errorf("/oncall sync = %q, %v; want the sync summary", resp.Message.Text, err)
	}
	if _, ok, _ := f.store.Snapshot(context.Background(), "berlin"); !ok {
		t.Errorf("no snapshot cached after /oncall sync")
	}
}

// signalProvider tells the test each time the sync reads it.
type signalProvider struct {
	bot.OnCallProvider
	called chan struct{}
}

func (p signalProvider) Shifts(ctx context.Context, id string, from, to time.Time) ([]bot.Shift, error) {
	select {
	case p.called <- struct{}{}:
	default:
	}
	return p.OnCallProvider.Shifts(ctx, id, from, to)
}

type oneLocker struct {
	mu    sync.Mutex
	held  bool
	tries int
}

func (l *oneLocker) TryLock(context.Context, string, time.Duration) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tries++
	if l.held {
		return func() {}, false, nil
	}
	l.held = true
	return func() { l.mu.Lock(); l.held = false; l.mu.Unlock() }, true, nil
}

func TestRunSyncsUnderTheLeaseAndStops(t *testing.T) {
	prov := signalProvider{OnCallProvider: fileProvider(t), called: make(chan struct{}, 1)}
	lock := &oneLocker{}
	f := newFixture(t, func(c *oncall.Config) { c.Provider = prov; c.Locker = lock })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	<-prov.called // the first round runs at once
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v, want nil after cancel", err)
	}
	lock.mu.Lock()
	defer lock.mu.Unlock()
	if lock.tries < 1 || lock.held {
		t.Errorf("got %d lease attempts, held %v; want at least one, released", lock.tries, lock.held)
	}
}

func TestRunSkipsWhileAnotherReplicaHoldsTheLease(t *testing.T) {
	prov := &flaky{OnCallProvider: fileProvider(t)}
	lock := &oneLocker{held: true}
	f := newFixture(t, func(c *oncall.Config) { c.Provider = prov; c.Locker = lock })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.svc.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if prov.calls != 0 {
		t.Errorf("got %d provider reads, want none without the lease", prov.calls)
	}
}

// failingLocker fails every TryLock, as Redis does when it is unreachable;
// from call number cancelAt on it first ends the bot's context, as a
// shutdown during the call does.
type failingLocker struct {
	calls    int
	cancelAt int
	cancel   context.CancelFunc
}

func (l *failingLocker) TryLock(ctx context.Context, key string, _ time.Duration) (func(), bool, error) {
	l.calls++
	if l.calls >= l.cancelAt {
		l.cancel()
		return nil, false, fmt.Errorf("lock %q: %w", key, ctx.Err())
	}
	return nil, false, fmt.Errorf("lock %q: redis: connection refused", key)
}

// A lease that cannot be taken is worth a warning, unless the round failed
// only because the bot is shutting down.
func TestRunWarnsOfAFailedLeaseUnlessShuttingDown(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cancelAt  int
		wantWarns int
	}{
		{name: "redis fails, then shutdown", cancelAt: 2, wantWarns: 1},
		{name: "shutdown during the first round", cancelAt: 1, wantWarns: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			lock := &failingLocker{cancelAt: tt.cancelAt, cancel: cancel}
			core, logs := observer.New(zap.WarnLevel)
			f := newFixture(t, func(c *oncall.Config) {
				c.Locker = lock
				c.Logger = zap.New(core)
				c.Settings.SyncInterval = time.Second // the shortest allowed: the second round comes 1 s later
			})
			if err := f.svc.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := logs.FilterMessage("on-call sync lease unavailable; skipping this round").Len(); got != tt.wantWarns {
				t.Errorf("got %d lease warnings in %d rounds, want %d; logs: %v", got, lock.calls, tt.wantWarns, logs.All())
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	base := func() oncall.Config {
		return oncall.Config{Provider: &flaky{}, Chat: newChat(), Cache: newStore()}
	}
	tests := []struct {
		name string
		mod  func(*oncall.Config)
		want string
	}{
		{name: "no provider", mod: func(c *oncall.Config) { c.Provider = nil }, want: "provider, chat and cache are required"},
		{name: "schedule without id", mod: func(c *oncall.Config) { c.Settings.Schedules = []bot.ScheduleConfig{{Name: "x"}} }, want: "id is required"},
		{name: "two-word name", mod: func(c *oncall.Config) { c.Settings.Schedules = []bot.ScheduleConfig{{ID: "P1", Name: "pay ments"}} }, want: "must be one word"},
		{name: "reserved name", mod: func(c *oncall.Config) { c.Settings.Schedules = []bot.ScheduleConfig{{ID: "P1", Name: "sync"}} }, want: "reserved"},
		{name: "bad zone", mod: func(c *oncall.Config) { c.Settings.TimeZone = "Nowhere/Here" }, want: "unknown zone"},
		{name: "bad level", mod: func(c *oncall.Config) { c.Settings.Schedules = []bot.ScheduleConfig{{ID: "P1", Levels: []int{0}}} }, want: "level 0"},
		{name: "tiny interval", mod: func(c *oncall.Config) { c.Settings.SyncInterval = time.Millisecond }, want: "sync_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mod(&cfg)
			_, err := oncall.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// latestHandoffRef is the message of the newest handoff of berlin, where
// its Acknowledge button is.
func latestHandoffRef(t *testing.T, f *fixture) bot.MessageRef {
	t.Helper()
	h, ok, err := f.store.LatestHandoff(context.Background(), "berlin")
	if err != nil || !ok || h.Ref.TS == "" {
		t.Fatalf("latest handoff: %+v %v %v", h, ok, err)
	}
	return h.Ref
}
