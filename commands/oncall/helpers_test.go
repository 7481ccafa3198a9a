package oncall_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/commands/oncall"
	"github.com/opsbot/opsbot/integrations/oncallfile"
)

// newChat is a workspace where the people of the test rotations, but Dora,
// have chat accounts.
func newChat() *bottest.Chat {
	c := bottest.NewChat()
	for email, id := range map[string]string{
		"anna@example.com": "UANNA", "ben@example.com": "UBEN", "cleo@example.com": "UCLEO", "lead@example.com": "ULEAD",
	} {
		c.AddUser(bot.User{ID: id, Email: email})
	}
	return c
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
	chat   *bottest.Chat
	store  bot.OnCallStore
	clock  *bottest.Clock
	router *bot.Router
}

func newFixture(t *testing.T, mod func(*oncall.Config)) *fixture {
	t.Helper()
	f := &fixture{chat: newChat(), store: newStore(), clock: bottest.NewClock(utc("2026-03-30T06:00:00Z"))}
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

// click clicks button b of the message at on.
func (f *fixture) click(t *testing.T, user string, on bot.MessageRef, b bot.Button) (bot.Response, error) {
	t.Helper()
	req := &bot.Request{Kind: bot.KindAction, UserID: user, ChannelID: on.Channel, Action: &bot.Action{ID: b.ID, Value: b.Value, Message: on}}
	h, _ := f.router.Route(req)
	return h(context.Background(), req)
}

func text(r bot.Response) string {
	return bot.DateFallbacks(strings.Join([]string{r.Message.Title, r.Message.Text, r.Message.Context}, "\n"))
}
