package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// workspace is what the load is sent from: one channel and one user per
// command, so that each reply (an ephemeral to its user) is matched to its
// command.
type workspace struct {
	channel string
	users   []string
}

func benchUser(i int) string { return fmt.Sprintf("U0BENCH%06d", i) }

const benchAdmin = "U0BENCHADMIN"

// setUpWorkspace adds users for count commands, the admin, the command
// channel and the broadcast channel to fs.
func setUpWorkspace(fs *fakeslack.Server, count int) (workspace, string) {
	ws := workspace{users: make([]string, count)}
	fs.AddUser(fakeslack.User{ID: benchAdmin, Name: "bench-admin", RealName: "Bench Admin", Email: "bench-admin@example.com"})
	for i := range ws.users {
		ws.users[i] = benchUser(i)
		fs.AddUser(fakeslack.User{ID: ws.users[i], Name: fmt.Sprintf("bench%d", i), Email: fmt.Sprintf("bench%d@example.com", i)})
	}
	ws.channel = fs.AddChannel("bench", append([]string{benchAdmin}, ws.users...)...)
	broadcast := fs.AddChannel("incidents", benchAdmin)
	return ws, broadcast
}

// load is one batch of slash commands.
type load struct {
	command, text string
	// users send one command each, in order.
	users []string
	// rate is commands per second; 0 sends as fast as the concurrency
	// bound allows.
	rate        float64
	concurrency int
}

// sample is one request sent.
type sample struct {
	envelopeID string
	user       string
	// key finds the reply: the user's ID (an ephemeral answer, in the ack
	// or posted), or a token the reply's text carries (tokenPrefix…).
	key  string
	kind string
	sent time.Time
}

// tokenPrefix starts the tokens that mark requests answered by a channel
// message rather than an ephemeral one (status updates).
const tokenPrefix = "benchtok"

var tokenRE = regexp.MustCompile(tokenPrefix + `[0-9]+`)

// send pushes the batch through fs. At a rate it is open-loop: a command
// leaves at its scheduled time whether or not earlier ones were acked, as
// users do not wait for each other. Without a rate it is closed-loop: command
// i waits for the ack of command i-concurrency.
func send(ctx context.Context, fs *fakeslack.Server, channel string, l load) ([]sample, error) {
	out := make([]sample, 0, len(l.users))
	var interval time.Duration
	if l.rate > 0 {
		interval = time.Duration(float64(time.Second) / l.rate)
	}
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i, user := range l.users {
		switch {
		case interval > 0:
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return out, fmt.Errorf("sending command %d of %d: %w", i+1, len(l.users), ctx.Err())
				}
			}
		case i >= l.concurrency:
			// Acks come back almost in order, so waiting for the oldest
			// command in the window is a cheap in-flight bound.
			if _, err := fs.WaitAck(ctx, out[i-l.concurrency].envelopeID); err != nil {
				return out, fmt.Errorf("waiting for room in the window: %w", err)
			}
		}
		s, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: l.command, Text: l.text, UserID: user, ChannelID: channel})
		if err != nil {
			return out, fmt.Errorf("send command %d of %d: %w", i+1, len(l.users), err)
		}
		out = append(out, sample{envelopeID: s.EnvelopeID, user: user, key: user, sent: s.At})
	}
	return out, nil
}

// pollEvery is how often completion is checked. The figures come from the
// fake's own timestamps, so it affects only how soon the tool notices the end,
// not what it measures; checking on every change of the fake would copy its
// whole ack list each time and slow the fake under load.
const pollEvery = 10 * time.Millisecond

// collectAcks waits until every sample is acked, or ctx ends, and returns
// the acks found by envelope ID.
func collectAcks(ctx context.Context, fs *fakeslack.Server, samples []sample) (map[string]ackTimes, error) {
	want := make(map[string]bool, len(samples))
	for _, s := range samples {
		want[s.envelopeID] = true
	}
	got := make(map[string]ackTimes, len(samples))
	err := poll(ctx, func() bool {
		for _, a := range fs.Acks() {
			if want[a.EnvelopeID] {
				if _, seen := got[a.EnvelopeID]; !seen {
					got[a.EnvelopeID] = ackTimes{sent: a.Sent, received: a.Received, size: a.Size}
				}
			}
		}
		return len(got) == len(want)
	})
	if err != nil {
		return got, fmt.Errorf("%d of %d commands acked: %w", len(got), len(want), err)
	}
	return got, nil
}

// replyStall is how long collectReplies waits without a new reply before
// giving up: a command that never answers with an ephemeral message must not
// hold the run until -timeout.
const replyStall = 10 * time.Second

// collectReplies waits until every sample has its answer and returns when
// each first reached the fake, by sample key: an ephemeral message to the
// sample's user (in the ack, by chat.postEphemeral or a response URL), or a
// chat.postMessage carrying its token. It gives up when ctx ends or no reply
// came for replyStall.
func collectReplies(ctx context.Context, fs *fakeslack.Server, samples []sample) (map[string]time.Time, error) {
	want := make(map[string]bool, len(samples))
	tokens := false
	for _, s := range samples {
		want[s.key] = true
		tokens = tokens || strings.HasPrefix(s.key, tokenPrefix)
	}
	got := make(map[string]time.Time, len(samples))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	progress := time.Now()
	seen := func(key string, at time.Time) {
		if want[key] {
			if t, ok := got[key]; !ok || at.Before(t) {
				got[key] = at
			}
		}
	}
	err := poll(ctx, func() bool {
		before := len(got)
		for _, e := range fs.Ephemerals("", "") {
			seen(e.User, e.Time)
		}
		if tokens {
			for _, c := range fs.Calls("chat.postMessage") {
				if c.Status == http.StatusOK && c.Error == "" {
					for _, tok := range tokenRE.FindAllString(c.Params.Get("text"), -1) {
						seen(tok, c.Time)
					}
				}
			}
		}
		if len(got) > before {
			progress = time.Now()
		} else if time.Since(progress) > replyStall {
			cancel(fmt.Errorf("no new reply for %s", replyStall))
		}
		return len(got) == len(want)
	})
	if c := context.Cause(ctx); err != nil && c != nil {
		err = c
	}
	if err != nil {
		return got, fmt.Errorf("%d of %d replies seen (the command must answer): %w", len(got), len(want), err)
	}
	return got, nil
}

func poll(ctx context.Context, done func() bool) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for !done() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
