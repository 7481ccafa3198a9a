package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// TimelinePrefix starts the keys of incident timelines: the stream
// "opsbot:timeline:{INC-N}" and the set of stored event IDs and dedupe keys
// "opsbot:timeline:{INC-N}:seen". The braces keep both in one Cluster slot,
// which the store script needs.
const TimelinePrefix = "opsbot:timeline:"

// StreamKey is the Redis Stream holding incident's timeline; each entry has
// one field, "event", with the event as JSON.
func StreamKey(incident string) string { return TimelinePrefix + "{" + incident + "}" }

func seenKey(incident string) string { return TimelinePrefix + "{" + incident + "}:seen" }

// storeScript appends an event to its incident's stream unless its ID, or
// its dedupe key, was stored before. Atomic, so redeliveries racing on two
// replicas still store once. Returns 1 when stored, 0 for a duplicate.
var storeScript = goredis.NewScript(`
if redis.call("SISMEMBER", KEYS[2], "id:" .. ARGV[1]) == 1 then
	return 0
end
if ARGV[2] ~= "" and redis.call("SISMEMBER", KEYS[2], "key:" .. ARGV[2]) == 1 then
	return 0
end
redis.call("SADD", KEYS[2], "id:" .. ARGV[1])
if ARGV[2] ~= "" then
	redis.call("SADD", KEYS[2], "key:" .. ARGV[2])
end
redis.call("XADD", KEYS[1], "*", "event", ARGV[3])
return 1`)

// incidentKeyRE limits incident keys to what is safe inside a Cluster hash
// tag and a file line.
var incidentKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// flushBatch is how many held events one pipelined round trip stores.
const flushBatch = 128

// readPage is how many stream entries one XRANGE reads.
const readPage = 1000

// ErrTimelineClosed is returned by Append after Close.
var ErrTimelineClosed = errors.New("timeline closed")

// TimelineConfig configures a Timeline.
type TimelineConfig struct {
	// Client is required.
	Client Client
	// SpoolDir is a local directory, on a persistent volume in production,
	// where events are held while Redis is unreachable. Each process needs
	// its own; a second process on the same dir is refused.
	SpoolDir string
	// Logger defaults to a no-op logger.
	Logger *zap.Logger
	// Clock stamps how long events have been held; default bot.SystemClock.
	Clock bot.Clock
	// AppendTimeout bounds how long Append waits for Redis before holding
	// the event instead (default 1s), so commands keep answering in time.
	AppendTimeout time.Duration
	// RetryMin and RetryMax bound the flusher's backoff while Redis is
	// unreachable (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
}

// Timeline is a bot.Timeline on Redis Streams that never loses an accepted
// event. While Redis is unreachable, and after that until every held event
// is written (to keep order), Append holds events in a local fsync'd spool;
// Run writes them out once Redis is back. Each event is stored exactly once
// per ID and per DedupeKey, by an atomic script, so re-sending after a crash
// is harmless.
type Timeline struct {
	c     Client
	cfg   TimelineConfig
	log   *zap.Logger
	clock bot.Clock
	wake  chan struct{}

	flushMu sync.Mutex // one drain at a time

	mu        sync.Mutex // guards everything below, and orders appends
	spool     *spool
	held      []heldEvent // in append order; the spool holds the same
	heldSince time.Time
	closed    bool
}

// heldEvent is an event waiting for Redis, with its JSON encoding.
type heldEvent struct {
	ev   bot.TimelineEvent
	data []byte
}

var _ bot.Timeline = (*Timeline)(nil)

// NewTimeline opens the spool in cfg.SpoolDir. Events a previous process
// left there are held again and written by Run.
func NewTimeline(cfg TimelineConfig) (*Timeline, error) {
	if cfg.Client == nil {
		return nil, errors.New("timeline: no redis client")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("timeline: no spool dir")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = bot.SystemClock
	}
	if cfg.AppendTimeout <= 0 {
		cfg.AppendTimeout = time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Second, cfg.RetryMin)
	}
	log := cfg.Logger.Named("timeline")
	sp, held, err := openSpool(cfg.SpoolDir, log)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	t := &Timeline{
		c:     cfg.Client,
		cfg:   cfg,
		log:   log,
		clock: cfg.Clock,
		wake:  make(chan struct{}, 1),
		spool: sp,
		held:  held,
	}
	if len(held) > 0 {
		t.heldSince = cfg.Clock.Now()
		log.Info("found timeline events held by a previous run; writing them once redis answers",
			zap.String("spool", sp.path), zap.Int("held", len(held)))
		t.signal()
	}
	return t, nil
}

func validateEvent(ev bot.TimelineEvent) error {
	switch {
	case ev.ID == uuid.Nil:
		return errors.New("timeline event has no ID")
	case !incidentKeyRE.MatchString(ev.Incident):
		return fmt.Errorf("timeline event %s: invalid incident key %q", ev.ID, ev.Incident)
	case ev.Type == "":
		return fmt.Errorf("timeline event %s of %s: no type", ev.ID, ev.Incident)
	}
	return nil
}

// Append records ev: in Redis when it answers within AppendTimeout and
// nothing is held, otherwise in the spool. A nil error means the event is
// durable either way.
func (t *Timeline) Append(ctx context.Context, ev bot.TimelineEvent) error {
	if err := validateEvent(ev); err != nil {
		return err
	}
	ev.Time = ev.Time.UTC()
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode timeline event %s of %s: %w", ev.ID, ev.Incident, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrTimelineClosed
	}
	if len(t.held) == 0 {
		sctx, cancel := withTimeout(ctx, t.cfg.AppendTimeout)
		_, err := t.store(sctx, ev, data)
		cancel()
		if err == nil {
			return nil
		}
		t.heldSince = t.clock.Now()
		t.log.Warn("redis unreachable; holding timeline events in the spool until it is back",
			zap.String("incident", ev.Incident), zap.String("event_id", ev.ID.String()), zap.Error(err))
	}
	if err := t.spool.append(data); err != nil {
		return fmt.Errorf("hold timeline event %s of %s: %w", ev.ID, ev.Incident, err)
	}
	t.held = append(t.held, heldEvent{ev: ev, data: data})
	t.signal()
	return nil
}

func (t *Timeline) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// store runs the store script for one event and reports whether it was new.
func (t *Timeline) store(ctx context.Context, ev bot.TimelineEvent, data []byte) (bool, error) {
	n, err := storeScript.Run(ctx, t.c, storeKeys(ev), storeArgs(ev, data)...).Int()
	if err != nil {
		return false, fmt.Errorf("store timeline event %s of %s: %w", ev.ID, ev.Incident, err)
	}
	return n == 1, nil
}

func storeKeys(ev bot.TimelineEvent) []string {
	return []string{StreamKey(ev.Incident), seenKey(ev.Incident)}
}

func storeArgs(ev bot.TimelineEvent, data []byte) []any {
	return []any{ev.ID.String(), ev.DedupeKey, data}
}

// storeBatch stores events in one pipelined round trip and returns how many
// leading events are now stored (new or duplicate).
func (t *Timeline) storeBatch(ctx context.Context, batch []heldEvent) (int, error) {
	ctx, cancel := withTimeout(ctx, 5*time.Second)
	defer cancel()
	pipe := t.c.Pipeline()
	cmds := make([]*goredis.Cmd, len(batch))
	for i, h := range batch {
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT, and a
		// restarted server has forgotten every loaded script.
		cmds[i] = storeScript.Eval(ctx, pipe, storeKeys(h.ev), storeArgs(h.ev, h.data)...)
	}
	_, _ = pipe.Exec(ctx)
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			h := batch[i]
			return i, fmt.Errorf("store timeline event %s of %s: %w", h.ev.ID, h.ev.Incident, err)
		}
	}
	return len(batch), nil
}

// Flush writes every held event to Redis, in order, and empties the spool.
// It returns the first error; events not yet written stay held.
func (t *Timeline) Flush(ctx context.Context) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	written := 0
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return ErrTimelineClosed
		}
		if len(t.held) == 0 {
			// Everything the spool holds is in Redis now, and Append cannot
			// add to it while we hold mu.
			err := t.spool.reset()
			since := t.heldSince
			t.mu.Unlock()
			if written > 0 {
				t.log.Info("wrote held timeline events to redis",
					zap.Int("events", written), zap.Duration("held_for", t.clock.Now().Sub(since)))
			}
			return err
		}
		batch := make([]heldEvent, min(len(t.held), flushBatch))
		copy(batch, t.held)
		t.mu.Unlock()

		n, err := t.storeBatch(ctx, batch)

		t.mu.Lock()
		// Only Flush removes from the front; Append only adds at the back.
		t.held = t.held[n:]
		if len(t.held) == 0 {
			t.held = nil
		}
		t.mu.Unlock()
		written += n
		if err != nil {
			return err
		}
	}
}

// Run writes held events out whenever there are some, retrying with backoff
// while Redis is unreachable, until ctx ends or the Timeline is closed.
func (t *Timeline) Run(ctx context.Context) error {
	backoff := t.cfg.RetryMin
	failures := 0
	for {
		if t.isClosed() {
			return nil
		}
		if t.Pending() > 0 {
			err := t.Flush(ctx)
			switch {
			case err == nil:
				backoff, failures = t.cfg.RetryMin, 0
				continue
			case ctx.Err() != nil || errors.Is(err, ErrTimelineClosed):
				return nil
			}
			failures++
			// Log the first failure and then sparingly: an outage is one
			// problem, not one per retry.
			if failures == 1 || failures%20 == 0 {
				t.log.Warn("cannot write held timeline events yet; retrying",
					zap.Int("held", t.Pending()), zap.Int("attempt", failures),
					zap.Duration("backoff", backoff), zap.Error(err))
			}
			if bot.Sleep(ctx, backoff) != nil {
				return nil
			}
			backoff = min(backoff*2, t.cfg.RetryMax)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.wake:
		}
	}
}

func (t *Timeline) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Pending is how many events are held waiting for Redis, for metrics and
// readiness.
func (t *Timeline) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.held)
}

// Close tries once, briefly, to write held events, then closes the spool.
// Events still held stay in it for the next start. Call it after Run has
// returned; Append fails afterwards.
func (t *Timeline) Close() error {
	if t.Pending() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := t.Flush(ctx); err != nil && !errors.Is(err, ErrTimelineClosed) {
			t.log.Warn("timeline events still held at shutdown; they are written on the next start",
				zap.Int("held", t.Pending()), zap.Error(err))
		}
		cancel()
	}
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return t.spool.close()
}

// Events returns incident's events in append order: those stored in Redis,
// then those still held, each event once.
func (t *Timeline) Events(ctx context.Context, incident string) ([]bot.TimelineEvent, error) {
	if !incidentKeyRE.MatchString(incident) {
		return nil, fmt.Errorf("timeline: invalid incident key %q", incident)
	}
	// Snapshot the held events before reading the stream: an event the
	// flusher stores in between then shows up in both (and is deduplicated)
	// rather than in neither.
	t.mu.Lock()
	var held []bot.TimelineEvent
	for _, h := range t.held {
		if h.ev.Incident == incident {
			held = append(held, h.ev)
		}
	}
	t.mu.Unlock()

	stored, err := t.readStream(ctx, incident)
	if err != nil {
		return nil, err
	}
	ids := make(map[uuid.UUID]bool, len(stored)+len(held))
	keys := make(map[string]bool)
	out := make([]bot.TimelineEvent, 0, len(stored)+len(held))
	for _, ev := range append(stored, held...) {
		if ids[ev.ID] || (ev.DedupeKey != "" && keys[ev.DedupeKey]) {
			continue
		}
		ids[ev.ID] = true
		if ev.DedupeKey != "" {
			keys[ev.DedupeKey] = true
		}
		out = append(out, ev)
	}
	return out, nil
}

func (t *Timeline) readStream(ctx context.Context, incident string) ([]bot.TimelineEvent, error) {
	ctx, cancel := withTimeout(ctx, 10*time.Second)
	defer cancel()
	key := StreamKey(incident)
	var out []bot.TimelineEvent
	start := "-"
	for {
		msgs, err := t.c.XRangeN(ctx, key, start, "+", readPage).Result()
		if err != nil {
			return nil, fmt.Errorf("read timeline of %s: %w", incident, err)
		}
		for _, m := range msgs {
			raw, _ := m.Values["event"].(string)
			var ev bot.TimelineEvent
			if err := json.Unmarshal([]byte(raw), &ev); err != nil {
				// One bad entry must not hide the rest of the timeline.
				t.log.Error("skipping undecodable timeline entry",
					zap.String("incident", incident), zap.String("stream_id", m.ID), zap.Error(err))
				continue
			}
			out = append(out, ev)
		}
		if len(msgs) < readPage {
			return out, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}
