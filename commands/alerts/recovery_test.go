package alerts

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

// The tests here prove that a group episode gets one message whatever
// becomes of the process that posts it: it dies right after Slack took the
// post, the post's answer is lost, Slack's history cannot be read, or a
// paused replica posts after its lease ran out.

// dyingChat is the chat of a replica whose process dies right after Slack
// took its post: the message lands, and the render goroutine ends there
// (runtime.Goexit), as the process would: nothing after the post runs, the
// message is not recorded and the group's lock is not released; only its
// lease ends it.
type dyingChat struct {
	bot.Chat
	died chan bot.MessageRef
}

func (c *dyingChat) Post(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	ref, err := c.Chat.Post(ctx, m)
	if err != nil {
		return ref, err
	}
	c.died <- ref
	runtime.Goexit()
	panic("unreachable")
}

// pausedChat is the chat of a replica paused (a stopped VM, a long GC)
// just before its post reaches Slack: Post waits for resume.
type pausedChat struct {
	bot.Chat
	paused chan struct{}
	resume chan struct{}
}

func (c *pausedChat) Post(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	close(c.paused)
	<-c.resume
	return c.Chat.Post(ctx, m)
}

// shortLease makes the replica's render lease short, so that a test need
// not wait a minute for the lease of a dead replica to end. The lease is
// the real Redis one; only its length changes.
type shortLease struct {
	bot.Locker
	ttl time.Duration
}

func (l shortLease) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	return l.Locker.TryLock(ctx, key, min(ttl, l.ttl))
}

func withShortLease(c *Config) { c.Locker = shortLease{Locker: c.Locker, ttl: 300 * time.Millisecond} }

// renderUntil renders the group on r until cond holds: a render does
// nothing while another replica's lease on the group lasts.
func (r *replica) renderUntil(id, what string, cond func() bool) {
	r.w.t.Helper()
	r.w.poll(what, func() bool {
		r.svc.render(context.Background(), id)
		return cond()
	})
}

// TestReplicaDiesAfterPost: the replica that posts a group's message dies
// right after Slack took the post, before recording it. Once its lease has
// ended, the other replica finds the message by its metadata and keeps it
// instead of posting a second one; later notifications edit it.
func TestReplicaDiesAfterPost(t *testing.T) {
	w := newWorld(t)
	// Near the real time: the fake Slack stamps messages with it.
	clock := bottest.NewClock(time.Now().UTC())
	dying := &dyingChat{Chat: w.chat, died: make(chan bot.MessageRef, 1)}
	r1 := w.replica(withClock(clock), withShortLease, func(c *Config) { c.Chat = dying })
	r2 := w.replica(withClock(clock))
	s1 := clock.Now().Add(-time.Minute)
	id := r1.notify(diskGroup(disk("db-1", s1)))

	done := make(chan struct{})
	go func() { defer close(done); r1.svc.render(context.Background(), id) }()
	posted := <-dying.died
	<-done
	if m := w.only(w.alerts); m.TS != posted.TS {
		t.Fatalf("the message in the channel is %s, the dead replica posted %s", m.TS, posted.TS)
	}
	st := r2.group(id).State
	if st.Message.TS != "" || st.PostAttempt == "" {
		t.Fatalf("state after the death: %+v, want an attempt and no message", st)
	}

	// The other replica: first the dead one's lease, then the attempt's
	// settling time, keep it from concluding anything.
	r2.svc.render(context.Background(), id)
	if n := len(w.fs.Calls("chat.postMessage")); n != 1 {
		t.Fatalf("%d posts while the attempt may still land, want 1", n)
	}
	clock.Add(attemptSettle)
	r2.renderUntil(id, "the other replica to record the message", func() bool { return r2.group(id).State.Message.TS != "" })
	m := w.only(w.alerts)
	if got := r2.group(id).State.Message; got != posted {
		t.Errorf("recorded %+v, want the dead replica's message %+v", got, posted)
	}
	if n := len(w.fs.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}
	if n := testutil.ToFloat64(r2.svc.metrics.recoveries.WithLabelValues("adopted")); n != 1 {
		t.Errorf("adopted recoveries = %v, want 1", n)
	}
	if !strings.Contains(m.Rendered(), "1 firing") {
		t.Errorf("the kept message:\n%s", m.Rendered())
	}

	// Later notifications edit the one message.
	clock.Add(time.Second)
	r2.notify(diskGroup(disk("db-1", s1), disk("db-2", s1)))
	flush(r2)
	m = w.only(w.alerts)
	if m.TS != posted.TS || !strings.Contains(m.Rendered(), "2 firing") || !m.Edited {
		t.Errorf("after the next notification, message %s:\n%s", m.TS, m.Rendered())
	}
	if n := len(w.fs.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d posts after the next notification, want 1", n)
	}
}

// TestLostPostAnswerIsNotPostedAgain: Slack takes the post but its answer
// is lost. The replica does not post again: once the attempt has settled it
// finds its message in the channel.
func TestLostPostAnswerIsNotPostedAgain(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Now().UTC())
	r := w.replica(withClock(clock))
	landed := w.fs.DropAnswerNext("chat.postMessage")
	id := r.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Minute))))
	flush(r)
	<-landed
	if g := r.group(id); g.State.Message.TS != "" {
		t.Fatalf("a post without an answer was recorded: %+v", g.State)
	}
	for i := 0; i < 3; i++ {
		clock.Add(attemptSettle / 3)
		flush(r)
	}
	m := w.only(w.alerts)
	if got := r.group(id).State.Message; got.TS != m.TS {
		t.Errorf("recorded %+v, want %s", got, m.TS)
	}
	if n := len(w.fs.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}
}

// TestHistoryUnreadable: when the channel's history cannot be read, an
// earlier attempt's message is not posted again blindly: the replica
// retries the lookup, and posts once it knows the message is not there.
// When Slack refuses the lookup for good (a missing scope), or it keeps
// failing for lookupGiveUp, the message is posted anyway: an alert nobody
// sees is worse than one shown twice.
func TestHistoryUnreadable(t *testing.T) {
	t.Run("outage then absent", func(t *testing.T) {
		w := newWorld(t)
		clock := bottest.NewClock(time.Now().UTC())
		r := w.replica(withClock(clock))
		w.fs.FailNext("chat.postMessage", "internal_error") // nothing posted, but the replica cannot know
		w.fs.FailNext("conversations.history", "internal_error")
		id := r.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Minute))))
		flush(r)
		clock.Add(attemptSettle)
		flush(r)
		if n := len(w.messages(w.alerts)); n != 0 {
			t.Fatalf("%d messages posted while the history could not be read", n)
		}
		clock.Add(maxBackoff)
		flush(r)
		m := w.only(w.alerts)
		if got := r.group(id).State.Message; got.TS != m.TS {
			t.Errorf("recorded %+v, want %s", got, m.TS)
		}
		if n := testutil.ToFloat64(r.svc.metrics.recoveries.WithLabelValues("absent")); n != 1 {
			t.Errorf("absent recoveries = %v, want 1", n)
		}
	})
	t.Run("refused", func(t *testing.T) {
		w := newWorld(t)
		clock := bottest.NewClock(time.Now().UTC())
		r := w.replica(withClock(clock))
		w.fs.FailNext("chat.postMessage", "internal_error")
		w.fs.FailNext("conversations.history", "missing_scope")
		r.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Minute))))
		flush(r)
		clock.Add(attemptSettle)
		flush(r)
		w.only(w.alerts)
		if n := testutil.ToFloat64(r.svc.metrics.recoveries.WithLabelValues("unchecked")); n != 1 {
			t.Errorf("unchecked recoveries = %v, want 1", n)
		}
	})
	t.Run("outage past the give-up", func(t *testing.T) {
		w := newWorld(t)
		clock := bottest.NewClock(time.Now().UTC())
		r := w.replica(withClock(clock))
		w.fs.FailNext("chat.postMessage", "internal_error")
		for i := 0; i < 20; i++ {
			w.fs.FailNext("conversations.history", "internal_error")
		}
		r.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Minute))))
		flush(r)
		clock.Add(attemptSettle)
		for clock.Now().Before(r.group(r.onlyGroup()).State.PostAttemptAt.Add(lookupGiveUp)) {
			flush(r)
			if n := len(w.messages(w.alerts)); n != 0 {
				t.Fatalf("posted before the give-up, %s after the attempt", clock.Now().Sub(r.group(r.onlyGroup()).State.PostAttemptAt))
			}
			clock.Add(30 * time.Second)
		}
		flush(r)
		w.only(w.alerts)
		if n := testutil.ToFloat64(r.svc.metrics.recoveries.WithLabelValues("unchecked")); n != 1 {
			t.Errorf("unchecked recoveries = %v, want 1", n)
		}
	})
}

// TestPausedReplicaDuplicateDeleted: a replica is paused just before its
// post reaches Slack, for longer than its lease. The other replica finds
// no message, posts its own and records it; when the paused one resumes,
// its post lands, finds another attempt claimed since, and deletes its own
// message: the group keeps one.
func TestPausedReplicaDuplicateDeleted(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Now().UTC())
	paused := &pausedChat{Chat: w.chat, paused: make(chan struct{}), resume: make(chan struct{})}
	r1 := w.replica(withClock(clock), withShortLease, func(c *Config) { c.Chat = paused })
	r2 := w.replica(withClock(clock))
	id := r1.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Minute))))
	done := make(chan struct{})
	go func() { defer close(done); r1.svc.render(context.Background(), id) }()
	<-paused.paused

	clock.Add(attemptSettle)
	r2.renderUntil(id, "the other replica's message", func() bool { return r2.group(id).State.Message.TS != "" })
	kept := w.only(w.alerts)

	close(paused.resume)
	<-done
	if m := w.only(w.alerts); m.TS != kept.TS {
		t.Errorf("the group's message is %s, want %s", m.TS, kept.TS)
	}
	if n := len(w.fs.Calls("chat.postMessage")); n != 2 {
		t.Errorf("%d posts, want 2 (one deleted)", n)
	}
	if calls := w.fs.Calls("chat.delete"); len(calls) != 1 || calls[0].Error != "" {
		t.Errorf("chat.delete calls: %+v, want one", calls)
	}
	if got := r2.group(id).State.Message; got.TS != kept.TS {
		t.Errorf("recorded %+v, want %s", got, kept.TS)
	}
	if n := testutil.ToFloat64(r1.svc.metrics.recoveries.WithLabelValues("duplicate_deleted")); n != 1 {
		t.Errorf("duplicate_deleted = %v, want 1", n)
	}
}

// TestDeadReplicaMessageOfEarlierEpisodeFinished: the replica that posted
// an episode's message dies before recording it, and the group resolves
// and fires again before anyone renders it. The new episode gets its
// message, and the dead replica's, found by its metadata, gets its final
// word instead of showing the old episode firing for ever.
func TestDeadReplicaMessageOfEarlierEpisodeFinished(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Now().UTC())
	dying := &dyingChat{Chat: w.chat, died: make(chan bot.MessageRef, 1)}
	r1 := w.replica(withClock(clock), withShortLease, func(c *Config) { c.Chat = dying })
	r2 := w.replica(withClock(clock))
	s1 := clock.Now().Add(-time.Minute)
	id := r1.notify(diskGroup(disk("db-1", s1)))
	done := make(chan struct{})
	go func() { defer close(done); r1.svc.render(context.Background(), id) }()
	orphan := <-dying.died
	<-done

	clock.Add(time.Second)
	r2.notify(diskGroup(disk("db-1", s1).resolvedAt(clock.Now())))
	clock.Add(time.Second)
	r2.notify(diskGroup(disk("db-1", clock.Now())))
	if g := r2.group(id); g.Episode != 2 {
		t.Fatalf("episode %d, want 2", g.Episode)
	}
	clock.Add(attemptSettle)
	r2.renderUntil(id, "the new episode's message", func() bool { return len(w.messages(w.alerts)) == 2 })
	flush(r2)
	ms := w.messages(w.alerts)
	if len(ms) != 2 || ms[0].TS != orphan.TS {
		t.Fatalf("%d messages, want the dead replica's and the new episode's", len(ms))
	}
	if !strings.Contains(ms[0].Rendered(), "fired again") {
		t.Errorf("the earlier episode's message:\n%s", ms[0].Rendered())
	}
	if !strings.Contains(ms[1].Rendered(), "FIRING") {
		t.Errorf("the new episode's message:\n%s", ms[1].Rendered())
	}
}

// messageRecordFails fails, once armed, the state update that records the
// group's message, as a Redis error would: nothing is written.
type messageRecordFails struct {
	bot.AlertStore
	armed atomic.Bool
}

func (s *messageRecordFails) UpdateState(ctx context.Context, id string, touch bool, fn func(*bot.AlertGroupState) error) (bot.AlertGroupState, error) {
	return s.AlertStore.UpdateState(ctx, id, touch, func(x *bot.AlertGroupState) error {
		before := x.Message
		if err := fn(x); err != nil {
			return err
		}
		if before.TS == "" && x.Message.TS != "" && s.armed.CompareAndSwap(true, false) {
			return errors.New("connection reset by peer")
		}
		return nil
	})
}

// TestUnrecordedPostSupersededWhileHeld: a replica posts the group's
// message but cannot record it, and keeps it to record later; its lease
// ends first, and the other replica, unable to read the channel's history,
// posts and records its own. When the first renders the group again, its
// message is the second: it is deleted, and the first replica lets go of
// it (and of the lease it no longer has).
func TestUnrecordedPostSupersededWhileHeld(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Now().UTC())
	var store *messageRecordFails
	r1 := w.replica(withClock(clock), withShortLease, func(c *Config) {
		store = &messageRecordFails{AlertStore: c.Store}
		c.Store = store
	})
	r2 := w.replica(withClock(clock))
	store.armed.Store(true)
	id := r1.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Minute))))
	r1.svc.render(context.Background(), id)
	held := w.only(w.alerts)
	if got := r1.group(id).State.Message; got.TS != "" {
		t.Fatalf("recorded %+v, want nothing recorded", got)
	}

	clock.Add(attemptSettle)
	w.fs.FailNext("conversations.history", "missing_scope")
	r2.renderUntil(id, "the other replica's message", func() bool { return r2.group(id).State.Message.TS != "" })
	kept := r2.group(id).State.Message
	if kept.TS == held.TS {
		t.Fatalf("the other replica recorded the held message %s; want its own", held.TS)
	}

	r1.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Minute)), disk("db-2", clock.Now())))
	clock.Add(time.Second)
	r1.svc.render(context.Background(), id)
	if m := w.only(w.alerts); m.TS != kept.TS {
		t.Errorf("the group's message is %s, want %s", m.TS, kept.TS)
	}
	if r1.svc.holdsUnrecordedPost(id) {
		t.Errorf("the first replica still holds the message it could not record")
	}
}

// holdsUnrecordedPost says the service keeps an unrecorded message of the group
// (and the lease it was posted under).
func (s *Service) holdsUnrecordedPost(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[id]
	return ok
}

// messageRecordHeld holds, once armed, the state update that records the
// group's message until the test lets it go on (a slow Redis).
type messageRecordHeld struct {
	bot.AlertStore
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *messageRecordHeld) UpdateState(ctx context.Context, id string, touch bool, fn func(*bot.AlertGroupState) error) (bot.AlertGroupState, error) {
	probe := bot.AlertGroupState{}
	if g, err := s.Group(ctx, id); err == nil {
		probe = g.State
	}
	before := probe.Message
	if fn(&probe) == nil && before.TS == "" && probe.Message.TS != "" && s.armed.CompareAndSwap(true, false) {
		close(s.entered)
		<-s.release
	}
	return s.AlertStore.UpdateState(ctx, id, touch, fn)
}

// TestClickWhilePostIsRecorded: a click renders the group while the render
// that posted its message is still recording it. The click's render waits
// for the group's lock like any other: it does not render the group
// alongside the one in progress (which edited the new message with what
// it already showed).
func TestClickWhilePostIsRecorded(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Now().UTC())
	var store *messageRecordHeld
	r := w.replica(withClock(clock), func(c *Config) {
		store = &messageRecordHeld{AlertStore: c.Store, entered: make(chan struct{}), release: make(chan struct{})}
		c.Store = store
	})
	store.armed.Store(true)
	id := r.notify(diskGroup(disk("db-1", clock.Now().Add(-time.Minute))))
	done := make(chan struct{})
	go func() { defer close(done); r.svc.render(context.Background(), id) }()
	<-store.entered
	r.svc.renderNow(context.Background(), id)
	if n := len(w.fs.Calls("chat.update")); n != 0 {
		t.Errorf("%d edits while the post was being recorded, want 0", n)
	}
	close(store.release)
	<-done
	if got := r.group(id).State.Message; got.TS != w.only(w.alerts).TS {
		t.Errorf("recorded %+v, want the message", got)
	}
}
