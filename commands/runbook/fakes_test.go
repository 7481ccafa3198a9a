package runbook

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/runbooks"
)

// newChat is a workspace of team T1 with the people and groups the test
// catalogue's rules name, and a guest in the SRE group.
func newChat() *bottest.Chat {
	c := bottest.NewChat()
	for _, id := range []string{"U0ADMIN", "U0ALICE", "U0SRE", "U0LEAD", "U0LEAD2", "U0BOB"} {
		c.AddUser(bot.User{ID: id, TeamID: "T1", Name: strings.ToLower(id[2:])})
	}
	c.AddUser(bot.User{ID: "U0GUEST", TeamID: "T1", IsRestricted: true})
	c.SetGroup("S0SRE", "U0SRE", "U0GUEST")
	c.SetGroup("S0LEADS", "U0LEAD", "U0LEAD2")
	return c
}

// fakeTimeline records timeline events.
type fakeTimeline struct {
	mu     sync.Mutex
	events []bot.TimelineEvent
}

func (f *fakeTimeline) Append(_ context.Context, ev bot.TimelineEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	return nil
}
func (f *fakeTimeline) Events(_ context.Context, inc string) ([]bot.TimelineEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bot.TimelineEvent
	for _, e := range f.events {
		if e.Incident == inc {
			out = append(out, e)
		}
	}
	return out, nil
}

type incidents map[string]string

func (m incidents) IncidentForChannel(_ context.Context, ch string) (string, bool, error) {
	k, ok := m[ch]
	return k, ok, nil
}

// fakeTicker hands out one channel the test sends ticks on. The channel is
// unbuffered, so a send returns only once the stream loop took the tick.
type fakeTicker struct {
	mu sync.Mutex
	ch chan time.Time
}

func (f *fakeTicker) New(time.Duration) (<-chan time.Time, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch, func() {}
}

// env is one test's wiring: a service over a real Redis store.
type env struct {
	t       *testing.T
	svc     *Service
	router  *bot.Router
	chat    *bottest.Chat
	store   *redis.Runbooks
	clock   *bottest.Clock
	ticker  *fakeTicker
	tl      *fakeTimeline
	dir     string
	catalog *runbooks.Catalog
	cfg     Config
}

const catalogYAML = `name: restart
description: restart a deployment
command: ["/bin/echo", "restart", "deployment/{{deployment}}", "-n", "{{namespace}}"]
params:
  deployment: {pattern: "^[a-z0-9][a-z0-9-]{0,62}$", required: true}
  namespace:  {enum: [staging, prod], default: staging}
allow: {usergroups: [S0SRE], users: [U0ALICE]}
approval: {when: {namespace: prod}, approvers: {usergroups: [S0LEADS]}}
`

func loadCatalog(t *testing.T, files map[string]string) (*runbooks.Catalog, string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := runbooks.LoadDir(dir)
	if err != nil {
		t.Fatalf("catalogue: %v", err)
	}
	return c, dir
}

func newEnv(t *testing.T, files map[string]string, mutate ...func(*Config)) *env {
	t.Helper()
	return newEnvOn(t, redistest.New(t), files, mutate...)
}

// newEnvOn is newEnv over a given Redis client.
func newEnvOn(t *testing.T, rdb redis.Client, files map[string]string, mutate ...func(*Config)) *env {
	t.Helper()
	if files == nil {
		files = map[string]string{"restart.yaml": catalogYAML}
	}
	c, dir := loadCatalog(t, files)
	store, err := redis.NewRunbooks(rdb)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, chat: newChat(), store: store, catalog: c, dir: dir,
		clock:  bottest.NewClock(time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)),
		ticker: &fakeTicker{ch: make(chan time.Time)}, tl: &fakeTimeline{}}
	var n uint32
	var idMu sync.Mutex
	e.cfg = Config{
		Catalog: c, Chat: e.chat, Approvals: store, Audit: store, Locks: store, Slots: store, Timeline: e.tl,
		Incidents: incidents{"C0INC": "INC-7"}, Admins: []string{"U0ADMIN"}, TeamID: "T1",
		Clock: e.clock, Logger: zaptest.NewLogger(t), NewTicker: e.ticker.New,
		IDs: bot.IDFunc(func() uuid.UUID {
			idMu.Lock()
			defer idMu.Unlock()
			n++
			return uuid.UUID{0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		}),
	}
	for _, m := range mutate {
		m(&e.cfg)
	}
	e.svc, err = New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.router = bot.NewRouter()
	e.svc.Register(e.router)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.svc.Wait(ctx)
	})
	return e
}

// replica is a second service over the same store, as another replica.
func (e *env) replica(c *runbooks.Catalog) (*Service, *bot.Router) {
	cfg := e.cfg
	if c != nil {
		cfg.Catalog = c
	}
	svc, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	r := bot.NewRouter()
	svc.Register(r)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Wait(ctx)
	})
	return svc, r
}

func command(user, channel, text string) *bot.Request {
	return &bot.Request{Kind: bot.KindCommand, Command: "/runbook", UserID: user, TeamID: "T1", ChannelID: channel, Text: text}
}

// approvalTS is the ts the fake chat gives the first message posted in a
// test: the approval request, in the approval tests.
const approvalTS = "1700000000.000001"

func click(user, channel, action, value string) *bot.Request {
	return &bot.Request{Kind: bot.KindAction, UserID: user, TeamID: "T1", ChannelID: channel,
		Action: &bot.Action{ID: action, Value: value, Message: bot.MessageRef{Channel: channel, TS: approvalTS}}}
}

// do routes req like the engine and turns errors into the user's text.
func do(t *testing.T, r *bot.Router, req *bot.Request) (bot.Response, error) {
	t.Helper()
	h, _ := r.Route(req)
	return h(t.Context(), req)
}

func (e *env) audit() []bot.AuditRecord {
	e.t.Helper()
	recs, err := e.store.RecentAudit(e.t.Context(), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

func events(recs []bot.AuditRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Event)
	}
	return out
}

// waitFor polls cond until it holds; it fails the test after a generous
// deadline (a hang, not a speed check).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) waitAudit(ev bot.AuditEvent) []bot.AuditRecord {
	e.t.Helper()
	var recs []bot.AuditRecord
	waitFor(e.t, "audit "+string(ev), func() bool {
		recs = e.audit()
		for _, r := range recs {
			if r.Event == ev {
				return true
			}
		}
		return false
	})
	return recs
}
