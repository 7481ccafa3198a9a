package oncall_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/oncall"
	"github.com/opsbot/opsbot/integrations/oncallfile"
)

// fakeChat records messages and serves a small directory.
type fakeChat struct {
	mu        sync.Mutex
	posts     []bot.Message
	dms       []bot.Message
	updates   map[bot.MessageRef]bot.Message
	users     map[string]string // e-mail -> user ID
	groups    map[string][]string
	groupSets int
	lookups   int
	// failPosts makes the next n posts fail.
	failPosts int
}

func newChat() *fakeChat {
	return &fakeChat{updates: map[bot.MessageRef]bot.Message{}, groups: map[string][]string{}, users: map[string]string{
		"anna@example.com": "UANNA", "ben@example.com": "UBEN", "cleo@example.com": "UCLEO", "lead@example.com": "ULEAD",
	}}
}

func (c *fakeChat) Post(_ context.Context, m bot.Message) (bot.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failPosts > 0 {
		c.failPosts--
		return bot.MessageRef{}, errors.New("slack: chat.postMessage: internal_error")
	}
	if strings.HasPrefix(m.Channel, "U") {
		// Direct messages are kept apart, so that channel posts keep
		// their numbering.
		c.dms = append(c.dms, m)
		return bot.MessageRef{Channel: "D" + m.Channel, TS: fmt.Sprintf("1700000001.%06d", len(c.dms))}, nil
	}
	c.posts = append(c.posts, m)
	return bot.MessageRef{Channel: m.Channel, TS: fmt.Sprintf("1700000000.%06d", len(c.posts))}, nil
}

func (c *fakeChat) Update(_ context.Context, ref bot.MessageRef, m bot.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updates[ref] = m
	return nil
}

func (c *fakeChat) PostEphemeral(context.Context, string, bot.Message) error { return nil }

func (c *fakeChat) User(_ context.Context, id string) (bot.User, error) {
	return bot.User{ID: id}, nil
}

func (c *fakeChat) UserByEmail(_ context.Context, email string) (bot.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lookups++
	if id, ok := c.users[email]; ok {
		return bot.User{ID: id, Email: email}, nil
	}
	return bot.User{}, bot.ErrNotFound
}

func (c *fakeChat) UsergroupMembers(_ context.Context, g string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.groups[g]), nil
}

func (c *fakeChat) SetUsergroupMembers(_ context.Context, g string, users []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groupSets++
	c.groups[g] = slices.Clone(users)
	return nil
}

// DMs returns the direct messages, to whom they went in Channel.
func (c *fakeChat) DMs() []bot.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dms)
}

func (c *fakeChat) Posts() []bot.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.posts)
}

// memStore is an in-process bot.OnCallStore.
type memStore struct {
	mu       sync.Mutex
	snaps    map[string]bot.OnCallSnapshot
	claims   map[string]bool
	handoffs map[string]bot.Handoff
	fail     bool
}

func newStore() *memStore {
	return &memStore{snaps: map[string]bot.OnCallSnapshot{}, claims: map[string]bool{}, handoffs: map[string]bot.Handoff{}}
}

func (m *memStore) SaveSnapshot(_ context.Context, s bot.OnCallSnapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.snaps[s.Schedule]; ok && old.SyncedAt.After(s.SyncedAt) {
		return nil
	}
	m.snaps[s.Schedule] = s
	return nil
}

func (m *memStore) Snapshot(_ context.Context, id string) (bot.OnCallSnapshot, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.snaps[id]
	return s, ok, nil
}

func (m *memStore) ClaimOnce(_ context.Context, key string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.claims[key] {
		return false, nil
	}
	m.claims[key] = true
	return true, nil
}

func (m *memStore) ReleaseClaim(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.claims, key)
	return nil
}

func (m *memStore) SaveHandoff(_ context.Context, h bot.Handoff) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handoffs[h.Schedule] = h
	return nil
}

func (m *memStore) LatestHandoff(_ context.Context, id string) (bot.Handoff, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.handoffs[id]
	return h, ok, nil
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// berlinYAML is a daily 09:00 Europe/Berlin rotation across the 2026 DST
// changes, with a second level, an override and one person (Dora) unknown
// to Slack.
const berlinYAML = `
schedules:
  - id: berlin
    name: berlin
    time_zone: Europe/Berlin
    rotations:
      - level: 1
        start: "2026-03-27 09:00"
        shift: 1d
        people:
          - {name: Anna, email: anna@example.com}
          - {name: Ben, email: ben@example.com}
          - {name: Cleo, email: cleo@example.com}
      - level: 2
        start: "2026-03-23 09:00"
        shift: 7d
        people:
          - {name: Lead, email: lead@example.com}
    overrides:
      - {start: "2026-03-30 12:00", end: "2026-03-30 18:00", person: {name: Dora, email: dora@example.com}}
  - id: ops
    name: ops
    rotations:
      - start: "2026-01-01 00:00"
        shift: 12h
        people:
          - {name: Anna, email: anna@example.com}
          - {name: Cleo, email: cleo@example.com}
      - level: 2
        start: "2026-01-01 00:00"
        shift: 7d
        people:
          - {name: Lead, email: lead@example.com}
`

func fileProvider(t *testing.T) *oncallfile.Provider {
	t.Helper()
	p, err := oncallfile.Parse([]byte(berlinYAML))
	if err != nil {
		t.Fatalf("parse rotation: %v", err)
	}
	return p
}

type fixture struct {
	svc    *oncall.Service
	chat   *fakeChat
	store  bot.OnCallStore
	clock  *clock
	router *bot.Router
}

func newFixture(t *testing.T, mod func(*oncall.Config)) *fixture {
	t.Helper()
	f := &fixture{chat: newChat(), store: newStore(), clock: &clock{t: utc("2026-03-30T06:00:00Z")}}
	cfg := oncall.Config{
		Provider: fileProvider(t), ProviderName: "the rotation file", Chat: f.chat, Cache: f.store, Clock: f.clock,
		Logger: zaptest.NewLogger(t), Admins: []string{"UADMIN"},
		Settings: oncall.Settings{TimeZone: "Europe/Berlin", Schedules: []bot.ScheduleConfig{
			{ID: "berlin", Name: "berlin", HandoffChannel: "CHANDOFF", Usergroup: "SONCALL"},
		}},
	}
	if mod != nil {
		mod(&cfg)
	}
	if s, ok := cfg.Cache.(bot.OnCallStore); ok {
		f.store = s
	}
	svc, err := oncall.New(cfg)
	if err != nil {
		t.Fatalf("oncall.New: %v", err)
	}
	f.svc = svc
	f.router = bot.NewRouter()
	svc.Register(f.router)
	return f
}

// command runs a slash command through the router as the engine would.
func (f *fixture) command(t *testing.T, user, text string) (bot.Response, error) {
	t.Helper()
	req := &bot.Request{Kind: bot.KindCommand, Command: "/oncall", Text: text, UserID: user, ChannelID: "CX", EnvelopeID: "env-1"}
	h, _ := f.router.Route(req)
	return h(context.Background(), req)
}

func (f *fixture) click(t *testing.T, user string, b bot.Button) (bot.Response, error) {
	t.Helper()
	req := &bot.Request{Kind: bot.KindAction, UserID: user, Action: &bot.Action{ID: b.ID, Value: b.Value}}
	h, _ := f.router.Route(req)
	return h(context.Background(), req)
}

func text(r bot.Response) string {
	return bot.DateFallbacks(strings.Join([]string{r.Message.Title, r.Message.Text, r.Message.Context}, "\n"))
}
