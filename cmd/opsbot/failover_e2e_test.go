package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// failoversInARow is how many times TestE2ENotesSurviveFailovers kills the
// Redis primary.
const failoversInARow = 3

// TestE2ENotesSurviveFailovers streams notes into an incident through the
// bot while the Redis primary is killed (kill -9) and Sentinel promotes a
// replica, several times in a row: every note the bot answered as added is
// in the export exactly once.
func TestE2ENotesSurviveFailovers(t *testing.T) {
	s := redistest.NewSentinel(t)
	w := newWorldWith(t, s.Target(0))
	// The timeline's size limit is raised: the notes are a stream for as
	// long as the failovers take, not a test of the limit.
	b := w.startBot(t, botOptions{ConfigYAML: fmt.Sprintf("admins: [%s]\nincidents:\n  broadcast_channel: %s\n  responders: {users: [%s, %s]}\n"+
		"  limits: {timeline_events: 1000000}\n", alice, w.Incidents, bob, dana)})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev1 payments down")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	ch := channelNamed(t, w, "inc-1-payments-down")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const added = ":memo: Added to the INC-1 timeline."
	var (
		mu       sync.Mutex
		answered []string // notes the bot confirmed
		refused  []string // notes the bot answered otherwise (none expected)
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		maxHeld  int
	)
	for _, user := range []string{alice, bob, dana} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("note-%s-%04d", user, i)
				before := len(w.Slack.Ephemerals(ch.ID, user))
				sent, err := w.Slack.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: "note " + text, UserID: user, ChannelID: ch.ID})
				if err != nil {
					t.Errorf("send %s: %v", text, err)
					return
				}
				if _, err := w.Slack.WaitAck(ctx, sent.EnvelopeID); err != nil {
					t.Errorf("ack of %s: %v", text, err)
					return
				}
				// Each user sends one note at a time, so the next reply
				// to that user answers this note.
				var reply string
				if err := w.Slack.WaitUntil(ctx, func() bool {
					es := w.Slack.Ephemerals(ch.ID, user)
					if len(es) > before {
						reply = es[before].Rendered()
						return true
					}
					return false
				}); err != nil {
					t.Errorf("no answer to %s: %v", text, err)
					return
				}
				mu.Lock()
				if strings.Contains(reply, added) {
					answered = append(answered, text)
				} else {
					refused = append(refused, text+": "+reply)
				}
				if h := b.App.timeline.Pending(); h > maxHeld {
					maxHeld = h
				}
				mu.Unlock()
				// A steady stream, not a flood: the failovers are the test.
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	time.Sleep(500 * time.Millisecond)
	for i := 0; i < failoversInARow; i++ {
		start := time.Now()
		old, promoted, err := s.Failover(ctx)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("failover %d: %v", i+1, err)
		}
		t.Logf("failover %d: %s killed, %s promoted, healed in %s", i+1, old, promoted, time.Since(start).Round(time.Millisecond))
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	// Held notes are written once Redis and its replicas confirm them.
	pollRedis(t, "held timeline events written", func() bool { return b.App.timeline.Pending() == 0 })

	doc, err := b.App.incidents.Export(ctx, "INC-1", "json")
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	inExport, duplicated := 0, 0
	var missing []string
	for _, text := range answered {
		switch n := strings.Count(string(doc), `"`+text+`"`); {
		case n == 0:
			missing = append(missing, text)
		case n > 1:
			duplicated++
			inExport++
		default:
			inExport++
		}
	}
	t.Logf("over %d failovers: %d notes answered as added, %d of them in the export, %d duplicated, %d missing; "+
		"at most %d events held at once; %d answered otherwise",
		failoversInARow, len(answered), inExport, duplicated, len(missing), maxHeld, len(refused))
	if len(answered) == 0 {
		t.Fatal("no note was answered")
	}
	if len(missing) > 0 {
		t.Errorf("notes answered as added but missing from the export: %v", missing)
	}
	if duplicated > 0 {
		t.Errorf("%d notes are in the export more than once", duplicated)
	}
	if len(refused) > 0 {
		t.Errorf("notes not added: %v", refused)
	}
}
