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
// "opsbot:timeline:{INC-N}", the set of stored event IDs and dedupe keys
// "opsbot:timeline:{INC-N}:seen" and the counter
// "opsbot:timeline:{INC-N}:fence". The braces keep them in one Cluster
// slot, which the store script needs.
const TimelinePrefix = "opsbot:timeline:"

// StreamKey is the Redis Stream holding incident's timeline; each entry has
// one field, "event", with the event as JSON.
func StreamKey(incident string) string { return TimelinePrefix + "{" + incident + "}" }

func seenKey(incident string) string  { return TimelinePrefix + "{" + incident + "}:seen" }
func fenceKey(incident string) string { return TimelinePrefix + "{" + incident + "}:fence" }

// storeScript appends an event to its incident's stream unless its ID, or
// its dedupe key, was stored before. Atomic, so redeliveries racing on two
// replicas still store once. Returns 1 when stored, 0 for a duplicate.
//
// The XADD comes first: Redis does not roll a script back when a command in
// it fails, and an ID marked as seen without its entry would make every
// re-send a "duplicate". A duplicate still writes (it bumps the fence
// counter): WAIT counts only what its own connection wrote, and a re-sent
// event that is already there must be confirmed on replicas like a new one
// before it leaves the spool.
var storeScript = goredis.NewScript(`
if redis.call("SISMEMBER", KEYS[2], "id:" .. ARGV[1]) == 1 or
   (ARGV[2] ~= "" and redis.call("SISMEMBER", KEYS[2], "key:" .. ARGV[2]) == 1) then
	redis.call("INCR", KEYS[3])
	return 0
end
redis.call("XADD", KEYS[1], "*", "event", ARGV[3])
redis.call("SADD", KEYS[2], "id:" .. ARGV[1])
if ARGV[2] ~= "" then
	redis.call("SADD", KEYS[2], "key:" .. ARGV[2])
end
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
	// where events are held until they are safe in Redis. Several
	// processes may share it: each writes its own file, and adopts the
	// files of processes that are gone.
	SpoolDir string
	// Durability says when an event is safe in Redis (default: confirmed
	// by every replica the primary has online; none on a single server).
	Durability Durability
	// Logger defaults to a no-op logger.
	Logger *zap.Logger
	// Clock stamps how long events have been held; default bot.SystemClock.
	Clock bot.Clock
	// AppendTimeout bounds how long Append waits for Redis and its
	// replicas before holding the event instead (default 1s), so commands
	// keep answering in time.
	AppendTimeout time.Duration
	// RetryMin and RetryMax bound the flusher's backoff while Redis is
	// unreachable (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
	// AdoptInterval is how often Run looks for spool files of processes
	// that are gone (default 5s).
	AdoptInterval time.Duration
}

// Timeline is a bot.Timeline on Redis Streams that never loses an accepted
// event.
//
// An event is accepted (Append returns nil) once it is safe: stored in
// Redis and confirmed by the replicas Durability asks for, or written to
// this process's fsync'd spool file. Held events are re-sent by Run, in
// order, until Redis and its replicas confirm them; the store script makes
// re-sending harmless. Once an incident has an event held, its later
// events are held behind it, so each incident's timeline keeps the order
// of its appends; incidents do not wait for each other.
type Timeline struct {
	c     Client
	cfg   TimelineConfig
	log   *zap.Logger
	clock bot.Clock
	rep   *replicas
	wake  chan struct{}

	flushMu sync.Mutex // one drain at a time

	own *spool // this process's spool file; its mu is taken before mu

	mu       sync.Mutex // guards everything below
	lanes    map[string]*lane
	held     []heldEvent // in hold order; per incident, in append order
	ownHeld  int         // events in own that are not yet safe
	awaiting int         // held events already on the primary, waiting for replicas
	adopted  int         // events adopted from processes that are gone, since start
	closed   bool
}

// lane orders one incident's appends.
type lane struct {
	mu   sync.Mutex // held across an Append of this incident
	held int        // this incident's held events; guarded by Timeline.mu
	refs int        // Appends using the lane; guarded by Timeline.mu
}

// heldEvent is an event waiting to be safe in Redis, with its JSON
// encoding (as this process's spool file holds it).
type heldEvent struct {
	ev   bot.TimelineEvent
	data []byte
	// since is when it was held, for the spool age metric.
	since time.Time
	// stored says the primary has it and only replicas have not
	// confirmed it.
	stored bool
}

var _ bot.Timeline = (*Timeline)(nil)

// NewTimeline creates this process's spool file in cfg.SpoolDir and adopts
// the files of processes that are gone: their events are held again and
// written by Run. It starts nothing.
func NewTimeline(cfg TimelineConfig) (*Timeline, error) {
	if cfg.Client == nil {
		return nil, errors.New("timeline: no redis client")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("timeline: no spool dir")
	}
	if err := cfg.Durability.Validate(); err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
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
	if cfg.AdoptInterval <= 0 {
		cfg.AdoptInterval = 5 * time.Second
	}
	log := cfg.Logger.Named("timeline")
	own, err := createSpool(cfg.SpoolDir, timelineSpoolKind, log)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	t := &Timeline{
		c:     cfg.Client,
		cfg:   cfg,
		log:   log,
		clock: cfg.Clock,
		// The spool holds events while replicas are away, so the timeline
		// can afford to wait for every one that was there.
		rep:   newReplicas(cfg.Client, applyOptions([]Option{WithDurability(cfg.Durability), WithLogger(log)}), true),
		wake:  make(chan struct{}, 1),
		own:   own,
		lanes: map[string]*lane{},
	}
	if err := t.adopt(); err != nil {
		_ = own.close()
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return t, nil
}

// adopt takes over the spool files of processes that are gone: their
// events are copied into this process's own spool file (so that, should
// this process die too, one file keeps them in order ahead of what it holds
// later) and held here, and the adopted file is deleted.
func (t *Timeline) adopt() error {
	spools, records, err := adoptSpools(t.cfg.SpoolDir, timelineSpoolKind, map[string]bool{t.own.path: true}, t.log)
	if err != nil {
		return err
	}
	var errs []error
	for i, s := range spools {
		var events []heldEvent
		for _, rec := range records[i] {
			h, err := decodeHeldEvent(rec)
			if err != nil {
				t.log.Error("spool: skipping corrupted line", zap.String("spool", s.path), zap.Error(err))
				continue
			}
			events = append(events, h)
		}
		if err := t.adoptEvents(events); err != nil {
			// Leave the file for the next round (or process): nothing of
			// it was taken over.
			_ = s.close()
			errs = append(errs, err)
			continue
		}
		// Deleted only now that the events are durable in our own file; a
		// crash in between leaves them in both, and re-sending is harmless.
		s.remove()
		t.log.Info("adopted timeline events held by a process that is gone; writing them once redis answers",
			zap.String("spool", s.path), zap.Int("held", len(events)))
	}
	return errors.Join(errs...)
}

// adoptEvents writes adopted events to this process's spool, with one
// fsync, and holds them.
func (t *Timeline) adoptEvents(evs []heldEvent) error {
	t.own.mu.Lock()
	defer t.own.mu.Unlock()
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return ErrTimelineClosed
	}
	data := make([][]byte, len(evs))
	for i, h := range evs {
		data[i] = h.data
	}
	if err := t.own.appendAll(data); err != nil {
		return fmt.Errorf("adopt held timeline events: %w", err)
	}
	now := t.clock.Now()
	t.mu.Lock()
	for _, h := range evs {
		h.since = now
		t.held = append(t.held, h)
		t.laneLocked(h.ev.Incident).held++
	}
	t.ownHeld += len(evs)
	t.adopted += len(evs)
	t.mu.Unlock()
	t.signal()
	return nil
}

// laneLocked returns incident's lane, creating it. The caller holds t.mu.
func (t *Timeline) laneLocked(incident string) *lane {
	l := t.lanes[incident]
	if l == nil {
		l = &lane{}
		t.lanes[incident] = l
	}
	return l
}

// dropLaneLocked forgets an idle lane, so the map does not grow with every
// incident ever seen. The caller holds t.mu.
func (t *Timeline) dropLaneLocked(incident string, l *lane) {
	if l.refs == 0 && l.held == 0 && t.lanes[incident] == l {
		delete(t.lanes, incident)
	}
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

// Append records ev. A nil error means the event is safe: in Redis and
// confirmed by the replicas Durability asks for, or held in the spool
// (when Redis or its replicas do not answer within AppendTimeout, or an
// earlier event of the same incident is still held).
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
	if t.closed {
		t.mu.Unlock()
		return ErrTimelineClosed
	}
	l := t.laneLocked(ev.Incident)
	l.refs++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		l.refs--
		t.dropLaneLocked(ev.Incident, l)
		t.mu.Unlock()
	}()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.mu.Lock()
	direct := l.held == 0
	t.mu.Unlock()
	stored := false
	if direct {
		sctx, cancel := withTimeout(ctx, t.cfg.AppendTimeout)
		_, err := t.store(sctx, ev, data)
		cancel()
		if err == nil {
			return nil
		}
		stored = errors.Is(err, ErrNotReplicated)
		if stored {
			t.log.Warn("replicas did not confirm a timeline event in time; holding it in the spool until they do",
				zap.String("incident", ev.Incident), zap.String("event_id", ev.ID.String()), zap.Error(err))
		} else {
			t.log.Warn("redis unreachable; holding timeline events in the spool until it is back",
				zap.String("incident", ev.Incident), zap.String("event_id", ev.ID.String()), zap.Error(err))
		}
	}
	return t.hold(l, ev, data, stored)
}

// hold writes ev to this process's spool and queues it for the flusher.
// The caller holds the incident's lane.
func (t *Timeline) hold(l *lane, ev bot.TimelineEvent, data []byte, stored bool) error {
	t.own.mu.Lock()
	defer t.own.mu.Unlock()
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return ErrTimelineClosed
	}
	if err := t.own.append(data); err != nil {
		return fmt.Errorf("hold timeline event %s of %s: %w", ev.ID, ev.Incident, err)
	}
	t.mu.Lock()
	t.held = append(t.held, heldEvent{ev: ev, data: data, since: t.clock.Now(), stored: stored})
	l.held++
	t.ownHeld++
	if stored {
		t.awaiting++
	}
	t.mu.Unlock()
	t.signal()
	return nil
}

func (t *Timeline) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// store runs the store script for one event, confirms it on replicas, and
// reports whether it was new. A shortfall of replicas wraps
// ErrNotReplicated: the event is on the primary but not yet safe.
func (t *Timeline) store(ctx context.Context, ev bot.TimelineEvent, data []byte) (bool, error) {
	var n int
	err := t.rep.do(ctx, StreamKey(ev.Incident), func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		n, err = storeScript.Run(ctx, c, storeKeys(ev), storeArgs(ev, data)...).Int()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store timeline event %s of %s: %w", ev.ID, ev.Incident, err)
	}
	return n == 1, nil
}

func storeKeys(ev bot.TimelineEvent) []string {
	return []string{StreamKey(ev.Incident), seenKey(ev.Incident), fenceKey(ev.Incident)}
}

func storeArgs(ev bot.TimelineEvent, data []byte) []any {
	return []any{ev.ID.String(), ev.DedupeKey, data}
}

// storeBatch stores events in pipelined round trips, one per primary, each
// followed by a WAIT on the same connection, and reports which are now
// safe, which are on a primary awaiting replicas, and the first error.
func (t *Timeline) storeBatch(ctx context.Context, batch []heldEvent) (safe, stored []bool, firstErr error) {
	ctx, cancel := withTimeout(ctx, 5*time.Second)
	defer cancel()
	safe = make([]bool, len(batch))
	stored = make([]bool, len(batch))
	note := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	// Group by the primary that serves each incident, in batch order.
	type group struct {
		need int
		node *goredis.Client
		idx  []int
	}
	var groups []*group
	byNode := map[*goredis.Client]*group{}
	var direct []int // events to send through the client itself: nothing to confirm
	for i, h := range batch {
		need, node, err := t.rep.required(ctx, StreamKey(h.ev.Incident))
		if err != nil {
			note(err)
			continue
		}
		if need == 0 {
			direct = append(direct, i)
			continue
		}
		g := byNode[node]
		if g == nil {
			g = &group{need: need, node: node}
			byNode[node] = g
			groups = append(groups, g)
		}
		g.need = max(g.need, need)
		g.idx = append(g.idx, i)
	}
	send := func(c goredis.Cmdable, idx []int) []error {
		errs := make([]error, len(idx))
		cmds := make([]*goredis.Cmd, len(idx))
		pipe := c.Pipeline()
		for j, i := range idx {
			h := batch[i]
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT,
			// and a restarted or promoted server may not have the script.
			cmds[j] = storeScript.Eval(ctx, pipe, storeKeys(h.ev), storeArgs(h.ev, h.data)...)
		}
		_, _ = pipe.Exec(ctx)
		for j, cmd := range cmds {
			if err := cmd.Err(); err != nil {
				h := batch[idx[j]]
				errs[j] = fmt.Errorf("store timeline event %s of %s: %w", h.ev.ID, h.ev.Incident, err)
				t.rep.noteError(ctx, err)
			}
		}
		return errs
	}
	if len(direct) > 0 {
		for j, err := range send(t.c, direct) {
			if err != nil {
				note(err)
				continue
			}
			safe[direct[j]] = true
		}
	}
	for _, g := range groups {
		conn := g.node.Conn()
		errs := send(conn, g.idx)
		werr := t.rep.wait(ctx, conn, g.need, StreamKey(batch[g.idx[0]].ev.Incident))
		_ = conn.Close()
		for j, err := range errs {
			switch {
			case err != nil:
				note(err)
			case werr != nil:
				stored[g.idx[j]] = true
				note(werr)
			default:
				safe[g.idx[j]] = true
			}
		}
	}
	return safe, stored, firstErr
}

// Flush writes every held event to Redis, waits for replicas to confirm
// them, and lets go of the spool files that held them. It returns the
// first error; events not yet safe stay held.
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
			t.mu.Unlock()
			err := t.resetOwn()
			if written > 0 {
				t.log.Info("wrote held timeline events to redis", zap.Int("events", written))
			}
			return err
		}
		batch := make([]heldEvent, min(len(t.held), flushBatch))
		copy(batch, t.held)
		t.mu.Unlock()

		safe, stored, err := t.storeBatch(ctx, batch)
		written += t.release(batch, safe, stored)
		if err != nil {
			return err
		}
	}
}

// release drops the safe events of a batch from the held list: per
// incident, only those before its first event that is not safe, so that a
// re-send keeps each incident's order. It returns how many it dropped.
func (t *Timeline) release(batch []heldEvent, safe, stored []bool) int {
	blocked := map[string]bool{}
	drop := make([]bool, len(batch))
	n := 0
	for i, h := range batch {
		inc := h.ev.Incident
		if safe[i] && !blocked[inc] {
			drop[i] = true
			n++
		} else {
			blocked[inc] = true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Only Flush removes events, and only from the batch it copied off the
	// front; Append only adds at the back.
	kept := t.held[:0:0]
	for i, h := range t.held {
		if i < len(batch) {
			if h.stored {
				t.awaiting--
			}
			if stored[i] && !drop[i] {
				h.stored = true
			}
			if h.stored && !drop[i] {
				t.awaiting++
			}
			if drop[i] {
				t.forgetLocked(h)
				continue
			}
		}
		kept = append(kept, h)
	}
	t.held = kept
	if len(t.held) == 0 {
		t.held = nil
	}
	return n
}

// forgetLocked accounts for a held event that is now safe. The caller
// holds t.mu.
func (t *Timeline) forgetLocked(h heldEvent) {
	if l := t.lanes[h.ev.Incident]; l != nil {
		l.held--
		t.dropLaneLocked(h.ev.Incident, l)
	}
	t.ownHeld--
}

// resetOwn empties this process's spool file when nothing in it is still
// held.
func (t *Timeline) resetOwn() error {
	t.own.mu.Lock()
	defer t.own.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ownHeld != 0 || t.closed {
		return nil
	}
	return t.own.reset()
}

// Run writes held events out whenever there are some, retrying with backoff
// while Redis or its replicas do not answer, and adopts the spool files of
// processes that are gone, until ctx ends or the Timeline is closed.
func (t *Timeline) Run(ctx context.Context) error {
	backoff := t.cfg.RetryMin
	failures := 0
	adopt := time.NewTicker(t.cfg.AdoptInterval)
	defer adopt.Stop()
	for {
		if t.isClosed() {
			return nil
		}
		select {
		case <-adopt.C:
			if err := t.adopt(); err != nil {
				t.log.Warn("cannot look for spools of processes that are gone", zap.Error(err))
			}
		default:
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
		case <-adopt.C:
			if err := t.adopt(); err != nil {
				t.log.Warn("cannot look for spools of processes that are gone", zap.Error(err))
			}
		}
	}
}

func (t *Timeline) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Pending is how many events are held until they are safe in Redis.
func (t *Timeline) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.held)
}

// TimelineStats describe the events not yet safe in Redis, for metrics.
type TimelineStats struct {
	// Held is how many events the spool holds (Pending).
	Held int
	// AwaitingReplicas is how many of them are on the primary and wait
	// only for replicas to confirm them.
	AwaitingReplicas int
	// OldestHeld is how long the oldest has been held; 0 when none is.
	OldestHeld time.Duration
	// Adopted is how many events this process has adopted from the spool
	// files of processes that are gone, since it started.
	Adopted int
}

// Stats reports the events not yet safe in Redis.
func (t *Timeline) Stats() TimelineStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TimelineStats{Held: len(t.held), AwaitingReplicas: t.awaiting, Adopted: t.adopted}
	if len(t.held) > 0 {
		oldest := t.held[0].since
		for _, h := range t.held[1:] {
			if h.since.Before(oldest) {
				oldest = h.since
			}
		}
		st.OldestHeld = t.clock.Now().Sub(oldest)
	}
	return st
}

// Close tries once, briefly, to write held events, then lets go of the
// spool files: this process's is deleted when it holds nothing, and what
// is still held stays on disk for the next process to adopt. Call it after
// Run has returned; Append fails afterwards.
func (t *Timeline) Close() error {
	if t.Pending() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := t.Flush(ctx); err != nil && !errors.Is(err, ErrTimelineClosed) {
			t.log.Warn("timeline events still held at shutdown; the next process to start adopts them",
				zap.Int("held", t.Pending()), zap.Error(err))
		}
		cancel()
	}
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.own.mu.Lock()
	defer t.own.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.ownHeld == 0 {
		t.own.remove()
		return nil
	}
	return t.own.close()
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
			if err := decodeEvent(raw, &ev); err != nil {
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
