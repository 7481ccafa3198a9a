package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Alert group keys. Every key carries the hash tag {opsbot:alerts}, so the
// merge script can update a group, its alerts and the due and firing indexes
// in one atomic step on Redis Cluster as on a single server. Alert data is
// modest (the groups firing now and those resolved in the last week), so one
// slot is no hot spot.
const (
	alertsTag    = "{opsbot:alerts}"
	AlertsPrefix = "opsbot:alerts:" + alertsTag + ":"
	alertsDueKey = AlertsPrefix + "due"
	alertsFiring = AlertsPrefix + "firing"
	// alertsFence is bumped by every merge, so that a merge that changes
	// nothing (a notification merged again from the spool) still writes,
	// and the WAIT after it confirms what the first merge wrote.
	alertsFence = AlertsPrefix + "fence"
)

func alertGroupKey(id string) string  { return AlertsPrefix + "group:" + id }
func alertAlertsKey(id string) string { return AlertsPrefix + "alerts:" + id }
func alertStateKey(id string) string  { return AlertsPrefix + "state:" + id }
func alertTimerKey(kind string) string {
	return AlertsPrefix + "timer:" + kind
}

// alertGroupIDRE limits group IDs to what is safe in a key and a file line.
var alertGroupIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// orderLen is the length of an alert's order key: its start in
// milliseconds (20 digits), its status (0 firing, 1 resolved) and its end
// (20 digits). Keys of one alert compare as strings in the order its states
// happen, so the merge keeps the newest whatever order notifications arrive
// in.
const orderLen = 41

// mergeScript merges one notification into its group. See Alerts.Record.
//
// KEYS: group hash, alerts hash, due zset, firing zset, state key, fence.
// ARGV: id, now ms, meta JSON, received ms, resolved TTL ms, then for each
// alert: fingerprint, order key, alert JSON.
// Returns {changed, firing, episode, new episode, version}.
var mergeScript = goredis.NewScript(`
local g, a = KEYS[1], KEYS[2]
local id, now = ARGV[1], tonumber(ARGV[2])
local firing = tonumber(redis.call('HGET', g, 'firing') or '0')
local episode = tonumber(redis.call('HGET', g, 'episode') or '0')
local floor = tonumber(redis.call('HGET', g, 'floor') or '0')
local maxEnds = tonumber(redis.call('HGET', g, 'max_ends') or '0')
local firingBefore = firing
local n = (#ARGV - 5) / 3

-- While nothing fires, a firing alert newer than what is stored (and not a
-- late copy from before the last episode ended) starts a new episode, with
-- an empty set of alerts.
local newEpisode = false
if firing == 0 then
  local epStart = nil
  for i = 0, n - 1 do
    local b = 6 + i * 3
    local key = ARGV[b + 1]
    local starts = tonumber(string.sub(key, 1, 20))
    if string.sub(key, 21, 21) == '0' and starts >= floor then
      local cur = redis.call('HGET', a, ARGV[b])
      if not cur or string.sub(cur, 1, 41) < key then
        newEpisode = true
        if not epStart or starts < epStart then epStart = starts end
      end
    end
  end
  if newEpisode then
    redis.call('DEL', a)
    episode = episode + 1
    maxEnds = 0
    redis.call('HSET', g, 'episode', episode, 'episode_start', epStart)
  end
end

local changed = newEpisode
for i = 0, n - 1 do
  local b = 6 + i * 3
  local fp, key, val = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local cur = redis.call('HGET', a, fp)
  if (cur or tonumber(string.sub(key, 1, 20)) >= floor) and (not cur or string.sub(cur, 1, 41) <= key) then
    local new = key .. val
    if new ~= cur then
      redis.call('HSET', a, fp, new)
      changed = true
      if cur and string.sub(cur, 21, 21) == '0' then firing = firing - 1 end
      if string.sub(key, 21, 21) == '0' then
        firing = firing + 1
      else
        local ends = tonumber(string.sub(key, 22, 41))
        if ends > maxEnds then maxEnds = ends end
      end
    end
  end
end

-- The group's own fields (how many alerts the sender left out, the common
-- annotations) change what its message says even when its alerts do not.
if not changed and episode > 0 and redis.call('HGET', g, 'meta') ~= ARGV[3] then changed = true end

local version = tonumber(redis.call('HGET', g, 'version') or '0')
if changed then
  version = redis.call('HINCRBY', g, 'version', 1)
  redis.call('HSET', g, 'meta', ARGV[3], 'updated', now, 'firing', firing, 'max_ends', maxEnds)
  if redis.call('HEXISTS', g, 'pending') == 0 then redis.call('HSET', g, 'pending', ARGV[4]) end
  if episode > 0 then
    local score = now
    if not newEpisode then
      local nxt = tonumber(redis.call('HGET', g, 'next') or '0')
      if nxt > score then score = nxt end
    end
    local cur = redis.call('ZSCORE', KEYS[3], id)
    if not cur or tonumber(cur) > score then redis.call('ZADD', KEYS[3], score, id) end
  end
end
if firing > 0 then
  redis.call('ZADD', KEYS[4], tonumber(redis.call('HGET', g, 'episode_start')), id)
  redis.call('PERSIST', g)
  redis.call('PERSIST', a)
  redis.call('PERSIST', KEYS[5])
else
  redis.call('ZREM', KEYS[4], id)
  if firingBefore > 0 then redis.call('HSET', g, 'floor', maxEnds) end
  redis.call('PEXPIRE', g, ARGV[5])
  redis.call('PEXPIRE', a, ARGV[5])
  redis.call('PEXPIRE', KEYS[5], ARGV[5])
end
redis.call('INCR', KEYS[6])
return {changed and 1 or 0, firing, episode, newEpisode and 1 or 0, version}
`)

// renderedScript records a render; see Alerts.Rendered.
var renderedScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
if ARGV[3] ~= '0' then redis.call('HSET', KEYS[1], 'next', ARGV[3]) end
redis.call('HSET', KEYS[1], 'shown', ARGV[2])
if tonumber(redis.call('HGET', KEYS[1], 'version') or '0') == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[1], 'pending')
  return 1
end
redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'next') or ARGV[3], ARGV[1])
return 0`)

// claimTimersScript hands out due timers, pushing each to the end of its
// lease so that no other replica takes it meanwhile. It answers the IDs with
// their scores before the claim, so that a claim can be given back.
var claimTimersScript = goredis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i]) end
return due`)

// unclaimTimersScript gives claimed timers back: each that still ends its
// lease at ARGV[1] (nobody rescheduled or took it since) is due again at
// its old score. ARGV[2…]: ID, old score pairs.
var unclaimTimersScript = goredis.NewScript(`
local lease = tonumber(ARGV[1])
for i = 2, #ARGV - 1, 2 do
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if cur and tonumber(cur) == lease then redis.call('ZADD', KEYS[1], 'XX', ARGV[i + 1], ARGV[i]) end
end
return 0`)

// restoreStateScript puts a group's state back as it was before an
// unconfirmed change, if nobody changed it since. ARGV: the state written,
// the state before ("" when there was none).
var restoreStateScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1`)

// Defaults of AlertsConfig.
const (
	// DefaultResolvedTTL is how long a group is kept after it resolved: a
	// late click on its message still finds it, and a week of resolved
	// groups stays small.
	DefaultResolvedTTL  = 7 * 24 * time.Hour
	alertsStateAttempts = 50
)

// AlertsConfig configures an Alerts store.
type AlertsConfig struct {
	// Client is required.
	Client Client
	// SpoolDir is the local directory (on a persistent volume in
	// production) where notifications are held while Redis is unreachable;
	// the timeline's spool dir will do, the files differ. Required.
	SpoolDir string
	Logger   *zap.Logger
	// RecordTimeout bounds how long Record waits for Redis before holding
	// the notification instead (default 1s), so that the webhook answers in
	// time.
	RecordTimeout time.Duration
	// RetryMin and RetryMax bound the flusher's backoff while Redis is
	// unreachable (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
	// ResolvedTTL is how long a resolved group is kept (default
	// DefaultResolvedTTL).
	ResolvedTTL time.Duration
	// Durability says when a notification is merged and a claim
	// (ClaimState, ClaimTimers) counts: see Durability; the zero value
	// waits for every replica online.
	Durability Durability
}

// Alerts is the bot.AlertStore on Redis. Notifications are merged by an
// atomic script, alert by alert, so that the same notification delivered
// twice (Alertmanager retries, an HA pair, two replicas) changes nothing the
// second time and late deliveries never roll an alert back. A notification
// counts as recorded (the webhook answers 200, and the sender will not send
// it again) once the replicas the store's Durability asks for have the
// merge, as timeline events do: while Redis is unreachable, or its replicas
// do not confirm in time, Record holds notifications in a local fsync'd
// spool and Run merges them, until the replicas confirm, once it is back.
// Merging is idempotent, so a re-send or a crash that replays the spool is
// harmless.
//
// What decides that something happens once counts only once the replicas
// the store's Durability asks for have it, and is given back otherwise
// (ClaimState: an acknowledgement, the auto-declare rule applied;
// ClaimTimers: an escalation taken): a failover cannot let it happen twice.
// Other state changes (the message posted, the page sent) wait for the
// replicas too but stand when they are slow, logged, because they record
// what was already done: a failover in that moment can lose the record of
// a posted message, and the next render then posts a second one.
type Alerts struct {
	c   Client
	cfg AlertsConfig
	log *zap.Logger
	rep *replicas // for claims
	// merges confirms merged notifications; the spool holds them
	// meanwhile, so it waits for replicas that dropped out too.
	merges *replicas

	wake    chan struct{}
	flushMu sync.Mutex

	mu     sync.Mutex // guards spool and held, and orders holding
	spool  *lineSpool
	held   []heldNotification
	closed bool
}

type heldNotification struct {
	id   string
	n    bot.AlertNotification
	data []byte // the spool line's JSON
}

// spooledNotification is one spool line.
type spooledNotification struct {
	ID           string                `json:"id"`
	Notification bot.AlertNotification `json:"notification"`
}

var _ bot.AlertStore = (*Alerts)(nil)

// AlertsSpoolFile names the alert store's spool files in
// AlertsConfig.SpoolDir: each process writes "alerts-PID-RANDOM.spool" and
// adopts those of processes that are gone (and this file, of earlier
// versions), so processes on one host may share the directory.
const AlertsSpoolFile = "alerts.spool"

// NewAlerts creates this process's spool file. Notifications that processes
// now gone left in theirs are adopted, held again and merged by Run.
func NewAlerts(cfg AlertsConfig) (*Alerts, error) {
	if cfg.Client == nil {
		return nil, errors.New("alerts store: no redis client")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("alerts store: no spool dir")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Second, cfg.RetryMin)
	}
	if cfg.ResolvedTTL <= 0 {
		cfg.ResolvedTTL = DefaultResolvedTTL
	}
	if err := cfg.Durability.Validate(); err != nil {
		return nil, fmt.Errorf("alerts store: %w", err)
	}
	log := cfg.Logger.Named("alerts")
	sp, lines, err := openLineSpool(cfg.SpoolDir, AlertsSpoolFile, log)
	if err != nil {
		return nil, fmt.Errorf("alerts store: %w", err)
	}
	opts := applyOptions([]Option{WithDurability(cfg.Durability), WithLogger(log)})
	a := &Alerts{c: cfg.Client, cfg: cfg, log: log, rep: newReplicas(cfg.Client, opts, false),
		merges: newReplicas(cfg.Client, opts, true), wake: make(chan struct{}, 1), spool: sp}
	for _, line := range lines {
		var s spooledNotification
		if err := json.Unmarshal(line, &s); err != nil || !alertGroupIDRE.MatchString(s.ID) {
			log.Error("alerts spool: skipping undecodable notification", zap.String("spool", sp.path), zap.Error(err))
			continue
		}
		a.held = append(a.held, heldNotification{id: s.ID, n: s.Notification, data: line})
	}
	if len(a.held) > 0 {
		log.Info("found alert notifications held by a previous run; merging them once redis answers",
			zap.String("spool", sp.path), zap.Int("held", len(a.held)))
		a.signal()
	}
	return a, nil
}

func (a *Alerts) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Record implements bot.AlertStore: merged in Redis and confirmed by its
// replicas when they answer within RecordTimeout and nothing is held,
// otherwise held in the spool.
func (a *Alerts) Record(ctx context.Context, id string, n bot.AlertNotification) error {
	if !alertGroupIDRE.MatchString(id) {
		return fmt.Errorf("record alert notification: invalid group ID %q", id)
	}
	if len(n.Alerts) == 0 {
		return fmt.Errorf("record alert notification for group %s: no alerts", id)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("alerts store closed")
	}
	if len(a.held) == 0 {
		sctx, cancel := withTimeout(ctx, a.cfg.RecordTimeout)
		err := a.merges.do(sctx, alertsDueKey, func(ctx context.Context, c goredis.Cmdable) error {
			return a.merge(ctx, c, id, n)
		})
		cancel()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrNotReplicated):
			a.log.Warn("replicas did not confirm an alert notification in time; holding it in the spool until they do",
				zap.String("alert_group", id), zap.Error(err))
		default:
			a.log.Warn("redis unreachable; holding alert notifications in the spool until it is back",
				zap.String("alert_group", id), zap.Error(err))
		}
	}
	data, err := json.Marshal(spooledNotification{ID: id, Notification: n})
	if err != nil {
		return fmt.Errorf("encode alert notification for group %s: %w", id, err)
	}
	if err := a.spool.append(data); err != nil {
		return fmt.Errorf("hold alert notification for group %s: %w", id, err)
	}
	a.held = append(a.held, heldNotification{id: id, n: n, data: data})
	a.signal()
	return nil
}

// merge runs the merge script for one notification on c (the client or a
// pipeline).
func (a *Alerts) merge(ctx context.Context, c goredis.Scripter, id string, n bot.AlertNotification) error {
	keys, args, err := a.mergeArgs(id, n)
	if err != nil {
		return err
	}
	if err := mergeScript.Run(ctx, c, keys, args...).Err(); err != nil {
		return fmt.Errorf("merge alert notification into group %s: %w", id, err)
	}
	return nil
}

// groupMeta is the group-level part of a notification, as stored.
type groupMeta struct {
	Source            bot.AlertSource   `json:"source"`
	Receiver          string            `json:"receiver"`
	GroupKey          string            `json:"groupKey"`
	GroupLabels       map[string]string `json:"groupLabels,omitempty"`
	CommonLabels      map[string]string `json:"commonLabels,omitempty"`
	CommonAnnotations map[string]string `json:"commonAnnotations,omitempty"`
	ExternalURL       string            `json:"externalURL,omitempty"`
	OrgID             int64             `json:"orgId,omitempty"`
	Title             string            `json:"title,omitempty"`
	TruncatedAlerts   int               `json:"truncatedAlerts,omitempty"`
}

func (a *Alerts) mergeArgs(id string, n bot.AlertNotification) ([]string, []any, error) {
	meta, err := json.Marshal(groupMeta{Source: n.Source, Receiver: n.Receiver, GroupKey: n.GroupKey,
		GroupLabels: n.GroupLabels, CommonLabels: n.CommonLabels, CommonAnnotations: n.CommonAnnotations,
		ExternalURL: n.ExternalURL, OrgID: n.OrgID, Title: n.Title, TruncatedAlerts: n.TruncatedAlerts})
	if err != nil {
		return nil, nil, fmt.Errorf("encode alert group %s: %w", id, err)
	}
	now := n.ReceivedAt
	if now.IsZero() {
		now = time.Now()
	}
	args := make([]any, 0, 5+3*len(n.Alerts))
	args = append(args, id, millis(now), meta, millis(now), a.cfg.ResolvedTTL.Milliseconds())
	// A notification lists each alert once; should a sender repeat one,
	// the merge would count it twice as firing.
	seen := make(map[string]bool, len(n.Alerts))
	for _, al := range n.Alerts {
		if al.Fingerprint == "" || seen[al.Fingerprint] {
			continue
		}
		seen[al.Fingerprint] = true
		val, err := json.Marshal(al)
		if err != nil {
			return nil, nil, fmt.Errorf("encode alert %s of group %s: %w", al.Fingerprint, id, err)
		}
		args = append(args, al.Fingerprint, orderKey(al), val)
	}
	keys := []string{alertGroupKey(id), alertAlertsKey(id), alertsDueKey, alertsFiring, alertStateKey(id), alertsFence}
	return keys, args, nil
}

// orderKey orders the states of one alert: start, then firing before
// resolved, then end.
func orderKey(al bot.Alert) string {
	st := byte('0')
	if al.Status == bot.AlertResolved {
		st = '1'
	}
	var ends int64
	if st == '1' {
		ends = millis(al.EndsAt)
	}
	return fmt.Sprintf("%020d%c%020d", millis(al.StartsAt), st, ends)
}

func millis(t time.Time) int64 {
	if t.IsZero() || t.UnixMilli() < 0 {
		return 0
	}
	return t.UnixMilli()
}

// Pending is how many notifications are held for Redis, for metrics.
func (a *Alerts) Pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.held)
}

// Flush merges every held notification into Redis, waits for the replicas
// to confirm them, and empties the spool. It returns the first error;
// notifications not yet confirmed stay held.
//
// A batch the replicas do not confirm is merged on the primary all the
// same, so the flush goes on with the next ones: merges do not depend on
// their order, and the groups' messages then show every notification while
// the replicas catch up (a primary promoted alone waits for the old one to
// come back as its replica). It stops at the first batch Redis does not
// take at all.
func (a *Alerts) Flush(ctx context.Context) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	written := 0
	var unconfirmed error
	for off := 0; ; {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return errors.New("alerts store closed")
		}
		if off >= len(a.held) {
			var err error
			if len(a.held) == 0 {
				err = a.spool.reset()
			}
			a.mu.Unlock()
			if written > 0 {
				a.log.Info("merged held alert notifications into redis", zap.Int("notifications", written))
			}
			return errors.Join(unconfirmed, err)
		}
		batch := make([]heldNotification, min(len(a.held)-off, 64))
		copy(batch, a.held[off:])
		a.mu.Unlock()

		n, err := a.mergeBatch(ctx, batch)

		a.mu.Lock()
		// Only Flush removes, and only what it copied; Record only adds
		// at the back.
		a.held = append(a.held[:off], a.held[off+n:]...)
		if len(a.held) == 0 {
			a.held = nil
		}
		a.mu.Unlock()
		written += n
		switch {
		case errors.Is(err, ErrNotReplicated):
			if unconfirmed == nil {
				unconfirmed = err
			}
			off += len(batch)
		case err != nil:
			return err
		}
	}
}

// mergeBatch merges notifications in one pipelined round trip, confirmed
// on the replicas, and returns how many leading ones are safe: all of them,
// or none when the replicas fall short (they stay held and are merged
// again, which changes nothing on the primary).
func (a *Alerts) mergeBatch(ctx context.Context, batch []heldNotification) (int, error) {
	ctx, cancel := withTimeout(ctx, 10*time.Second)
	defer cancel()
	// Every alert key shares one slot, so one primary and one connection
	// serve the whole batch.
	err := a.merges.do(ctx, alertsDueKey, func(ctx context.Context, c goredis.Cmdable) error {
		pipe := c.Pipeline()
		cmds := make([]*goredis.Cmd, len(batch))
		for i, h := range batch {
			keys, args, err := a.mergeArgs(h.id, h.n)
			if err != nil {
				// Record spooled only what it could encode, so this is a
				// corrupted spool line; dropping it beats blocking every
				// later notification.
				a.log.Error("dropping held alert notification that cannot be encoded", zap.String("alert_group", h.id), zap.Error(err))
				continue
			}
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
			cmds[i] = mergeScript.Eval(ctx, pipe, keys, args...)
		}
		_, _ = pipe.Exec(ctx)
		for i, cmd := range cmds {
			if cmd == nil {
				continue
			}
			if err := cmd.Err(); err != nil {
				return fmt.Errorf("merge held alert notification into group %s: %w", batch[i].id, err)
			}
		}
		return nil
	})
	if err != nil {
		// What the pipeline merged before an error is not confirmed on
		// the replicas: all of the batch stays held.
		return 0, err
	}
	return len(batch), nil
}

// Run merges held notifications whenever there are some, retrying with
// backoff while Redis is unreachable, until ctx ends or the store closes.
func (a *Alerts) Run(ctx context.Context) error {
	backoff := a.cfg.RetryMin
	failures := 0
	for {
		if a.isClosed() {
			return nil
		}
		if a.Pending() > 0 {
			err := a.Flush(ctx)
			switch {
			case err == nil:
				backoff, failures = a.cfg.RetryMin, 0
				continue
			case ctx.Err() != nil || a.isClosed():
				return nil
			}
			failures++
			if failures == 1 || failures%20 == 0 {
				a.log.Warn("cannot merge held alert notifications yet; retrying",
					zap.Int("held", a.Pending()), zap.Int("attempt", failures), zap.Duration("backoff", backoff), zap.Error(err))
			}
			if bot.Sleep(ctx, backoff) != nil {
				return nil
			}
			backoff = min(backoff*2, a.cfg.RetryMax)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		}
	}
}

func (a *Alerts) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// Close tries once, briefly, to merge held notifications, then closes the
// spool; what is still held stays in it for the next start. Call it after
// Run has returned.
func (a *Alerts) Close() error {
	if a.Pending() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.Flush(ctx); err != nil {
			a.log.Warn("alert notifications still held at shutdown; they are merged on the next start",
				zap.Int("held", a.Pending()), zap.Error(err))
		}
		cancel()
	}
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	return a.spool.close()
}

// Group implements bot.AlertStore. The group, its alerts and its state are
// read in one transaction, so the version read matches the data.
func (a *Alerts) Group(ctx context.Context, id string) (bot.AlertGroup, error) {
	if !alertGroupIDRE.MatchString(id) {
		return bot.AlertGroup{}, fmt.Errorf("alert group %q: %w", id, bot.ErrAlertGroupNotFound)
	}
	ctx, cancel := withTimeout(ctx, 5*time.Second)
	defer cancel()
	var hg, ha *goredis.MapStringStringCmd
	var st *goredis.StringCmd
	var due *goredis.FloatCmd
	_, err := a.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		hg = p.HGetAll(ctx, alertGroupKey(id))
		ha = p.HGetAll(ctx, alertAlertsKey(id))
		st = p.Get(ctx, alertStateKey(id))
		due = p.ZScore(ctx, alertsDueKey, id)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return bot.AlertGroup{}, fmt.Errorf("read alert group %s: %w", id, err)
	}
	h := hg.Val()
	if len(h) == 0 {
		return bot.AlertGroup{}, fmt.Errorf("alert group %s: %w", id, bot.ErrAlertGroupNotFound)
	}
	var meta groupMeta
	if err := json.Unmarshal([]byte(h["meta"]), &meta); err != nil {
		return bot.AlertGroup{}, fmt.Errorf("decode alert group %s: %w", id, err)
	}
	g := bot.AlertGroup{ID: id, Source: meta.Source, Receiver: meta.Receiver, GroupKey: meta.GroupKey,
		GroupLabels: meta.GroupLabels, CommonLabels: meta.CommonLabels, CommonAnnotations: meta.CommonAnnotations,
		ExternalURL: meta.ExternalURL, OrgID: meta.OrgID, Title: meta.Title, TruncatedAlerts: meta.TruncatedAlerts,
		Firing: atoi(h["firing"]), Episode: atoi(h["episode"]), Version: int64(atoi(h["version"])), Shown: int64(atoi(h["shown"])),
		EpisodeStart: fromMillis(h["episode_start"]), Pending: fromMillis(h["pending"]), UpdatedAt: fromMillis(h["updated"]),
		NextEdit: fromMillis(h["next"])}
	if score, err := due.Result(); err == nil {
		g.DueAt = time.UnixMilli(max(int64(score), 1)).UTC()
	}
	for fp, v := range ha.Val() {
		if len(v) < orderLen {
			continue
		}
		var al bot.Alert
		if err := json.Unmarshal([]byte(v[orderLen:]), &al); err != nil {
			a.log.Error("skipping undecodable alert", zap.String("alert_group", id), zap.String("fingerprint", fp), zap.Error(err))
			continue
		}
		g.Alerts = append(g.Alerts, al)
	}
	sortAlerts(g.Alerts)
	if raw, err := st.Bytes(); err == nil {
		if err := json.Unmarshal(raw, &g.State); err != nil {
			return bot.AlertGroup{}, fmt.Errorf("decode state of alert group %s: %w", id, err)
		}
	}
	return g, nil
}

// sortAlerts puts firing alerts first, oldest first, then resolved ones,
// most recently resolved first; fingerprints break ties.
func sortAlerts(as []bot.Alert) {
	sort.Slice(as, func(i, j int) bool {
		x, y := as[i], as[j]
		if x.Firing() != y.Firing() {
			return x.Firing()
		}
		if x.Firing() {
			if !x.StartsAt.Equal(y.StartsAt) {
				return x.StartsAt.Before(y.StartsAt)
			}
		} else if !x.EndsAt.Equal(y.EndsAt) {
			return x.EndsAt.After(y.EndsAt)
		}
		return x.Fingerprint < y.Fingerprint
	})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func fromMillis(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Due implements bot.AlertStore.
func (a *Alerts) Due(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	ids, err := a.c.ZRangeByScore(ctx, alertsDueKey, &goredis.ZRangeBy{Min: "-inf",
		Max: strconv.FormatInt(millis(now), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("list alert groups due: %w", err)
	}
	return ids, nil
}

// Rendered implements bot.AlertStore.
func (a *Alerts) Rendered(ctx context.Context, id string, version int64, next time.Time) error {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	err := renderedScript.Run(ctx, a.c, []string{alertGroupKey(id), alertsDueKey}, id, version, millis(next)).Err()
	if err != nil {
		return fmt.Errorf("record render of alert group %s: %w", id, err)
	}
	return nil
}

// Reschedule implements bot.AlertStore.
func (a *Alerts) Reschedule(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	if err := a.c.ZAdd(ctx, alertsDueKey, goredis.Z{Score: float64(millis(at)), Member: id}).Err(); err != nil {
		return fmt.Errorf("reschedule alert group %s: %w", id, err)
	}
	return nil
}

// errStateAbort carries fn's error out of the WATCH callback untouched.
type errStateAbort struct{ err error }

func (e errStateAbort) Error() string { return e.err.Error() }

// UpdateState implements bot.AlertStore with an optimistic WATCH on the
// state key. The state expires with its group. The change waits for the
// replicas and stands when they are slow (logged).
func (a *Alerts) UpdateState(ctx context.Context, id string, touch bool, fn func(*bot.AlertGroupState) error) (bot.AlertGroupState, error) {
	return a.updateState(ctx, id, touch, false, fn)
}

// ClaimState implements bot.AlertStore: UpdateState, but a change the
// replicas do not confirm in time is given back (the state as it was,
// unless changed since) and reported as an error wrapping ErrNotReplicated.
func (a *Alerts) ClaimState(ctx context.Context, id string, touch bool, fn func(*bot.AlertGroupState) error) (bot.AlertGroupState, error) {
	return a.updateState(ctx, id, touch, true, fn)
}

func (a *Alerts) updateState(ctx context.Context, id string, touch, claim bool, fn func(*bot.AlertGroupState) error) (bot.AlertGroupState, error) {
	if !alertGroupIDRE.MatchString(id) {
		return bot.AlertGroupState{}, fmt.Errorf("alert group %q: %w", id, bot.ErrAlertGroupNotFound)
	}
	ctx, cancel := withTimeout(ctx, 5*time.Second)
	defer cancel()
	sk, gk := alertStateKey(id), alertGroupKey(id)
	var out bot.AlertGroupState
	var before, after []byte // the state as read and as written
	var confirmErr error
	txf := func(tx *goredis.Tx) error {
		ttl, err := tx.PTTL(ctx, gk).Result()
		if err != nil {
			return err
		}
		if ttl == -2*time.Nanosecond || ttl == -2*time.Millisecond {
			return errStateAbort{fmt.Errorf("alert group %s: %w", id, bot.ErrAlertGroupNotFound)}
		}
		var st bot.AlertGroupState
		raw, err := tx.Get(ctx, sk).Bytes()
		before = raw
		switch {
		case errors.Is(err, goredis.Nil):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(raw, &st); err != nil {
				return errStateAbort{fmt.Errorf("decode state of alert group %s: %w", id, err)}
			}
		}
		if err := fn(&st); err != nil {
			return errStateAbort{err}
		}
		data, err := json.Marshal(st)
		if err != nil {
			return errStateAbort{fmt.Errorf("encode state of alert group %s: %w", id, err)}
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, sk, data, 0)
			if ttl > 0 {
				p.PExpire(ctx, sk, ttl)
			}
			if touch {
				p.HIncrBy(ctx, gk, "version", 1)
				// Score 1 (ms after the epoch): due now whatever the
				// caller's clock says, and ahead of groups waiting for
				// their next edit.
				p.ZAdd(ctx, alertsDueKey, goredis.Z{Score: 1, Member: id})
			}
			return nil
		})
		if err == nil {
			out, after = st, data
			confirmErr = a.rep.confirmTx(ctx, tx, sk)
		}
		return err
	}
	for attempt := 0; attempt < alertsStateAttempts; attempt++ {
		err := a.c.Watch(ctx, txf, sk)
		if errors.Is(err, goredis.TxFailedErr) {
			continue
		}
		var abort errStateAbort
		if errors.As(err, &abort) {
			return bot.AlertGroupState{}, abort.err
		}
		if err != nil {
			return bot.AlertGroupState{}, fmt.Errorf("update state of alert group %s: %w", id, err)
		}
		if confirmErr == nil {
			return out, nil
		}
		if !claim {
			a.log.Warn("alert group state not yet on every replica; a failover now would roll it back",
				zap.String("alert_group", id), zap.Error(confirmErr))
			return out, nil
		}
		a.rep.giveBack(ctx, sk, func(ctx context.Context, c goredis.Cmdable) error {
			return restoreStateScript.Run(ctx, c, []string{sk}, after, before).Err()
		})
		return bot.AlertGroupState{}, fmt.Errorf("update state of alert group %s: %w", id, confirmErr)
	}
	return bot.AlertGroupState{}, fmt.Errorf("update state of alert group %s: too much contention", id)
}

// Firing implements bot.AlertStore.
func (a *Alerts) Firing(ctx context.Context) ([]string, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	ids, err := a.c.ZRange(ctx, alertsFiring, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list firing alert groups: %w", err)
	}
	return ids, nil
}

// ScheduleTimer implements bot.AlertStore.
func (a *Alerts) ScheduleTimer(ctx context.Context, kind, id string, at time.Time) error {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	if err := a.c.ZAdd(ctx, alertTimerKey(kind), goredis.Z{Score: float64(millis(at)), Member: id}).Err(); err != nil {
		return fmt.Errorf("schedule %s of alert group %s: %w", kind, id, err)
	}
	return nil
}

// CancelTimer implements bot.AlertStore.
func (a *Alerts) CancelTimer(ctx context.Context, kind, id string) error {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	if err := a.c.ZRem(ctx, alertTimerKey(kind), id).Err(); err != nil {
		return fmt.Errorf("cancel %s of alert group %s: %w", kind, id, err)
	}
	return nil
}

// ClaimTimers implements bot.AlertStore. Claims the replicas do not
// confirm in time are given back (due again as they were) and reported as
// an error wrapping ErrNotReplicated: what they start (a page) waits for
// the next round rather than risk being started twice.
func (a *Alerts) ClaimTimers(ctx context.Context, kind string, now time.Time, lease time.Duration, limit int) ([]string, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	key, until := alertTimerKey(kind), millis(now.Add(lease))
	var due []string // ID, old score pairs
	err := a.rep.claim(ctx, key, func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		due, err = claimTimersScript.Run(ctx, c, []string{key}, millis(now), until, limit).StringSlice()
		if errors.Is(err, goredis.Nil) {
			err = nil
		}
		return err
	}, func(ctx context.Context, c goredis.Cmdable) error {
		if len(due) == 0 {
			return nil
		}
		args := append([]any{until}, anys(due)...)
		return unclaimTimersScript.Run(ctx, c, []string{key}, args...).Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim %s timers: %w", kind, err)
	}
	ids := make([]string, 0, len(due)/2)
	for i := 0; i+1 < len(due); i += 2 {
		ids = append(ids, due[i])
	}
	return ids, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
