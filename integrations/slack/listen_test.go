package slack

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

const alice = "U0ALICE"

// testEnv is a Client listening to a fake Slack with a real engine.
type testEnv struct {
	fs      *fakeslack.Server
	client  *Client
	engine  *bot.Engine
	general string
	logs    *observer.ObservedLogs
	reg     *prometheus.Registry
}

type envOption func(*Client)

func newClient(t testing.TB, fs *fakeslack.Server, opts ...envOption) (*Client, *observer.ObservedLogs, *prometheus.Registry) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	var shown zapcore.Core = zaptest.NewLogger(t).Core()
	if _, bench := t.(*testing.B); bench {
		// Benchmarks print logs whether or not they fail.
		shown = zapcore.NewNopCore()
	}
	logger := zap.New(zapcore.NewTee(core, shown))
	reg := prometheus.NewRegistry()
	c, err := New(Config{AppToken: fs.AppToken(), BotToken: fs.BotToken(), APIURL: fs.APIURL(), Logger: logger, Registerer: reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, o := range opts {
		o(c)
	}
	return c, logs, reg
}

func newEnv(t testing.TB, register func(r *bot.Router, c *Client), opts ...envOption) *testEnv {
	t.Helper()
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice", RealName: "Alice", Email: "alice@example.com"})
	general := fs.AddChannel("general", alice)
	client, logs, reg := newClient(t, fs, opts...)
	router := bot.NewRouter()
	if register != nil {
		register(router, client)
	}
	// One worker keeps requests in order, so a later request's reply proves
	// the earlier ones were handled.
	engine, err := bot.NewEngine(bot.EngineConfig{Router: router, Responder: client, Logger: client.log, Workers: 1})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go engine.Run(context.Background())
	done := make(chan error, 1)
	go func() { done <- client.Listen(ctx, engine) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Listen returned %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Listen did not return after cancel")
		}
		_ = engine.Close(context.Background())
	})
	if err := fs.WaitConnections(waitCtx(t), 1); err != nil {
		t.Fatalf("no socket mode connection: %v", err)
	}
	return &testEnv{fs: fs, client: client, engine: engine, general: general, logs: logs, reg: reg}
}

func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echo is a tiny command family: say posts in channel, whisper answers
// ephemerally, count counts its runs.
func echo(runs *atomic.Int32) func(r *bot.Router, c *Client) {
	return func(r *bot.Router, c *Client) {
		r.Family(&bot.Family{Name: "/echo", Commands: []bot.Command{
			{Name: "say", Usage: "say TEXT", Handler: func(_ context.Context, req *bot.Request) (bot.Response, error) {
				return bot.Say(strings.TrimPrefix(req.Text, "say ")), nil
			}},
			{Name: "whisper", Usage: "whisper TEXT", Handler: func(_ context.Context, req *bot.Request) (bot.Response, error) {
				return bot.Reply(strings.TrimPrefix(req.Text, "whisper ")), nil
			}},
			{Name: "count", Usage: "count", Handler: func(_ context.Context, req *bot.Request) (bot.Response, error) {
				n := runs.Add(1)
				return bot.Reply("counted " + string(rune('0'+n))), nil
			}},
		}})
	}
}

func (e *testEnv) waitMessage(t *testing.T, channel, text string) fakeslack.Message {
	t.Helper()
	var found fakeslack.Message
	err := e.fs.WaitUntil(waitCtx(t), func() bool {
		for _, m := range e.fs.Messages(channel) {
			if strings.Contains(m.Rendered(), text) {
				found = m
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no message containing %q in %s; got %+v", text, channel, e.fs.Messages(channel))
	}
	return found
}

func (e *testEnv) waitEphemeral(t *testing.T, channel, user, text string) fakeslack.Ephemeral {
	t.Helper()
	var found fakeslack.Ephemeral
	err := e.fs.WaitUntil(waitCtx(t), func() bool {
		for _, m := range e.fs.Ephemerals(channel, user) {
			if strings.Contains(m.Rendered(), text) {
				found = m
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no ephemeral containing %q for %s in %s; got %+v", text, user, channel, e.fs.Ephemerals("", ""))
	}
	return found
}

func (e *testEnv) command(t *testing.T, text string) fakeslack.Sent {
	t.Helper()
	sent, err := e.fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/echo", Text: text, UserID: alice, ChannelID: e.general})
	if err != nil {
		t.Fatalf("send /echo %s: %v", text, err)
	}
	return sent
}

func TestSlashCommandIsAckedThenAnswered(t *testing.T) {
	e := newEnv(t, echo(new(atomic.Int32)))

	sent := e.command(t, "say hello world")
	ack, err := e.fs.WaitAck(waitCtx(t), sent.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Payload != nil {
		t.Errorf("ack payload = %s, want a plain ack", ack.Payload)
	}
	m := e.waitMessage(t, e.general, "hello world")
	if m.BotID == "" {
		t.Errorf("reply posted by %q, want the bot", m.User)
	}

	sent = e.command(t, "whisper psst")
	e.waitEphemeral(t, e.general, alice, "psst")
	if got := e.fs.Calls("chat.postEphemeral"); len(got) != 1 {
		t.Errorf("chat.postEphemeral calls = %d, want 1", len(got))
	}

	if got := testutil.ToFloat64(e.client.metrics.acked.WithLabelValues("slash_commands")); got != 2 {
		t.Errorf("acked slash_commands = %v, want 2", got)
	}
	if got := testutil.CollectAndCount(e.client.metrics.ackLatency); got != 1 {
		t.Errorf("ack latency histogram series = %d, want 1", got)
	}
	if !e.client.Connected() {
		t.Error("Connected() = false while connected")
	}
	// Every line about the envelope carries its ID.
	for _, entry := range e.logs.FilterMessage("envelope acknowledged").All() {
		if entry.ContextMap()["envelope_id"] == "" {
			t.Errorf("log %q has no envelope_id", entry.Message)
		}
	}
	_ = sent
}

func TestRedeliveredEnvelopeRunsOnce(t *testing.T) {
	var runs atomic.Int32
	e := newEnv(t, echo(&runs))

	sent := e.command(t, "count")
	if _, err := e.fs.WaitAck(waitCtx(t), sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	e.waitEphemeral(t, e.general, alice, "counted 1")

	// Slack retries the same envelope, and delivers the same trigger in a
	// new envelope (another connection or replica).
	re, err := e.fs.Redeliver(sent.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.WaitAck(waitCtx(t), re.EnvelopeID); err != nil {
		t.Fatalf("redelivery not acked: %v", err)
	}
	cp, err := e.fs.Resend(sent.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	if cp.EnvelopeID == sent.EnvelopeID || cp.TriggerID != sent.TriggerID {
		t.Fatalf("copy has envelope %s trigger %s, want a new envelope with trigger %s", cp.EnvelopeID, cp.TriggerID, sent.TriggerID)
	}
	if _, err := e.fs.WaitAck(waitCtx(t), cp.EnvelopeID); err != nil {
		t.Fatalf("copy not acked: %v", err)
	}
	// A later command's reply proves the duplicates went through the
	// single worker before it.
	e.command(t, "say after")
	e.waitMessage(t, e.general, "after")

	if got := runs.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
	if got := len(e.fs.Ephemerals(e.general, alice)); got != 1 {
		t.Errorf("ephemeral replies = %d, want 1", got)
	}
}

func TestReconnectsAfterDropAndDisconnect(t *testing.T) {
	e := newEnv(t, echo(new(atomic.Int32)))

	e.fs.DropConnections()
	if err := e.fs.WaitConnections(waitCtx(t), 2); err != nil {
		t.Fatalf("no reconnect after drop: %v", err)
	}
	e.command(t, "say after drop")
	e.waitMessage(t, e.general, "after drop")

	e.fs.Disconnect("refresh_requested")
	if err := e.fs.WaitConnections(waitCtx(t), 3); err != nil {
		t.Fatalf("no reconnect after disconnect request: %v", err)
	}
	// Slack sends the next envelope on the new connection.
	err := e.fs.WaitUntil(waitCtx(t), func() bool { return e.fs.OpenConnections() == 1 })
	if err != nil {
		t.Fatalf("open connections = %d, want 1", e.fs.OpenConnections())
	}
	e.command(t, "say after refresh")
	e.waitMessage(t, e.general, "after refresh")
	if err := e.fs.WaitUntil(waitCtx(t), e.client.Connected); err != nil {
		t.Error("Connected() = false after reconnect")
	}
}

func TestInvalidViewSubmissionAckedWithErrors(t *testing.T) {
	var got []*bot.ViewSubmission
	var mu sync.Mutex
	register := func(r *bot.Router, c *Client) {
		r.Family(&bot.Family{Name: "/echo", Default: func(ctx context.Context, req *bot.Request) (bot.Response, error) {
			return bot.Response{}, c.OpenModal(ctx, req.TriggerID, bot.Modal{
				CallbackID: "declare", Title: "Declare an incident", Submit: "Declare", PrivateMetadata: req.ChannelID,
				Inputs: []bot.Input{
					{ID: "title", Label: "Title", Kind: bot.InputText},
					{ID: "severity", Label: "Severity", Kind: bot.InputSelect, Options: []string{"sev1", "sev2", "sev3"}, Initial: "sev3"},
				},
			})
		}})
		r.View("declare", bot.ViewRoute{
			Validate: func(v *bot.ViewSubmission) map[string]string {
				if strings.TrimSpace(v.Values["title"]) == "" {
					return map[string]string{"title": "Give the incident a title."}
				}
				return nil
			},
			Handler: func(_ context.Context, req *bot.Request) (bot.Response, error) {
				mu.Lock()
				got = append(got, req.View)
				mu.Unlock()
				return bot.Response{Visibility: bot.InChannel, Message: bot.Message{Channel: req.View.PrivateMetadata,
					Text: "declared " + req.View.Values["title"] + " " + req.View.Values["severity"]}}, nil
			},
		})
	}
	e := newEnv(t, register)

	e.command(t, "")
	if err := e.fs.WaitUntil(waitCtx(t), func() bool { return len(e.fs.Views()) == 1 }); err != nil {
		t.Fatal("modal not opened")
	}

	bad, err := e.fs.SendViewSubmission(fakeslack.ViewSubmission{UserID: alice, CallbackID: "declare",
		Values: map[string]string{"title": " ", "severity": "sev2"}})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := e.fs.WaitAck(waitCtx(t), bad.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	var payload struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(ack.Payload, &payload); err != nil {
		t.Fatalf("ack payload %s: %v", ack.Payload, err)
	}
	if payload.ResponseAction != "errors" || payload.Errors["title"] != "Give the incident a title." {
		t.Errorf("ack payload = %s, want response_action errors for title", ack.Payload)
	}

	good, err := e.fs.SendViewSubmission(fakeslack.ViewSubmission{UserID: alice, CallbackID: "declare",
		Values: map[string]string{"title": "checkout down", "severity": "sev2"}})
	if err != nil {
		t.Fatal(err)
	}
	ack, err = e.fs.WaitAck(waitCtx(t), good.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Payload != nil {
		t.Errorf("valid submission ack payload = %s, want plain ack", ack.Payload)
	}
	e.waitMessage(t, e.general, "declared checkout down sev2")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("view handler ran %d times, want 1 (the invalid submission must not run)", len(got))
	}
	if got[0].PrivateMetadata != e.general {
		t.Errorf("private metadata = %q, want %q", got[0].PrivateMetadata, e.general)
	}
}

func TestButtonClickReplacesOriginalAndAnswersEphemerally(t *testing.T) {
	register := func(r *bot.Router, c *Client) {
		r.Action("ack", func(_ context.Context, req *bot.Request) (bot.Response, error) {
			return bot.Response{ReplaceOriginal: true, Message: bot.Message{Text: "acknowledged by " + bot.MentionUser(req.UserID) + " value " + req.Action.Value}}, nil
		})
		r.Action("peek", func(_ context.Context, req *bot.Request) (bot.Response, error) {
			return bot.Reply("only you see this"), nil
		})
	}
	e := newEnv(t, register)
	ref, err := e.client.Post(context.Background(), bot.Message{Channel: e.general, Text: "page fired",
		Buttons: []bot.Button{{ID: "ack", Text: "Acknowledge", Value: "INC-1", Style: bot.ButtonPrimary}, {ID: "peek", Text: "Peek"}}})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := e.fs.SendBlockAction(fakeslack.BlockAction{UserID: alice, ChannelID: ref.Channel, MessageTS: ref.TS, ActionID: "ack", Value: "INC-1"}); err != nil {
		t.Fatal(err)
	}
	err = e.fs.WaitUntil(waitCtx(t), func() bool {
		m, _ := e.fs.Message(ref.Channel, ref.TS)
		return strings.Contains(m.Rendered(), "acknowledged by <@U0ALICE> value INC-1")
	})
	if err != nil {
		m, _ := e.fs.Message(ref.Channel, ref.TS)
		t.Fatalf("message not replaced: %q", m.Rendered())
	}

	if _, err := e.fs.SendBlockAction(fakeslack.BlockAction{UserID: alice, ChannelID: ref.Channel, MessageTS: ref.TS, ActionID: "peek"}); err != nil {
		t.Fatal(err)
	}
	eph := e.waitEphemeral(t, e.general, alice, "only you see this")
	if eph.Via != "response_url" {
		t.Errorf("click answered via %s, want response_url", eph.Via)
	}
}

func TestEventsBecomeRequests(t *testing.T) {
	events := make(chan bot.Event, 10)
	register := func(r *bot.Router, c *Client) {
		for _, typ := range []bot.EventType{bot.EventReactionAdded, bot.EventMessageChanged, bot.EventMessageDeleted} {
			r.Event(typ, func(_ context.Context, req *bot.Request) (bot.Response, error) {
				events <- *req.Event
				return bot.Response{}, nil
			})
		}
	}
	e := newEnv(t, register)
	ts := e.fs.AddMessage(e.general, alice, "the database is on fire", "")

	sent, err := e.fs.SendReaction(true, "U0BOB", "pushpin", e.general, ts)
	if err != nil {
		t.Fatal(err)
	}
	got := next(t, events)
	want := bot.Event{ID: sent.EventID, Type: bot.EventReactionAdded, Reaction: "pushpin",
		Item: bot.MessageRef{Channel: e.general, TS: ts}, ItemUser: alice}
	if got.ID != want.ID || got.Type != want.Type || got.Reaction != want.Reaction || got.Item != want.Item || got.ItemUser != want.ItemUser {
		t.Errorf("reaction event = %+v, want %+v", got, want)
	}
	if got.Time.IsZero() || got.Time.Location() != time.UTC {
		t.Errorf("event time = %v, want a UTC time", got.Time)
	}

	if _, err := e.fs.EditMessage(e.general, ts, "the database was on fire"); err != nil {
		t.Fatal(err)
	}
	got = next(t, events)
	if got.Type != bot.EventMessageChanged || got.Text != "the database was on fire" || got.Item.TS != ts {
		t.Errorf("edit event = %+v, want message_changed of %s with new text", got, ts)
	}

	if _, err := e.fs.DeleteMessage(e.general, ts); err != nil {
		t.Fatal(err)
	}
	got = next(t, events)
	if got.Type != bot.EventMessageDeleted || got.Item.TS != ts || got.ItemUser != alice {
		t.Errorf("delete event = %+v, want message_deleted of %s by %s", got, ts, alice)
	}

	// Redelivering an event runs it once.
	if _, err := e.fs.Redeliver(sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	e.command(t, "")
	select {
	case ev := <-events:
		t.Errorf("redelivered event ran again: %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func next(t *testing.T, ch <-chan bot.Event) bot.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return bot.Event{}
	}
}

func TestEphemeralFallsBackToResponseURL(t *testing.T) {
	e := newEnv(t, echo(new(atomic.Int32)))
	// The bot is not in the channel the command was typed in.
	e.fs.FailNext("chat.postEphemeral", "channel_not_found")
	e.command(t, "whisper where am I")
	eph := e.waitEphemeral(t, e.general, alice, "where am I")
	if eph.Via != "response_url" {
		t.Errorf("ephemeral via %s, want response_url", eph.Via)
	}
}

func TestUnreadableEnvelopeIsAcked(t *testing.T) {
	e := newEnv(t, echo(new(atomic.Int32)))
	raw := map[string]any{"envelope_id": "env-bad", "type": "events_api", "accepts_response_payload": false,
		"payload": map[string]any{"type": "event_callback", "event": map[string]any{"type": "no_such_event_type"}}}
	if err := e.fs.SendRaw(raw); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.WaitAck(waitCtx(t), "env-bad"); err != nil {
		t.Fatalf("unreadable envelope not acked: %v", err)
	}
}
