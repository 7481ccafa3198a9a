package slack

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// BenchmarkSlashCommandAck measures one slash command's round trip from the
// fake sending the envelope to receiving the ack, through the real socketmode
// client, the listener and the engine's queue. The handler answers nothing,
// so no Web API call competes with the ack.
func BenchmarkSlashCommandAck(b *testing.B) {
	var runs atomic.Int64
	e := newEnv(b, func(r *bot.Router, _ *Client) {
		r.Family(&bot.Family{Name: "/bench", Default: func(context.Context, *bot.Request) (bot.Response, error) {
			runs.Add(1)
			return bot.Response{}, nil
		}})
	})
	ctx := waitCtx(b)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent, err := e.fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/bench", UserID: alice, ChannelID: e.general})
		if err != nil {
			b.Fatal(err)
		}
		ack, err := e.fs.WaitAck(ctx, sent.EnvelopeID)
		if err != nil {
			b.Fatal(err)
		}
		total += ack.Received.Sub(ack.Sent)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/ack")
}

// BenchmarkHelpAnsweredInAck measures a slash command answered in its ack
// (help of a family the size of /incident's), through the real socketmode
// client, the listener, the router and the ack rendering: the path of every
// help, usage and argument error. -benchmem shows the allocation per
// envelope, fake Slack included.
func BenchmarkHelpAnsweredInAck(b *testing.B) {
	e := newEnv(b, func(r *bot.Router, _ *Client) {
		f := &bot.Family{Name: "/bench", Description: "a family the size of /incident"}
		for i := range 12 {
			f.Commands = append(f.Commands, bot.Command{Name: fmt.Sprintf("cmd%d", i), Usage: fmt.Sprintf("cmd%d ARG [MORE…]", i),
				Description: "does one of the twelve things this family does, described in a sentence",
				Handler:     func(context.Context, *bot.Request) (bot.Response, error) { return bot.Response{}, nil }})
		}
		r.Family(f)
	})
	ctx := waitCtx(b)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent, err := e.fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/bench", Text: "help", UserID: alice, ChannelID: e.general})
		if err != nil {
			b.Fatal(err)
		}
		ack, err := e.fs.WaitAck(ctx, sent.EnvelopeID)
		if err != nil {
			b.Fatal(err)
		}
		if len(ack.Payload) == 0 {
			b.Fatal("help not answered in the ack")
		}
		total += ack.Received.Sub(ack.Sent)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/ack")
}

// BenchmarkHelpAnswer is opsbot's own work for a help answered in the ack,
// without the websocket: route the request, render the answer and check
// its size.
func BenchmarkHelpAnswer(b *testing.B) {
	r := bot.NewRouter()
	f := &bot.Family{Name: "/bench", Description: "a family the size of /incident"}
	for i := range 12 {
		f.Commands = append(f.Commands, bot.Command{Name: fmt.Sprintf("cmd%d", i), Usage: fmt.Sprintf("cmd%d ARG [MORE…]", i),
			Description: "does one of the twelve things this family does, described in a sentence",
			Handler:     func(context.Context, *bot.Request) (bot.Response, error) { return bot.Response{}, nil }})
	}
	r.Family(f)
	c, _, _ := newClient(b, fakeslack.New(b))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := &bot.Request{Kind: bot.KindCommand, Command: "/bench", Text: "help", UserID: alice, ChannelID: "C1"}
		im, ok := r.Immediate(req)
		if !ok {
			b.Fatal("help not immediate")
		}
		if _, fits := c.ackAnswer("0123456789abcdef0123456789abcdef0123", im.Response); !fits {
			b.Fatal("help does not fit an ack")
		}
	}
}
