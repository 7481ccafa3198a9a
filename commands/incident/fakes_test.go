package incident

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// fakeChat is a recording bot.Chat: it keeps what a workspace would show
// (channels, messages, pins, topics) and the order of calls.
type fakeChat struct {
	mu       sync.Mutex
	latency  time.Duration
	calls    []string
	nextTS   int
	nextChan int

	channels  map[string]string // name -> ID
	taken     map[string]bool   // names Slack says are taken
	invalid   map[string]bool   // names Slack rejects
	invites   map[string][]string
	topics    map[string]string
	purposes  map[string]string
	posts     []bot.Message
	byTS      map[string]bot.Message // latest content of each posted message
	ephemeral []bot.Message
	pins      []bot.MessageRef
	archived  []string
	uploads   []bot.File
	modals    []bot.Modal
	users     map[string]bot.User
	groups    map[string][]string
	messages  map[string]bot.ChatMessage // "C/ts" -> message people posted
	fail      map[string]error           // method -> error to return
}

func newFakeChat() *fakeChat {
	return &fakeChat{
		channels: map[string]string{}, taken: map[string]bool{}, invalid: map[string]bool{},
		invites: map[string][]string{}, topics: map[string]string{}, purposes: map[string]string{},
		byTS: map[string]bot.Message{}, users: map[string]bot.User{}, groups: map[string][]string{},
		messages: map[string]bot.ChatMessage{}, fail: map[string]error{},
	}
}

var _ bot.Chat = (*fakeChat)(nil)

// call records a call and returns the injected failure, after the latency.
func (f *fakeChat) call(method string, detail ...string) error {
	if f.latency > 0 {
		time.Sleep(f.latency)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, strings.TrimSpace(method+" "+strings.Join(detail, " ")))
	return f.fail[method]
}

func (f *fakeChat) Post(_ context.Context, m bot.Message) (bot.MessageRef, error) {
	if err := f.call("Post", m.Channel); err != nil {
		return bot.MessageRef{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextTS++
	ts := fmt.Sprintf("1800000000.%06d", f.nextTS)
	f.posts = append(f.posts, m)
	f.byTS[ts] = m
	return bot.MessageRef{Channel: m.Channel, TS: ts}, nil
}

func (f *fakeChat) Update(_ context.Context, ref bot.MessageRef, m bot.Message) error {
	if err := f.call("Update", ref.Channel, ref.TS); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byTS[ref.TS]; !ok {
		return fmt.Errorf("update %s: message_not_found", ref.TS)
	}
	f.byTS[ref.TS] = m
	return nil
}

func (f *fakeChat) PostEphemeral(_ context.Context, user string, m bot.Message) error {
	if err := f.call("PostEphemeral", m.Channel, user); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ephemeral = append(f.ephemeral, m)
	return nil
}

func (f *fakeChat) CreateChannel(_ context.Context, name string) (bot.ChannelInfo, error) {
	if err := f.call("CreateChannel", name); err != nil {
		return bot.ChannelInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.invalid[name] || len(name) > 80 {
		return bot.ChannelInfo{}, fmt.Errorf("create %q: %w", name, bot.ErrInvalidName)
	}
	if _, ok := f.channels[name]; ok || f.taken[name] {
		return bot.ChannelInfo{}, fmt.Errorf("create %q: %w", name, bot.ErrNameTaken)
	}
	f.nextChan++
	id := fmt.Sprintf("CINC%04d", f.nextChan)
	f.channels[name] = id
	return bot.ChannelInfo{ID: id, Name: name}, nil
}

func (f *fakeChat) Invite(_ context.Context, channel string, users ...string) error {
	if err := f.call("Invite", channel, strings.Join(users, ",")); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invites[channel] = append(f.invites[channel], users...)
	return nil
}

func (f *fakeChat) SetTopic(_ context.Context, channel, topic string) error {
	if err := f.call("SetTopic", channel); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics[channel] = topic
	return nil
}

func (f *fakeChat) SetPurpose(_ context.Context, channel, purpose string) error {
	if err := f.call("SetPurpose", channel); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purposes[channel] = purpose
	return nil
}

func (f *fakeChat) Archive(_ context.Context, channel string) error {
	if err := f.call("Archive", channel); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.archived = append(f.archived, channel)
	return nil
}

func (f *fakeChat) Pin(_ context.Context, ref bot.MessageRef) error {
	if err := f.call("Pin", ref.Channel, ref.TS); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pins = append(f.pins, ref)
	return nil
}

func (f *fakeChat) User(_ context.Context, id string) (bot.User, error) {
	if err := f.call("User", id); err != nil {
		return bot.User{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[id]; ok {
		return u, nil
	}
	return bot.User{}, fmt.Errorf("user %s: %w", id, bot.ErrNotFound)
}

func (f *fakeChat) UserByEmail(_ context.Context, email string) (bot.User, error) {
	if err := f.call("UserByEmail", email); err != nil {
		return bot.User{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.Email == email {
			return u, nil
		}
	}
	return bot.User{}, bot.ErrNotFound
}

func (f *fakeChat) UsergroupMembers(_ context.Context, group string) ([]string, error) {
	if err := f.call("UsergroupMembers", group); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.groups[group]...), nil
}

func (f *fakeChat) SetUsergroupMembers(_ context.Context, group string, users []string) error {
	return f.call("SetUsergroupMembers", group)
}

func (f *fakeChat) Message(_ context.Context, ref bot.MessageRef) (bot.ChatMessage, error) {
	if err := f.call("Message", ref.Channel, ref.TS); err != nil {
		return bot.ChatMessage{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.messages[ref.Channel+"/"+ref.TS]
	if !ok {
		return bot.ChatMessage{}, bot.ErrNotFound
	}
	return m, nil
}

func (f *fakeChat) Permalink(_ context.Context, ref bot.MessageRef) (string, error) {
	if err := f.call("Permalink", ref.Channel, ref.TS); err != nil {
		return "", err
	}
	return "https://example.slack.com/archives/" + ref.Channel + "/p" + strings.ReplaceAll(ref.TS, ".", ""), nil
}

func (f *fakeChat) Upload(_ context.Context, file bot.File) error {
	if err := f.call("Upload", file.Channel, file.Name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploads = append(f.uploads, file)
	return nil
}

func (f *fakeChat) OpenModal(_ context.Context, triggerID string, m bot.Modal) error {
	if err := f.call("OpenModal", triggerID); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.modals = append(f.modals, m)
	return nil
}

// callsMatching returns the recorded calls that start with prefix.
func (f *fakeChat) callsMatching(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// mutations counts calls that change something in the workspace.
func (f *fakeChat) mutations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		m, _, _ := strings.Cut(c, " ")
		switch m {
		case "User", "UserByEmail", "UsergroupMembers", "Message", "Permalink":
		default:
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeChat) postsIn(channel string) []bot.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bot.Message
	for _, p := range f.posts {
		if p.Channel == channel {
			out = append(out, p)
		}
	}
	return out
}

func (f *fakeChat) message(ts string) bot.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byTS[ts]
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

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
	chat   *fakeChat
	store  *redis.Incidents
	tl     *redis.Timeline
	clock  *fakeClock
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
	return newHarnessOn(t, rdb, &fakeClock{now: t0}, newFakeChat(), mod)
}

func newHarnessOn(t *testing.T, rdb redis.Client, clock *fakeClock, chat *fakeChat, mod func(*Config)) *harness {
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
	chat.users["UALICE"] = bot.User{ID: "UALICE", Name: "alice", RealName: "Alice Adams", Email: "alice@example.com"}
	chat.users["UBOB"] = bot.User{ID: "UBOB", Name: "bob", RealName: "Bob Brown", Email: "bob@example.com"}
	chat.users["UCAROL"] = bot.User{ID: "UCAROL", Name: "carol", RealName: "Carol Chen"}
	chat.users["UBOT"] = bot.User{ID: "UBOT", Name: "deploybot", IsBot: true}
	chat.groups["SSRE"] = []string{"USRE1", "USRE2"}
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
