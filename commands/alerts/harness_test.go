package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/pagerduty"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

const (
	token      = "s3cret-alerts-token"
	routingKey = "R0UT1NGKEY0123456789abcdefghijkl"
	pdToken    = "pd-rest-token"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// world is what a test runs against: the fake Slack with the real Slack
// client, a real Redis, the fake PagerDuty (REST and Events API), the
// Alertmanager stand-in for silences unless a test brings the real one, and
// the real incident service.
type world struct {
	t        *testing.T
	fs       *fakeslack.Server
	chat     *slack.Client
	rdb      redis.Client
	tl       *redis.Timeline
	events   *fakepd.EventsServer
	pd       *fakepd.Server
	pager    *pagerduty.Client
	eventPg  *pagerduty.Events
	silences string // Alertmanager (or stand-in) URL
	incident *incident.Service
	alerts   string // channel IDs
	payments string
	general  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t}
	w.fs = fakeslack.New(t)
	for _, u := range []fakeslack.User{
		{ID: "U0ALICE", Name: "alice", RealName: "Alice Adams", Email: "alice@example.com"},
		{ID: "U0BOB", Name: "bob", RealName: "Bob Brown", Email: "bob@example.com"},
		{ID: "U0GUEST", Name: "gus", IsRestricted: true},
	} {
		w.fs.AddUser(u)
	}
	w.alerts = w.fs.AddChannel("alerts", "U0ALICE", "U0BOB", "U0GUEST")
	w.payments = w.fs.AddChannel("payments", "U0ALICE", "U0BOB")
	w.general = w.fs.AddChannel("general", "U0ALICE", "U0BOB")
	var err error
	w.chat, err = slack.New(slack.Config{AppToken: w.fs.AppToken(), BotToken: w.fs.BotToken(), APIURL: w.fs.APIURL(), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	w.rdb = redistest.New(t)
	w.tl, err = redis.NewTimeline(redis.TimelineConfig{Client: w.rdb, SpoolDir: t.TempDir(), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.tl.Close() })
	w.events = fakepd.NewEvents(t)
	w.events.AddRoutingKey(routingKey, "checkout")
	w.eventPg, err = pagerduty.NewEvents(pagerduty.EventsConfig{URL: w.events.URL, Logger: zaptest.NewLogger(t),
		MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.pd = fakepd.New(t, pdToken)
	w.pd.AddUser(fakepd.User{ID: "PBOT", Name: "opsbot", Email: "opsbot@example.com"})
	w.pd.AddService(fakepd.Service{ID: "PSVCDB", Name: "db", EscalationPolicyID: "PEP1"})
	w.pager, err = pagerduty.New(pagerduty.Config{Token: pdToken, APIURL: w.pd.URL, FromEmail: "opsbot@example.com",
		Services: map[string]string{"db": "PSVCDB"}, Logger: zaptest.NewLogger(t), MaxAttempts: 2, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	standIn := httptest.NewServer(alertmanager.NewStandIn(nil))
	t.Cleanup(standIn.Close)
	w.silences = standIn.URL
	store, err := redis.NewIncidents(w.rdb)
	if err != nil {
		t.Fatal(err)
	}
	w.incident, err = incident.New(incident.Config{Chat: w.chat, Store: store, Timeline: w.tl, Locker: redis.NewLocker(w.rdb),
		Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// replica is one opsbot process's alerts family on the shared world.
type replica struct {
	w      *world
	svc    *Service
	store  *redis.Alerts
	router *bot.Router
	hook   *httptest.Server
	// posts counts webhook requests answered 200 per group ID.
	mu        sync.Mutex
	delivered map[string]int
}

type option func(*Config)

func withClock(c bot.Clock) option { return func(cfg *Config) { cfg.Clock = c } }

func (w *world) settings() Settings {
	return Settings{
		AlertmanagerURL: w.silences, DefaultChannel: w.alerts, EditInterval: 200 * time.Millisecond,
		PageServices: []string{"db"}, RoutingKeys: []string{"checkout"},
		Routes: []Route{
			{Match: map[string]string{"team": "payments"}, Channel: w.payments, Mention: "S0ONCALLPAY",
				Declare:  &DeclareRule{When: map[string]string{"severity": "critical"}, Severity: bot.Sev2},
				Escalate: &EscalateRule{After: 10 * time.Minute, Service: "checkout"}},
			{Match: map[string]string{"team": "db"}, Escalate: &EscalateRule{After: 5 * time.Minute, Service: "db"}},
		},
	}
}

func (w *world) replica(opts ...option) *replica {
	w.t.Helper()
	store, err := redis.NewAlerts(redis.AlertsConfig{Client: w.rdb, SpoolDir: w.t.TempDir(), Logger: zaptest.NewLogger(w.t),
		RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = store.Close() })
	silencer, err := alertmanager.New(alertmanager.Config{URL: w.silences})
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := Config{
		Chat: w.chat, Store: store, Locker: redis.NewLocker(w.rdb), Timeline: w.tl, Incidents: w.incident,
		Silencer: silencer, Pager: w.pager, PageResolver: w.pager, EventPager: w.eventPg, RoutingKeys: map[string]string{"checkout": routingKey},
		Token: token, Logger: zaptest.NewLogger(w.t), Settings: w.settings(), PollInterval: 20 * time.Millisecond,
		Decoders: map[bot.AlertSource]DecodeFunc{bot.AlertSourceAlertmanager: alertmanager.Decode, bot.AlertSourceGrafana: alertmanager.DecodeGrafana},
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	r := &replica{w: w, svc: svc, store: store, router: bot.NewRouter(), delivered: map[string]int{}}
	svc.Register(r.router)
	intake := svc.Intake()
	r.hook = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		rec := &statusRecorder{ResponseWriter: rw}
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		intake.ServeHTTP(rec, req)
		if rec.status == http.StatusOK {
			if n, err := alertmanager.Decode(body, time.Now()); err == nil {
				r.mu.Lock()
				r.delivered[GroupID(n)]++
				r.mu.Unlock()
			}
		}
	}))
	w.t.Cleanup(r.hook.Close)
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// deliveries is how many notifications of group id this replica accepted.
func (r *replica) deliveries(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered[id]
}

// groups is how many groups this replica accepted notifications for.
func (r *replica) groups() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

// onlyGroup is the one group this replica accepted notifications for.
func (r *replica) onlyGroup() string {
	r.w.t.Helper()
	// The delivery is counted once the hook has answered, which may be
	// after the publisher posted the message a test just waited for.
	r.w.poll("a delivery to this replica", func() bool { return r.groups() > 0 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.delivered) != 1 {
		r.w.t.Fatalf("notifications for %d groups, want 1", len(r.delivered))
	}
	for id := range r.delivered {
		return id
	}
	return ""
}

// run starts the publisher until the test ends.
func (r *replica) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.svc.Run(ctx) }()
	go func() { _ = r.store.Run(ctx) }()
	r.w.t.Cleanup(func() { cancel(); <-done })
}

// post sends a webhook request and returns the status and body.
func (r *replica) post(path, body string, header map[string]string) (int, string) {
	r.w.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.hook.URL+path, strings.NewReader(body))
	if err != nil {
		r.w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// notify posts an Alertmanager notification that must be accepted.
func (r *replica) notify(n amNotification) string {
	r.w.t.Helper()
	if code, body := r.post(PathAlertmanager, n.JSON(), nil); code != http.StatusOK {
		r.w.t.Fatalf("notification refused: %d %s", code, body)
	}
	return n.id()
}

// click sends a button click as the engine would route it.
func (r *replica) click(user string, msg bot.MessageRef, action, value string) (bot.Response, error) {
	req := &bot.Request{Kind: bot.KindAction, UserID: user, ChannelID: msg.Channel, EnvelopeID: "env-" + action,
		Action: &bot.Action{ID: action, Value: value, Message: msg}}
	h, _ := r.router.Route(req)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h(bot.WithLogger(ctx, zaptest.NewLogger(r.w.t)), req)
}

// command runs /alerts text.
func (r *replica) command(user, channel, text string) (bot.Response, error) {
	req := &bot.Request{Kind: bot.KindCommand, Command: "/alerts", Text: text, UserID: user, ChannelID: channel}
	h, _ := r.router.Route(req)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h(ctx, req)
}

func (r *replica) group(id string) bot.AlertGroup {
	r.w.t.Helper()
	g, err := r.store.Group(context.Background(), id)
	if err != nil {
		r.w.t.Fatalf("group %s: %v", id, err)
	}
	return g
}

// amNotification builds Alertmanager webhook payloads.
type amNotification struct {
	Receiver    string
	GroupKey    string
	GroupLabels map[string]string
	Common      map[string]string
	Alerts      []amAlert
	Truncated   int
}

type amAlert struct {
	Labels      map[string]string
	Annotations map[string]string
	Starts      time.Time
	Ends        time.Time // zero: firing
	Fingerprint string
	Generator   string
}

func (n amNotification) id() string {
	return GroupID(bot.AlertNotification{Source: bot.AlertSourceAlertmanager, Receiver: n.receiver(), GroupKey: n.GroupKey})
}

func (n amNotification) receiver() string {
	if n.Receiver == "" {
		return "opsbot"
	}
	return n.Receiver
}

func (n amNotification) JSON() string {
	status := "resolved"
	var alerts []map[string]any
	for _, a := range n.Alerts {
		st, ends := "firing", "0001-01-01T00:00:00Z"
		if !a.Ends.IsZero() {
			st, ends = "resolved", a.Ends.UTC().Format(time.RFC3339Nano)
		} else {
			status = "firing"
		}
		fp := a.Fingerprint
		if fp == "" {
			fp = fmt.Sprintf("%016x", len(alerts)+1)
		}
		alerts = append(alerts, map[string]any{"status": st, "labels": a.Labels, "annotations": a.Annotations,
			"startsAt": a.Starts.UTC().Format(time.RFC3339Nano), "endsAt": ends, "generatorURL": a.Generator, "fingerprint": fp})
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "groupKey": n.GroupKey, "receiver": n.receiver(), "status": status,
		"groupLabels": n.GroupLabels, "commonLabels": n.Common, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager.example.com:9093", "alerts": alerts, "truncatedAlerts": n.Truncated})
	return string(b)
}

// diskGroup is a group of DiskFull alerts of team db.
func diskGroup(alerts ...amAlert) amNotification {
	return amNotification{GroupKey: `{}/{team="db"}:{alertname="DiskFull"}`,
		GroupLabels: map[string]string{"alertname": "DiskFull"},
		Common:      map[string]string{"alertname": "DiskFull", "team": "db"}, Alerts: alerts}
}

func disk(instance string, starts time.Time) amAlert {
	return amAlert{Labels: map[string]string{"alertname": "DiskFull", "team": "db", "instance": instance},
		Annotations: map[string]string{"summary": "Disk almost full on " + instance}, Starts: starts, Fingerprint: "fp-" + instance}
}

func (a amAlert) resolvedAt(t time.Time) amAlert {
	a.Ends = t
	return a
}

// messages are the bot's top-level messages in a channel.
func (w *world) messages(channel string) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range w.fs.Messages(channel) {
		if m.BotID != "" && (m.ThreadTS == "" || m.ThreadTS == m.TS) {
			out = append(out, m)
		}
	}
	return out
}

// only returns the one bot message in channel, failing otherwise.
func (w *world) only(channel string) fakeslack.Message {
	w.t.Helper()
	ms := w.messages(channel)
	if len(ms) != 1 {
		var texts []string
		for _, m := range ms {
			texts = append(texts, m.Rendered())
		}
		w.t.Fatalf("got %d messages in %s, want 1:\n%s", len(ms), channel, strings.Join(texts, "\n----\n"))
	}
	return ms[0]
}

// waitFor waits until cond holds; the limit is a hang guard, not a speed
// requirement.
func (w *world) waitFor(what string, cond func() bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.fs.WaitUntil(ctx, cond); err != nil {
		w.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// poll waits until cond holds, for conditions outside the fake Slack (which
// WaitUntil re-checks only when Slack's state changes). The limit is a hang
// guard, not a speed requirement.
func (w *world) poll(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("waiting for %s: still not true after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// buttonValue finds the value of the button with actionID in a message.
func buttonIn(t *testing.T, m fakeslack.Message, actionID string) (string, bool) {
	t.Helper()
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(m.Blocks, &bs); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return e.Value, true
			}
		}
	}
	return "", false
}

func ref(m fakeslack.Message) bot.MessageRef { return bot.MessageRef{Channel: m.Channel, TS: m.TS} }

var seq atomic.Int64
