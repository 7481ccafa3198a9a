package slack

import (
	"context"
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
