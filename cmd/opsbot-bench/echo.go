package main

import (
	"context"
	"io"
	"log"
	"sync"
	"sync/atomic"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// echoClient is the floor: slack-go's socketmode client acking every
// envelope as it arrives and doing nothing else, so the difference to the
// bot is what opsbot adds on the ack path.
type echoClient struct {
	ackErrors atomic.Int64
	wg        sync.WaitGroup
	cancel    context.CancelFunc
}

func startEcho(ctx context.Context, fs *fakeslack.Server) *echoClient {
	ctx, cancel := context.WithCancel(ctx)
	e := &echoClient{cancel: cancel}
	api := slack.New(fs.BotToken(), slack.OptionAppLevelToken(fs.AppToken()), slack.OptionAPIURL(fs.APIURL()))
	smc := socketmode.New(api, socketmode.OptionLog(log.New(io.Discard, "", 0)))
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		_ = smc.RunContext(ctx)
	}()
	go func() {
		defer e.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-smc.Events:
				if evt.Request == nil {
					continue
				}
				if err := smc.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
					e.ackErrors.Add(1)
				}
			}
		}
	}()
	return e
}

// stop ends the client and waits for its goroutines.
func (e *echoClient) stop() {
	e.cancel()
	e.wg.Wait()
}
