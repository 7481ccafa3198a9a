package slack

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// calc is a family whose add command parses its argument (answered in the
// ack when wrong) and does its work in a handler that can be held, to show
// what is answered where.
type calc struct {
	runs    atomic.Int32
	release chan struct{}
	// bigHelp makes the family's help too big for an ack.
	bigHelp bool
}

func (k *calc) register(r *bot.Router, _ *Client) {
	f := &bot.Family{Name: "/calc", Description: "adds", Commands: []bot.Command{{
		Name: "add", Usage: "add N", Description: "add one to N",
		Parse: bot.Parser(func(in bot.Args) (int, error) {
			if len(in.Words) != 1 {
				return 0, bot.Userf("Usage: `/calc add N`")
			}
			n, err := strconv.Atoi(in.Words[0])
			if err != nil {
				return 0, bot.Userf("`%s` is not a number.", bot.Quote(in.Words[0]))
			}
			return n, nil
		}),
		Handler: bot.WithParsed(func(ctx context.Context, _ *bot.Request, n int) (bot.Response, error) {
			k.runs.Add(1)
			if k.release != nil {
				select {
				case <-k.release:
				case <-ctx.Done():
					return bot.Response{}, ctx.Err()
				}
			}
			return bot.Reply("sum " + strconv.Itoa(n+1)), nil
		}),
	}}}
	if k.bigHelp {
		for i := range 400 {
			f.Commands = append(f.Commands, bot.Command{Name: "op" + strconv.Itoa(i), Usage: "op" + strconv.Itoa(i) + " ARGS…",
				Description: strings.Repeat("does a thing ", 5), Handler: f.Commands[0].Handler})
		}
	}
	r.Family(f)
}

func (e *testEnv) calc(t *testing.T, text string) fakeslack.Sent {
	t.Helper()
	sent, err := e.fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/calc", Text: text, UserID: alice, ChannelID: e.general})
	if err != nil {
		t.Fatalf("send /calc %s: %v", text, err)
	}
	return sent
}

// TestNoIOAnswersTravelInTheAck: help, usage, an unknown subcommand and an
// argument error reach the user in the ack, through the real slack-go
// client: no Web API call, no handler run.
func TestNoIOAnswersTravelInTheAck(t *testing.T) {
	k := &calc{}
	e := newEnv(t, k.register)
	tests := []struct{ name, text, want string }{
		{"help", "help", "`/calc add N` — add one to N"},
		{"no text shows help", "", "/calc help"},
		{"unknown subcommand", "mul 2 3", "I do not know `/calc mul`"},
		{"usage", "add", "Usage: `/calc add N`"},
		{"validation", "add two", "`two` is not a number."},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := e.calc(t, tt.text)
			ack, err := e.fs.WaitAck(waitCtx(t), sent.EnvelopeID)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				ResponseType string            `json:"response_type"`
				Text         string            `json:"text"`
				Blocks       []json.RawMessage `json:"blocks"`
			}
			if err := json.Unmarshal(ack.Payload, &p); err != nil {
				t.Fatalf("ack payload %s: %v", ack.Payload, err)
			}
			if p.ResponseType != "ephemeral" || !strings.Contains(p.Text, tt.want) || len(p.Blocks) == 0 {
				t.Errorf("ack payload = %s, want an ephemeral answer with blocks containing %q", ack.Payload, tt.want)
			}
			eph := e.fs.Ephemerals(e.general, alice)
			if len(eph) != i+1 || eph[i].Via != "ack" || !strings.Contains(eph[i].Rendered(), tt.want) {
				t.Errorf("alice sees %+v, want %q shown from the ack", eph, tt.want)
			}
		})
	}
	if calls := e.fs.Calls("chat.postEphemeral", "chat.postMessage", "response_url"); len(calls) != 0 {
		t.Errorf("Web API calls = %+v, want none", calls)
	}
	if got := k.runs.Load(); got != 0 {
		t.Errorf("handler ran %d times, want 0", got)
	}
	// The listener counts an ack and records the answer once slack-go has
	// queued it, which may be after the fake has read it: wait for that
	// bookkeeping rather than race it.
	waitFor(t, "the acks counted and the refusals logged", func() bool {
		return testutil.ToFloat64(e.client.metrics.acked.WithLabelValues("slash_commands")) == float64(len(tests)) &&
			len(e.logs.FilterMessage("request refused").All()) >= 2
	})
	refused := e.logs.FilterMessage("request refused").All()
	if len(refused) != 2 {
		t.Fatalf("refusal log lines = %d, want 2 (usage, validation)", len(refused))
	}
	for _, l := range refused {
		if l.ContextMap()["envelope_id"] == "" || l.ContextMap()["route"] != "/calc add" {
			t.Errorf("refusal logged as %v, want envelope_id and route", l.ContextMap())
		}
	}
}

// TestIOCommandAcksFirstThenReplies: a command that needs its handler is
// acknowledged plainly while the handler is still running, and its answer
// is posted afterwards; it is parsed once, before the ack.
func TestIOCommandAcksFirstThenReplies(t *testing.T) {
	k := &calc{release: make(chan struct{})}
	e := newEnv(t, k.register)
	sent := e.calc(t, "add 41")
	ack, err := e.fs.WaitAck(waitCtx(t), sent.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Payload != nil {
		t.Errorf("ack payload = %s, want a plain ack", ack.Payload)
	}
	if n := len(e.fs.Ephemerals(e.general, alice)); n != 0 {
		t.Errorf("answered before the handler finished: %d ephemerals", n)
	}
	close(k.release)
	eph := e.waitEphemeral(t, e.general, alice, "sum 42")
	if eph.Via != "chat.postEphemeral" || eph.Time.Before(ack.Received) {
		t.Errorf("answer %+v, want it posted with chat.postEphemeral after the ack at %v", eph, ack.Received)
	}
	if got := k.runs.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
}

// TestAnswerTooBigForTheAckIsPosted: an answer over Slack's ack limit is not
// sent in the ack (Slack would drop it whole); the envelope is acked plainly
// and the same answer is posted.
func TestAnswerTooBigForTheAckIsPosted(t *testing.T) {
	k := &calc{bigHelp: true}
	e := newEnv(t, k.register)
	sent := e.calc(t, "help")
	ack, err := e.fs.WaitAck(waitCtx(t), sent.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Payload != nil {
		t.Errorf("ack payload of %d bytes, want a plain ack", len(ack.Payload))
	}
	eph := e.waitEphemeral(t, e.general, alice, "`/calc op100 ARGS…`")
	if eph.Via != "chat.postEphemeral" {
		t.Errorf("big help shown via %s, want chat.postEphemeral", eph.Via)
	}
	if got := e.fs.DroppedAcks(); got != 0 {
		t.Errorf("fake dropped %d acks, want 0", got)
	}
	if got := len(e.logs.FilterMessage("answer too big for the ack; posting it").All()); got != 1 {
		t.Errorf("too-big log lines = %d, want 1", got)
	}
	// A small answer of the same family still goes in the ack.
	sent = e.calc(t, "add x")
	ack, err = e.fs.WaitAck(waitCtx(t), sent.EnvelopeID)
	if err != nil || !strings.Contains(string(ack.Payload), "is not a number") {
		t.Errorf("ack = %s, %v; want the validation error in it", ack.Payload, err)
	}
}

func TestAckAnswerSize(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123"
	for _, n := range []int{10, 3000, 30000} {
		resp := bot.Reply(strings.Repeat("y", n))
		p, fits := ackAnswer(id, resp)
		wire, _ := json.Marshal(map[string]any{"envelope_id": id, "payload": p})
		if fits != (len(wire) < maxAck) {
			t.Errorf("%d bytes of text: fits = %v, but the ack is %d bytes on the wire (limit %d)", n, fits, len(wire), maxAck)
		}
	}
	// Rendered once, kept, and checked against each envelope's own size.
	c, _, _ := newClient(t, fakeslack.New(t))
	first, _ := c.ackAnswer(id, bot.Reply("the help"))
	again, fits := c.ackAnswer(id+"-longer", bot.Reply("the help"))
	if c.answers.Len() != 1 || string(first) != string(again) || !fits {
		t.Errorf("cache holds %d answers, second render %s (fits %v), want the first kept: %s", c.answers.Len(), again, fits, first)
	}
	if _, fits := c.ackAnswer(strings.Repeat("e", maxAck), bot.Reply("the help")); fits {
		t.Error("a kept answer fits whatever the envelope ID's length")
	}
	p, _ := ackAnswer(id, bot.Say("for all"))
	if !strings.Contains(string(p), `"response_type":"in_channel"`) {
		t.Errorf("in-channel answer = %s", p)
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline: for state that no fake can signal (the listener's own metrics
// and logs).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := waitCtx(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
