package incident

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// seqIDs makes predictable UUIDs.
func seqIDs() bot.IDs {
	var n atomic.Uint64
	return bot.IDFunc(func() uuid.UUID {
		var u uuid.UUID
		v := n.Add(1)
		for i := 0; i < 8; i++ {
			u[15-i] = byte(v >> (8 * i))
		}
		u[6] = 0x40 | (u[6] & 0x0f)
		u[8] = 0x80 | (u[8] & 0x3f)
		return u
	})
}

// fakeOnCall says who is on call.
type fakeOnCall struct{ users []string }

func (o fakeOnCall) CurrentOnCall(context.Context) ([]string, error) { return o.users, nil }

// fakePager records pages.
type fakePager struct {
	mu    sync.Mutex
	pages []bot.PageRequest
	// err, when set, is returned (with the result) by every page.
	err error
}

func (p *fakePager) Page(_ context.Context, r bot.PageRequest) (bot.PageResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages = append(p.pages, r)
	return bot.PageResult{ID: "PD1", URL: "https://pd.example/incidents/PD1", Assignees: []string{"Dana Oncall"}}, p.err
}

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// harness is a Service on a real Redis (store, timeline, locks) with a
// recording chat.
type harness struct {
	t      *testing.T
	svc    *Service
	chat   *bottest.Chat
	store  *redis.Incidents
	tl     *redis.Timeline
	clock  *bottest.Clock
	router *bot.Router
	rdb    redis.Client
	n      atomic.Int64
}

func testSettings() Settings {
	return Settings{
		BroadcastChannel: "CBROADCAST",
		Responders:       Responders{Users: []string{"USRE1"}, Usergroups: []string{"SSRE"}},
	}
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	rdb := redistest.New(t)
	return newHarnessOn(t, rdb, bottest.NewClock(t0), bottest.NewChat(), mod)
}

func newHarnessOn(t *testing.T, rdb redis.Client, clock *bottest.Clock, chat *bottest.Chat, mod func(*Config)) *harness {
	t.Helper()
	store, err := redis.NewIncidents(rdb)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := redis.NewTimeline(redis.TimelineConfig{Client: rdb, SpoolDir: t.TempDir(), Logger: zaptest.NewLogger(t),
		RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond, AppendTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	chat.AddUser(bot.User{ID: "UALICE", Name: "alice", RealName: "Alice Adams", Email: "alice@example.com"})
	chat.AddUser(bot.User{ID: "UBOB", Name: "bob", RealName: "Bob Brown", Email: "bob@example.com"})
	chat.AddUser(bot.User{ID: "UCAROL", Name: "carol", RealName: "Carol Chen"})
	chat.AddUser(bot.User{ID: "UBOT", Name: "deploybot", IsBot: true})
	chat.SetGroup("SSRE", "USRE1", "USRE2")
	cfg := Config{Chat: chat, Store: store, Timeline: tl, Locker: redis.NewLocker(rdb), Deduper: redis.NewDeduper(rdb),
		Clock: clock, IDs: seqIDs(), Logger: zaptest.NewLogger(t), OnCall: fakeOnCall{users: []string{"UONCALL"}},
		Settings: testSettings()}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := bot.NewRouter()
	svc.Register(r)
	return &harness{t: t, svc: svc, chat: chat, store: store, tl: tl, clock: clock, router: r, rdb: rdb}
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h.t.Cleanup(cancel)
	return bot.WithLogger(ctx, zaptest.NewLogger(h.t))
}

// run routes req like the engine does (without its dedupe) and runs it.
func (h *harness) run(req *bot.Request) (bot.Response, error) {
	handler, _ := h.router.Route(req)
	return handler(h.ctx(), req)
}

// cmd runs "/incident text" as user in channel, with a fresh trigger.
func (h *harness) cmd(user, channel, text string) (bot.Response, error) {
	n := h.n.Add(1)
	return h.run(&bot.Request{Kind: bot.KindCommand, Command: "/incident", Text: text, UserID: user,
		ChannelID: channel, TriggerID: fmt.Sprintf("trigger-%d", n), DedupeKey: fmt.Sprintf("trigger-%d", n),
		EnvelopeID: fmt.Sprintf("env-%d", n)})
}

// must runs a command that must succeed.
func (h *harness) must(user, channel, text string) bot.Response {
	h.t.Helper()
	resp, err := h.cmd(user, channel, text)
	if err != nil {
		h.t.Fatalf("/incident %s: %v", text, err)
	}
	return resp
}

// declare declares an incident and returns it.
func (h *harness) declare(text string) bot.Incident {
	h.t.Helper()
	h.must("UALICE", "CGENERAL", "declare "+text)
	incs, err := h.store.Open(h.ctx())
	if err != nil || len(incs) == 0 {
		h.t.Fatalf("no open incident after declare: %v", err)
	}
	return incs[len(incs)-1]
}

func (h *harness) events(key string) []bot.TimelineEvent {
	h.t.Helper()
	evs, err := h.tl.Events(h.ctx(), key)
	if err != nil {
		h.t.Fatalf("timeline %s: %v", key, err)
	}
	return evs
}

func (h *harness) get(key string) bot.Incident {
	h.t.Helper()
	inc, err := h.store.Get(h.ctx(), key)
	if err != nil {
		h.t.Fatalf("get %s: %v", key, err)
	}
	return inc
}

func eventTypes(evs []bot.TimelineEvent) []bot.TimelineEventType {
	out := make([]bot.TimelineEventType, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}
