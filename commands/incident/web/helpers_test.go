package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/integrations/console"
	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/weblink"
)

// t0 is when every test incident is declared.
var t0 = time.Date(2026, 3, 2, 9, 58, 0, 0, time.UTC)

// env is the incident family on a real Redis and the console workspace,
// with the web view in front of it on a real HTTP server.
type env struct {
	t      testing.TB
	clock  *bottest.Clock
	ws     *console.Workspace
	svc    *incident.Service
	store  bot.IncidentStore
	router *bot.Router
	tl     *oredis.Timeline
	signer *weblink.Signer
	web    *Server
	srv    *httptest.Server
	n      atomic.Int64
}

var testKey = weblink.Key(strings.Repeat("k", 32))

func newEnv(t testing.TB, zone string) *env {
	t.Helper()
	return newEnvOn(t, zone, redistest.New(t))
}

// newEnvOn is newEnv on a given Redis (a server a test may stop).
func newEnvOn(t testing.TB, zone string, rdb goredis.UniversalClient) *env {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatalf("zone %s: %v", zone, err)
	}
	e := &env{t: t, clock: bottest.NewClock(t0)}
	e.ws = console.NewWorkspace(io.Discard, e.clock, "T0TEST")
	for _, u := range []bot.User{
		{ID: "U0ALICE", Name: "alice", RealName: "Alice Adams"},
		{ID: "U0BOB", Name: "bob", RealName: "Bob Brown"},
		{ID: "U0CAROL", Name: "carol", RealName: "Carol Chen"},
		{ID: "U0MAL", Name: "mallory", RealName: `<b onmouseover="document.title='pwned'">Mallory</b> & "co"`},
	} {
		e.ws.AddUser(u)
	}
	e.ws.AddChannel("C0GENERAL", "general", "U0ALICE", "U0BOB", "U0CAROL", "U0MAL")
	store, err := oredis.NewIncidents(rdb)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	e.tl, err = oredis.NewTimeline(oredis.TimelineConfig{Client: rdb, SpoolDir: t.TempDir(), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.tl.Close() })
	e.signer, err = weblink.New(weblink.Config{Key: testKey, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	// The family and the web view need each other (links, documents).
	late := &lateLinker{}
	followups, err := oredis.NewFollowups(rdb)
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = incident.New(incident.Config{Chat: e.ws, Store: store, Timeline: e.tl, Clock: e.clock,
		Logger: zaptest.NewLogger(t), Links: late, Settings: incident.Settings{Timezone: loc}, Followups: followups})
	if err != nil {
		t.Fatal(err)
	}
	e.router = bot.NewRouter()
	e.svc.Register(e.router)
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.web, err = New(Config{Documents: e.svc, Signer: e.signer, PublicURL: e.srv.URL + "/", Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	late.s = e.web
	e.srv.Config.Handler = e.web
	return e
}

type lateLinker struct{ s *Server }

func (l *lateLinker) IncidentLink(ctx context.Context, key string) (string, time.Time, error) {
	return l.s.IncidentLink(ctx, key)
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return bot.WithLogger(ctx, zaptest.NewLogger(e.t))
}

func (e *env) run(req *bot.Request) bot.Response {
	e.t.Helper()
	h, _ := e.router.Route(req)
	resp, err := h(e.ctx(), req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Command, req.Text, err)
	}
	return resp
}

// cmd runs "/incident text" as user in channel. Text is what Slack
// delivers: escaped, mentions as <@U…>.
func (e *env) cmd(user, channel, text string) bot.Response {
	e.t.Helper()
	n := e.n.Add(1)
	return e.run(&bot.Request{Kind: bot.KindCommand, Command: "/incident", Text: text, UserID: user, ChannelID: channel,
		TriggerID: fmt.Sprintf("trigger-%d", n), DedupeKey: fmt.Sprintf("trigger-%d", n)})
}

// pin has user say text in channel and pinner pin it.
func (e *env) pin(channel, user, text, pinner string) {
	e.t.Helper()
	ref, err := e.ws.Say(channel, user, text)
	if err != nil {
		e.t.Fatal(err)
	}
	e.run(&bot.Request{Kind: bot.KindEvent, UserID: pinner, ChannelID: channel, Event: &bot.Event{ID: "Ev" + ref.TS,
		Type: bot.EventReactionAdded, Reaction: "pushpin", Item: ref, ItemUser: user, Time: e.clock.Now()}})
}

// appendEvent records an event the way another family would.
func (e *env) appendEvent(ev bot.TimelineEvent) {
	e.t.Helper()
	ev.ID = uuid.New()
	if ev.Time.IsZero() {
		ev.Time = e.clock.Now()
	}
	if err := e.tl.Append(e.ctx(), ev); err != nil {
		e.t.Fatal(err)
	}
}

// channelOf returns the channel of incident key.
func (e *env) channelOf(key string) string {
	e.t.Helper()
	doc, err := e.svc.Document(e.ctx(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return doc.Incident.Channel
}

// link is what /incident link gives user in the incident's channel.
func (e *env) link(key string) string {
	e.t.Helper()
	resp := e.cmd("U0ALICE", e.channelOf(key), "link")
	text := resp.Message.Text
	i, j := strings.Index(text, "<"), strings.Index(text, "|")
	if i < 0 || j < i {
		e.t.Fatalf("no link in %q", text)
	}
	return text[i+1 : j]
}

// get fetches url and returns the response and its body.
func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// walk runs a small incident with hostile text everywhere a person types:
// the title, notes, an update, a pinned message and a name, and in an
// alert's labels. It returns the incident's key.
func (e *env) walk() string {
	e.t.Helper()
	title := bot.EscapeText(`checkout <script>document.title='pwned'</script> errors`)
	e.cmd("U0ALICE", "C0GENERAL", "declare sev2 "+title)
	key := "INC-1"
	ch := e.channelOf(key)
	// An alert of a linked group fires and later resolves; the alerts
	// family stores its raw text escaped (QuoteRaw).
	alert := map[string]string{"group": "g1", "fingerprint": "fp1", "alertname": bot.QuoteRaw("DiskFull <b>db</b>"),
		"labels":    bot.QuoteRaw(`alertname=DiskFull, instance=<script>document.title='pwned'</script>`),
		"starts_at": t0.Add(30 * time.Second).Format(time.RFC3339Nano)}
	e.appendEvent(bot.TimelineEvent{Incident: key, Type: bot.TLAlertFiring, Actor: "opsbot", Time: t0.Add(30 * time.Second),
		Text: bot.QuoteRaw("Disk <b>full</b> on <!channel>"), Details: alert})
	e.appendEvent(bot.TimelineEvent{Incident: key, Type: bot.TLAlertResolved, Actor: "opsbot", Time: t0.Add(20 * time.Minute),
		Text: bot.QuoteRaw("Disk <b>full</b> on <!channel>"), Details: alert})
	e.clock.Add(2 * time.Minute)
	e.cmd("U0ALICE", ch, "commander <@U0BOB|bob>")
	e.cmd("U0BOB", ch, "role scribe <@U0MAL|mallory>")
	e.clock.Add(3 * time.Minute)
	e.cmd("U0BOB", ch, "sev sev1")
	e.cmd("U0BOB", ch, "note "+bot.EscapeText(`LB 502s </li></ol><img src=x onerror="document.body.appendChild(document.createElement('pwned'))"> <b>unclosed`)+
		" see <https://grafana.example/d/1?a=1&amp;b=2|the dashboard>")
	e.clock.Add(time.Minute)
	e.pin(ch, "U0CAROL", "rollback started by <@U0BOB> "+bot.EscapeText(`<a href="javascript:alert(1)">x</a>`), "U0BOB")
	// Raw markup as an API client or another family could store it.
	e.appendEvent(bot.TimelineEvent{Incident: key, Type: bot.TLNote, Actor: "U0MAL",
		Text: `<javascript:document.title='pwned'|click me> <data:text/html,<script>alert(1)</script>|data> <https://x.example/" onmouseover="alert(1)|quote>`})
	e.clock.Add(time.Minute)
	e.cmd("U0CAROL", ch, "update "+bot.EscapeText(`rolling back; "quotes" & <ampersands>`))
	e.appendEvent(bot.TimelineEvent{Incident: key, Type: bot.TLRunbook, Actor: "U0BOB", Text: "restart-deployment",
		Details: map[string]string{"runbook": "restart-deployment", "event": string(bot.AuditFinished), "exit_code": "0", "duration": "4s"}})
	e.clock.Add(10 * time.Minute)
	e.cmd("U0BOB", ch, "status monitoring")
	e.clock.Add(20 * time.Minute)
	e.cmd("U0BOB", ch, "resolve "+bot.EscapeText("rolled back release 42 <script>"))
	e.cmd("U0BOB", ch, "followup "+bot.EscapeText(`add a <canary> & "alert"`)+" <https://wiki.example/runbook|the runbook> <@U0MAL|mallory> due 2026-03-20")
	return key
}
