package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// failoversInARow is how many times the failover tests kill the Redis
// primary.
const failoversInARow = 3

// followWithin bounds how long after a Cluster promoted a replica the bot
// may take to write to it, the killed primary still down. A hang guard, not
// a speed claim: it follows within a few hundred milliseconds, and a client
// that only followed go-redis's own slot map refresh, every 60 s, would
// fail here.
const followWithin = 30 * time.Second

// TestE2ENotesSurviveFailovers streams notes into an incident through the
// bot while the Redis primary is killed (kill -9) and Sentinel promotes a
// replica, several times in a row: every note the bot answered as added is
// in the export exactly once.
func TestE2ENotesSurviveFailovers(t *testing.T) {
	s := redistest.NewSentinel(t)
	notesThroughFailovers(t, s.Target(0), func(ctx context.Context, t *testing.T, _ *testBot) string {
		start := time.Now()
		old, promoted, err := s.Failover(ctx)
		if err != nil {
			t.Fatalf("failover: %v", err)
		}
		return fmt.Sprintf("%s killed, %s promoted, healed in %s", old, promoted, time.Since(start).Round(time.Millisecond))
	})
}

// TestE2ENotesSurviveClusterFailovers is TestE2ENotesSurviveFailovers on a
// Cluster whose primaries have a replica each, the bot configured with
// redis.addrs: the primary serving the incident's timeline is killed
// (kill -9), the cluster promotes its replica, the bot writes to it while
// the killed node is still down, and the killed node comes back as its
// replica, several times in a row.
func TestE2ENotesSurviveClusterFailovers(t *testing.T) {
	cl := redistest.NewCluster(t, redistest.WithClusterReplicas(1))
	slot, err := cl.Slot(testCtx(t), oredis.StreamKey("INC-1"))
	if err != nil {
		t.Fatal(err)
	}
	notesThroughFailovers(t, cl.Target(), func(ctx context.Context, t *testing.T, b *testBot) string {
		start := time.Now()
		old, err := cl.KillPrimaryOf(ctx, slot)
		if err != nil {
			t.Fatalf("kill: %v", err)
		}
		promoted, err := cl.WaitFailover(ctx, slot, old)
		if err != nil {
			t.Fatalf("failover: %v", err)
		}
		promotedIn := time.Since(start)
		// The bot writes to the promoted primary before the killed one is
		// back, so its MOVED is not what shows the way: the stream grows,
		// or the fence counter that re-sends of held events bump.
		written := timelineWritesOn(t, promoted, "INC-1")
		fctx, cancel := context.WithTimeout(ctx, followWithin)
		defer cancel()
		for timelineWritesOn(t, promoted, "INC-1") == written {
			select {
			case <-fctx.Done():
				t.Fatalf("%s killed, %s promoted: the bot wrote nothing to it within %s (%d events held)",
					old, promoted, followWithin, b.App.timeline.Pending())
			case <-time.After(20 * time.Millisecond):
			}
		}
		followedIn := time.Since(start)
		if err := cl.Restart(ctx, old); err != nil {
			t.Fatalf("restart %s: %v", old, err)
		}
		return fmt.Sprintf("%s killed, %s promoted after %s, written to after %s, healed (%s back as its replica) in %s",
			old, promoted, promotedIn.Round(time.Millisecond), followedIn.Round(time.Millisecond), old,
			time.Since(start).Round(time.Millisecond))
	})
}

// timelineWritesOn counts what the bot wrote for incident's timeline on the
// cluster node at addr, which must serve it: the events in its stream and
// the re-sends of events already there, which bump its fence counter
// (opsbot:timeline:{INC-N}:fence).
func timelineWritesOn(t *testing.T, addr, incident string) int64 {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	ctx := testCtx(t)
	n, err := c.XLen(ctx, oredis.StreamKey(incident)).Result()
	if err != nil {
		t.Fatalf("XLEN on %s: %v", addr, err)
	}
	fence, err := c.Get(ctx, oredis.StreamKey(incident)+":fence").Int64()
	if err != nil && !errors.Is(err, goredis.Nil) {
		t.Fatalf("GET fence on %s: %v", addr, err)
	}
	return n + fence
}

// notesThroughFailovers has three people add notes to INC-1 through the
// bot on tg while failover, run failoversInARow times, kills the primary
// and waits until the topology is healed; it returns what happened, for
// the log. Every note the bot answered as added must be in the export
// exactly once.
func notesThroughFailovers(t *testing.T, tg redistest.Target, failover func(ctx context.Context, t *testing.T, b *testBot) string) {
	w := newWorldWith(t, tg)
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
	halt := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer halt()
	// Each kill lands in a stream of notes: it waits until more have been
	// answered since the last one healed.
	notesAnswered := func(n int) {
		t.Helper()
		if err := w.Slack.WaitUntil(ctx, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(answered) >= n
		}); err != nil {
			t.Fatalf("waiting for %d notes answered: %v", n, err)
		}
	}
	for i := 1; i <= failoversInARow; i++ {
		mu.Lock()
		next := len(answered) + 10
		mu.Unlock()
		notesAnswered(next)
		t.Logf("failover %d: %s", i, failover(ctx, t, b))
	}
	mu.Lock()
	next := len(answered) + 10
	mu.Unlock()
	notesAnswered(next)
	halt()
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
