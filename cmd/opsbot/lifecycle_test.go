package main

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// gatedChat holds the update reminder's post until the test releases it,
// as a Slack call still in flight when shutdown begins; the call completes
// then, as such a call may.
type gatedChat struct {
	frontEnd
	entered  chan struct{} // the reminder's post has started
	canceled chan struct{} // its context ended (shutdown reached the schedulers)
	release  chan struct{}
	once     sync.Once
	mu       sync.Mutex
	posted   int
}

func (g *gatedChat) Post(ctx context.Context, msg bot.Message) (bot.MessageRef, error) {
	if !strings.Contains(msg.Text, ":bell:") {
		return g.frontEnd.Post(ctx, msg)
	}
	g.once.Do(func() { close(g.entered) })
	go func() {
		select {
		case <-ctx.Done():
			close(g.canceled)
		case <-g.release:
		}
	}()
	<-g.release
	ref, err := g.frontEnd.Post(context.WithoutCancel(ctx), msg)
	if err == nil {
		g.mu.Lock()
		g.posted++
		g.mu.Unlock()
	}
	return ref, err
}

// TestShutdownStopsSchedulersBeforeClosingTheTimeline catches a reminder
// in the middle of being posted when shutdown begins. Shutdown must stop
// the schedulers, and let that reminder finish, before it closes the
// timeline: every reminder posted in the channel is on the timeline. In the
// old order (requests, then flush and close the timeline, then stop the
// background loops) the reminder was posted and its event refused by the
// closed timeline.
func TestShutdownStopsSchedulersBeforeClosingTheTimeline(t *testing.T) {
	clock := bottest.NewClock(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	gate := &gatedChat{frontEnd: newConsoleWorkspace(io.Discard, clock),
		entered: make(chan struct{}), canceled: make(chan struct{}), release: make(chan struct{})}
	cfg := config.Config{File: config.File{Admins: []string{"U0ALICE"}}}
	a, err := buildApp(cfg, appDeps{Chat: gate, Redis: redistest.New(t), Clock: clock, Logger: zaptest.NewLogger(t),
		SpoolDir: t.TempDir(), TeamID: consoleTeam})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	a.engine.Handle(ctx, &bot.Request{Kind: bot.KindCommand, EnvelopeID: "E1", Command: "/incident",
		Text: "declare sev2 disk full", UserID: "U0ALICE", ChannelID: "C0GENERAL", TeamID: consoleTeam})
	// An hour without an update: the scheduler's first round reminds.
	clock.Add(time.Hour)
	a.start(context.Background())
	select {
	case <-gate.entered:
	case <-ctx.Done():
		t.Fatal("no reminder was posted")
	}

	shutdownErr := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shutdownErr <- a.shutdown(sctx)
	}()
	// The post completes once shutdown has either stopped the schedulers
	// (the right order) or finished without them (the old one).
	var err2 error
	select {
	case <-gate.canceled:
	case err2 = <-shutdownErr:
		shutdownErr <- err2
	}
	close(gate.release)
	if err := <-shutdownErr; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	// As the old order did after shutdown: stop the background loops (a
	// no-op now) before looking.
	a.running.stopSchedulers()
	a.running.schedulers.Wait()

	evs, err := a.timeline.Events(ctx, "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, ev := range evs {
		if ev.Type == bot.TLReminder {
			recorded++
		}
	}
	gate.mu.Lock()
	posted := gate.posted
	gate.mu.Unlock()
	if posted != 1 || recorded != posted {
		t.Fatalf("%d reminders posted in the channel, %d on the timeline; want 1 and 1", posted, recorded)
	}
}
