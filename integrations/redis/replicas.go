package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Replica counts for Durability.Replicas.
const (
	// ReplicasAuto (the zero value) waits for every replica the primary
	// has online: none on a single server, which then pays nothing, and
	// all of them under Sentinel, because Sentinel may promote any of
	// them. Once a deployment has had replicas, a primary left with none
	// (cut off while Sentinel promotes one of them, or promoted by a
	// Cluster whose primary had one replica) confirms nothing: a replica a
	// Cluster promotes, at an address of its own, inherits the count of
	// the primary it replaced.
	// Timeline events, which the spool can hold, wait moreover for every
	// replica that dropped out until it has been gone for
	// ReplicaForgetAfter; claims, which cannot be held, settle for the
	// replicas online, so that a dead server does not stop declarations.
	ReplicasAuto = 0
	// ReplicasNone never waits: a failover may lose the writes of the
	// last moments before it.
	ReplicasNone = -1
)

// DefaultReplicaTimeout bounds how long a write waits for replicas before
// opsbot stops counting on them (the timeline then holds the event in its
// spool and re-sends it until they confirm it).
const DefaultReplicaTimeout = 250 * time.Millisecond

// MaxReplicaTimeout bounds the replica timeout: a command that waits this
// long is already slower than a chat bot should be.
const MaxReplicaTimeout = 5 * time.Second

// replicaCountTTL is how long an automatic replica count is reused before
// INFO is asked again: replicas that join are counted within a second.
const replicaCountTTL = time.Second

// ReplicaForgetAfter is how long a replica must stay out before the
// automatic count stops waiting for it. Until then, writes are held (in the
// timeline's spool) rather than trusted to fewer replicas: a failover, or a
// replica restart, takes seconds; a replica gone for minutes was removed.
const ReplicaForgetAfter = 5 * time.Minute

// Durability says when a write counts as safe: once it is on the primary
// and on Replicas replicas (Redis WAIT), so that a failover, which promotes
// a replica, cannot lose it.
type Durability struct {
	// Replicas is how many replicas must confirm a write: ReplicasAuto,
	// ReplicasNone, or a number. A number larger than the replicas online
	// makes every write wait out Timeout and count as unconfirmed.
	Replicas int
	// Timeout bounds each wait (default DefaultReplicaTimeout, at most
	// MaxReplicaTimeout).
	Timeout time.Duration
}

// Validate checks d.
func (d Durability) Validate() error {
	switch {
	case d.Replicas < ReplicasNone:
		return fmt.Errorf("replicas %d: want a number of replicas, 0, or auto", d.Replicas)
	case d.Timeout < 0 || d.Timeout > MaxReplicaTimeout:
		return fmt.Errorf("replica timeout %s: want at most %s", d.Timeout, MaxReplicaTimeout)
	}
	return nil
}

// ErrNotReplicated says a write reached the primary but not enough replicas
// confirmed it in time: a failover now could undo it.
var ErrNotReplicated = errors.New("not confirmed by enough replicas")

// Option configures a store of this package.
type Option func(*storeOptions)

type storeOptions struct {
	durability Durability
	log        *zap.Logger
}

// WithDurability sets when the store's writes count as safe (default: the
// zero Durability, every online replica).
func WithDurability(d Durability) Option {
	return func(o *storeOptions) { o.durability = d }
}

// WithLogger gives the store a logger (default none).
func WithLogger(l *zap.Logger) Option {
	return func(o *storeOptions) { o.log = l }
}

func applyOptions(opts []Option) storeOptions {
	o := storeOptions{log: zap.NewNop()}
	for _, f := range opts {
		f(&o)
	}
	if o.durability.Timeout <= 0 {
		o.durability.Timeout = DefaultReplicaTimeout
	}
	return o
}

// replicas confirms writes on replicas with WAIT. WAIT counts the replicas
// that have everything its own connection wrote, so the write and the WAIT
// go down one connection to the primary that serves the key.
type replicas struct {
	c   Client
	d   Durability
	log *zap.Logger
	// all makes the automatic count wait for replicas that dropped out
	// (see ReplicasAuto): for writes a spool holds meanwhile.
	all bool

	mu     sync.Mutex
	counts map[string]replicaCount // by node address; "" for a non-cluster client
	warned bool
}

// replicaCount is the automatic count of one primary (or, through
// Sentinel, of whichever server is primary).
type replicaCount struct {
	// need is the highest number of replicas seen online, lowered only
	// after fewer have been online for ReplicaForgetAfter.
	need int
	// online is the number last seen online.
	online int
	// at is when INFO was last read.
	at time.Time
	// fewerSince is when fewer than need were first seen online.
	fewerSince time.Time
	// replid is the primary's replication ID when INFO was last read. A
	// replica promoted to primary keeps its former primary's ID as its
	// second one (master_replid2), which ties a Cluster primary at a new
	// address to the count of the one it replaced.
	replid string
}

// observe updates the count with online replicas seen at now and reports
// whether need was lowered.
func (rc *replicaCount) observe(online int, now time.Time) (lowered bool) {
	rc.at, rc.online = now, online
	switch {
	case online >= rc.need:
		rc.need, rc.fewerSince = online, time.Time{}
	case rc.fewerSince.IsZero():
		rc.fewerSince = now
	case now.Sub(rc.fewerSince) >= ReplicaForgetAfter:
		rc.need, rc.fewerSince = online, time.Time{}
		return true
	}
	return false
}

// newReplicas confirms writes on c's replicas as o says; all makes the
// automatic count wait for replicas that dropped out too (see
// ReplicasAuto), for writes that a spool holds meanwhile.
func newReplicas(c Client, o storeOptions, all bool) *replicas {
	return &replicas{c: c, d: o.durability, log: o.log, all: all, counts: map[string]replicaCount{}}
}

// wanted is how many replicas a write must reach, given the count.
func (rc replicaCount) wanted(all bool) int {
	switch {
	case all || rc.need == 0:
		return rc.need
	default:
		return max(rc.online, 1)
	}
}

// node returns a client for the primary that serves key (the client itself
// unless it is a cluster client) and its address for the count cache.
func (r *replicas) node(ctx context.Context, key string) (*goredis.Client, string, error) {
	switch c := r.c.(type) {
	case *goredis.Client:
		return c, "", nil
	case *goredis.ClusterClient:
		n, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, "", fmt.Errorf("find the primary for %q: %w", key, err)
		}
		return n, n.Options().Addr, nil
	}
	return nil, "", nil
}

// required is how many replicas must confirm a write to key now, and the
// client to write through when that is more than none.
func (r *replicas) required(ctx context.Context, key string) (int, *goredis.Client, error) {
	if r.d.Replicas == ReplicasNone {
		return 0, nil, nil
	}
	node, addr, err := r.node(ctx, key)
	if err != nil {
		return 0, nil, err
	}
	if node == nil {
		// A client type that cannot pin a connection (a Ring, a wrapper):
		// WAIT would count some other connection's writes.
		r.warnOnce("this redis client cannot confirm writes on replicas; a failover may lose the last writes")
		return 0, nil, nil
	}
	if r.d.Replicas > 0 {
		return r.d.Replicas, node, nil
	}
	r.mu.Lock()
	cached, ok := r.counts[addr]
	r.mu.Unlock()
	if ok && time.Since(cached.at) < replicaCountTTL {
		return cached.wanted(r.all), node, nil
	}
	rs, err := readReplication(ctx, node)
	if err != nil && !ok {
		// Some managed servers refuse INFO; a number in
		// redis.min_replicas avoids asking.
		r.warnOnce("cannot count the primary's replicas (INFO replication); writes are not confirmed on replicas: "+
			"set redis.min_replicas to the number to wait for", zap.Error(err))
	}
	r.mu.Lock()
	rc := r.observeLocked(addr, rs, err == nil, time.Now())
	r.mu.Unlock()
	return rc.wanted(r.all), node, nil
}

// observeLocked updates the count of the primary at addr with what its
// INFO replication said at now (read is false when it could not be read)
// and returns it. The caller holds r.mu.
func (r *replicas) observeLocked(addr string, rs replication, read bool, now time.Time) replicaCount {
	rc := r.counts[addr]
	// Keep what was known unless INFO answered for a primary: an
	// unreachable server fails the write anyway, a refusal should not
	// lower the count, and a server that is no longer a primary (a stale
	// slot map) answers the write with a redirection.
	online := rc.online
	if read && rs.primary {
		online = rs.online
		if rs.replid != rc.replid {
			r.inheritLocked(&rc, rs)
		}
	}
	was := rc.need
	if rc.observe(online, now) {
		r.log.Warn("a replica has been gone for a while; no longer waiting for it",
			zap.Int("replicas_before", was), zap.Int("replicas_now", rc.need), zap.Duration("gone_for", ReplicaForgetAfter))
	}
	r.counts[addr] = rc
	return rc
}

// inheritLocked carries the count of the primary that rc's server took
// over from (a replica it promoted, as Cluster does at a new address) over
// to rc, so that the replica a failover took away is still waited for: a
// Cluster primary with one replica that fails over leaves a primary with
// none, which must not count as a server that never had any. The caller
// holds r.mu.
func (r *replicas) inheritLocked(rc *replicaCount, rs replication) {
	rc.replid = rs.replid
	if rs.replid2 == "" {
		return
	}
	for _, prev := range r.counts {
		if prev.replid == rs.replid2 && prev.need > rc.need {
			rc.need, rc.fewerSince = prev.need, prev.fewerSince
		}
	}
}

func (r *replicas) warnOnce(msg string, fields ...zap.Field) {
	r.mu.Lock()
	first := !r.warned
	r.warned = true
	r.mu.Unlock()
	if first {
		r.log.Warn(msg, fields...)
	}
}

// refresh makes the next write to the node at addr read INFO again, after
// a shortfall, when the topology may have changed.
func (r *replicas) refresh(addr string) {
	r.mu.Lock()
	if rc, ok := r.counts[addr]; ok {
		rc.at = time.Time{}
		r.counts[addr] = rc
	}
	r.mu.Unlock()
}

// replication is what a primary's INFO replication says about its
// replicas and its replication history.
type replication struct {
	// primary says the server is a primary (role:master).
	primary bool
	// online counts the replicas in state "online" (connected and past
	// their initial sync).
	online int
	// replid is the primary's replication ID; replid2 the ID of the
	// primary it replicated before it was promoted ("" if it never was).
	replid, replid2 string
}

// readReplication reads a primary's INFO replication.
func readReplication(ctx context.Context, c *goredis.Client) (replication, error) {
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return replication{}, err
	}
	return parseReplication(info), nil
}

func parseReplication(info string) replication {
	var rs replication
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		k, v, _ := strings.Cut(line, ":")
		switch {
		case strings.HasPrefix(k, "slave") && strings.Contains(v, "state=online"):
			rs.online++
		case k == "role":
			rs.primary = v == "master"
		case k == "master_replid":
			rs.replid = v
		case k == "master_replid2" && strings.Trim(v, "0") != "":
			rs.replid2 = v
		}
	}
	return rs
}

// do runs fn against the primary that serves key and then waits until the
// required replicas have what it wrote. fn gets a single connection when
// replicas must confirm, and the client itself (with its redirections and
// retries) when none must. Errors from fn are returned as they are; a
// shortfall wraps ErrNotReplicated, and the write stands on the primary.
func (r *replicas) do(ctx context.Context, key string, fn func(context.Context, goredis.Cmdable) error) error {
	need, node, err := r.required(ctx, key)
	if err != nil {
		return err
	}
	if need == 0 {
		return fn(ctx, r.c)
	}
	conn := node.Conn()
	defer conn.Close()
	if err := fn(ctx, conn); err != nil {
		r.noteError(ctx, err)
		return err
	}
	return r.wait(ctx, conn, need, key)
}

// waiter is a connection that can WAIT (a *goredis.Conn).
type waiter interface {
	Wait(ctx context.Context, numReplicas int, timeout time.Duration) *goredis.IntCmd
}

// wait asks how many replicas have everything conn wrote, waiting up to the
// timeout for need of them.
func (r *replicas) wait(ctx context.Context, conn waiter, need int, key string) error {
	got, err := conn.Wait(ctx, need, r.d.Timeout).Result()
	if err != nil {
		r.noteError(ctx, err)
		return fmt.Errorf("wait for %d replicas: %w", need, err)
	}
	if int(got) < need {
		if _, addr, err := r.node(ctx, key); err == nil {
			r.refresh(addr)
		}
		return fmt.Errorf("%w: %d of %d replicas within %s", ErrNotReplicated, got, need, r.d.Timeout)
	}
	return nil
}

// noteError makes a cluster client reload its slot map after an error
// that a pinned connection could not follow (a redirection) or that a
// failover explains (the primary unreachable), so the next attempt goes to
// the node that serves the key now.
func (r *replicas) noteError(ctx context.Context, err error) {
	reloadIfMoved(ctx, r.c, err)
}

// setNX claims key with SET NX PX and confirms the claim on replicas. A
// claim the replicas did not confirm is given back (a failover could lose
// it, and two holders would follow) and reported as an error.
func (r *replicas) setNX(ctx context.Context, key string, value any, ttl time.Duration) (bool, error) {
	var won bool
	err := r.do(ctx, key, func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		won, err = c.SetNX(ctx, key, value, ttl).Result()
		return err
	})
	if errors.Is(err, ErrNotReplicated) && !won {
		// Nothing was written: whoever holds the claim answers for it.
		return false, nil
	}
	if errors.Is(err, ErrNotReplicated) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		defer cancel()
		_ = delIfEqual.Run(dctx, r.c, []string{key}, value).Err()
		return false, err
	}
	return won, err
}

// claim runs fn against the primary that serves key and confirms what it
// wrote on the replicas, like do. When the replicas fall short, it calls
// giveBack (on the client, with a context that outlives the caller's, so
// that a claim is given back even when the caller gave up) to undo the
// write, and returns the error wrapping ErrNotReplicated: the caller must
// act as if nothing was written, since a failover could lose it. giveBack
// must undo only what is still as fn left it.
func (r *replicas) claim(ctx context.Context, key string, fn func(context.Context, goredis.Cmdable) error,
	giveBack func(context.Context, goredis.Cmdable) error) error {
	err := r.do(ctx, key, fn)
	if errors.Is(err, ErrNotReplicated) {
		r.giveBack(ctx, key, giveBack)
	}
	return err
}

// giveBack undoes an unconfirmed write. A failure is logged: the write then
// stands on the primary, unconfirmed, and the caller was told it failed.
func (r *replicas) giveBack(ctx context.Context, key string, fn func(context.Context, goredis.Cmdable) error) {
	if fn == nil {
		return
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if err := fn(gctx, r.c); err != nil {
		r.log.Warn("unconfirmed write not given back; it stands on the primary though the caller was told it failed",
			zap.String("key", key), zap.Error(err))
	}
}

// confirmTx waits, on the connection of a transaction (WATCH/MULTI) that
// wrote key, for the replicas to have it.
func (r *replicas) confirmTx(ctx context.Context, tx *goredis.Tx, key string) error {
	need, _, err := r.required(ctx, key)
	if err != nil {
		return err
	}
	if need == 0 {
		return nil
	}
	return r.wait(ctx, tx, need, key)
}

// settle confirms a write that is worth keeping even unconfirmed (a record
// of something already done, such as a message posted): a shortfall is
// logged, not returned, and the write stands; a failover in that moment
// can lose it.
func (r *replicas) settle(ctx context.Context, key string, err error, what string) error {
	if errors.Is(err, ErrNotReplicated) {
		r.log.Warn(what+" not yet on every replica; a failover now would roll it back", zap.String("key", key), zap.Error(err))
		return nil
	}
	return err
}

// delIfEqual deletes a key only if it still holds the given value.
var delIfEqual = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)
