package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// mixedIncidents is how many incidents are open during the mixed workload.
const mixedIncidents = 100

// mixedKinds are the requests of the mixed workload, each with what answers
// it. The pattern repeats every ten requests: three notes, two pins, two
// updates, two runbook dry-runs and one declaration.
var mixedKinds = []struct{ name, answer string }{
	{"note", "an ephemeral \":memo: Added to the timeline\""},
	{"pin", "an ephemeral \":pushpin: Added to the timeline\" (reaction_added event)"},
	{"update", "the update posted in the incident channel"},
	{"dry-run", "an ephemeral with the argv and the decision"},
	{"declare", "an ephemeral \"Declared INC-N\""},
}

var mixedPattern = []string{"note", "pin", "update", "note", "dry-run", "note", "pin", "update", "declare", "dry-run"}

// planned is one request of the mixed workload.
type planned struct {
	kind, user, channel, text, ts string
}

// mixedUser is the fake user sending the i-th mixed request (one each, so
// every ephemeral answer is matched to its request).
func mixedUser(i int) string { return fmt.Sprintf("U0MIXED%06d", i) }

// mixed declares mixedIncidents incidents, then sends o.mixedN requests of
// mixedPattern across them at -mixed-rate, open-loop, and measures when each
// is answered.
func mixed(ctx context.Context, bot *opsbotTarget, o options, stderr io.Writer) (*MixedResult, error) {
	fs := bot.fs
	rate := o.mixedRate
	// Every request and every set-up declaration has its own user.
	total := mixedIncidents + o.mixedN
	for i := 0; i < total; i++ {
		fs.AddUser(fakeslack.User{ID: mixedUser(i), Name: fmt.Sprintf("mixed%d", i), Email: fmt.Sprintf("mixed%d@example.com", i)})
	}
	fmt.Fprintf(stderr, "opsbot-bench: declaring %d incidents\n", mixedIncidents)
	var setup []sample
	for i := 0; i < mixedIncidents; i++ {
		s, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: fmt.Sprintf("declare sev3 bench incident %d", i),
			UserID: mixedUser(i), ChannelID: bot.ws.channel})
		if err != nil {
			return nil, err
		}
		setup = append(setup, sample{envelopeID: s.EnvelopeID, user: mixedUser(i), key: mixedUser(i), sent: s.At})
		// A gentle start: declarations are the heaviest request.
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := collectReplies(ctx, fs, setup); err != nil {
		return nil, fmt.Errorf("declaring: %w", err)
	}
	var incidents []string
	for _, c := range fs.Channels() {
		if strings.HasPrefix(c.Name, "inc-") && strings.Contains(c.Name, "bench-incident") {
			incidents = append(incidents, c.ID)
		}
	}
	if len(incidents) < mixedIncidents {
		return nil, fmt.Errorf("%d incident channels after %d declarations", len(incidents), mixedIncidents)
	}
	sort.Strings(incidents)

	// Messages to pin, one per pin request, posted by the people before.
	plan := make([]planned, o.mixedN)
	for i := range plan {
		p := planned{kind: mixedPattern[i%len(mixedPattern)], user: mixedUser(mixedIncidents + i), channel: incidents[i%len(incidents)]}
		switch p.kind {
		case "note":
			p.text = fmt.Sprintf("note checked the dashboards, step %d", i)
		case "pin":
			p.ts = fs.AddMessage(p.channel, p.user, fmt.Sprintf("error rate back under 1%% (%d)", i), "")
		case "update":
			p.text = fmt.Sprintf("update rolled back the deploy %s%d", tokenPrefix, i)
		case "dry-run":
			p.channel, p.text = bot.ws.channel, fmt.Sprintf("run bench-probe host=h%d.example --dry-run", i)
		case "declare":
			p.channel, p.text = bot.ws.channel, fmt.Sprintf("declare sev4 bench extra %d", i)
		}
		plan[i] = p
	}

	var samples []sample
	sendAll := func() error {
		var err error
		samples, err = sendPlan(ctx, fs, plan, rate)
		return err
	}
	var err error
	if o.profile != "" {
		secs := max(int(float64(len(plan))/rate+0.999), 1)
		err = profiled(ctx, bot, o.profile, "mixed-", secs, sendAll)
	} else {
		err = sendAll()
	}
	if err != nil {
		return nil, err
	}
	acks, err := collectAcks(ctx, fs, samples)
	if err != nil {
		return nil, err
	}
	replies, err := collectReplies(ctx, fs, samples)
	if err != nil {
		return nil, err
	}
	res := result(batch{samples: samples, acks: acks, replies: replies})
	m := &MixedResult{N: len(samples), Rate: rate, Incidents: len(incidents), Ack: res.Ack, Reply: *res.Reply,
		SendRate: res.SendRate, ByKind: map[string]Summary{}}
	byKind := map[string][]time.Duration{}
	for _, s := range samples {
		if t, ok := replies[s.key]; ok {
			byKind[s.kind] = append(byKind[s.kind], t.Sub(s.sent))
		}
	}
	for k, lat := range byKind {
		m.ByKind[k] = summarize(lat)
	}
	return m, nil
}

// sendPlan sends the planned requests at rate, open-loop.
func sendPlan(ctx context.Context, fs *fakeslack.Server, plan []planned, rate float64) ([]sample, error) {
	interval := time.Duration(float64(time.Second) / rate)
	samples := make([]sample, 0, len(plan))
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i, p := range plan {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return samples, ctx.Err()
			}
		}
		var (
			sent fakeslack.Sent
			err  error
		)
		key := p.user
		switch p.kind {
		case "pin":
			sent, err = fs.SendReaction(true, p.user, "pushpin", p.channel, p.ts)
		case "dry-run":
			sent, err = fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/runbook", Text: p.text, UserID: p.user, ChannelID: p.channel})
		default:
			if p.kind == "update" {
				key = fmt.Sprintf("%s%d", tokenPrefix, i)
			}
			sent, err = fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: p.text, UserID: p.user, ChannelID: p.channel})
		}
		if err != nil {
			return samples, fmt.Errorf("send %s %d: %w", p.kind, i, err)
		}
		samples = append(samples, sample{envelopeID: sent.EnvelopeID, user: p.user, key: key, kind: p.kind, sent: sent.At})
	}
	return samples, nil
}
