package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
)

// OnCallPrefix starts every key the on-call store writes.
const OnCallPrefix = "opsbot:oncall:"

// Retention of on-call records. A snapshot older than this is no use as a
// fallback answer; a handoff this old can no longer be acknowledged.
const (
	onCallSnapshotTTL = 30 * 24 * time.Hour
	onCallHandoffTTL  = 30 * 24 * time.Hour
)

// OnCall is the on-call state shared by replicas: the last good sync of each
// schedule (with its time, so answers from it can say how old they are),
// once-only claims for handoff and reminder messages, and the latest handoff
// of each schedule for its Acknowledge button.
//
// Claims count once the replicas the store's Durability asks for have
// them, so a failover cannot forget a handoff that was posted and let
// another replica post it again. The snapshots and the latest handoff are
// written without waiting for replicas: a failover can roll them back by
// the last moments, which the next sync repairs.
type OnCall struct {
	c   Client
	rep *replicas
}

var _ bot.OnCallStore = (*OnCall)(nil)

// NewOnCall returns the on-call store on c.
func NewOnCall(c Client, opts ...Option) *OnCall {
	return &OnCall{c: c, rep: newReplicas(c, applyOptions(opts), false)}
}

func onCallSnapshotKey(schedule string) string { return OnCallPrefix + "snapshot:" + schedule }
func onCallHandoffKey(schedule string) string  { return OnCallPrefix + "handoff:" + schedule }
func onCallClaimKey(key string) string         { return OnCallPrefix + "claim:" + key }

// SaveSnapshot stores snap as the last good sync of its schedule, unless a
// newer one is already stored (a slow replica must not roll the cache back).
func (s *OnCall) SaveSnapshot(ctx context.Context, snap bot.OnCallSnapshot) error {
	if snap.Schedule == "" {
		return errors.New("save on-call snapshot: empty schedule")
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("save on-call snapshot of %q: %w", snap.Schedule, err)
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	err = onCallSaveIfNewer.Run(ctx, s.c, []string{onCallSnapshotKey(snap.Schedule)},
		raw, snap.SyncedAt.UnixNano(), onCallSnapshotTTL.Milliseconds()).Err()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("save on-call snapshot of %q: %w", snap.Schedule, err)
	}
	return nil
}

// onCallSaveIfNewer stores the snapshot in a hash with its sync time and
// replaces it only with a newer one.
var onCallSaveIfNewer = goredis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'synced_ns')
if cur and tonumber(cur) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'synced_ns', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// Snapshot returns the last good sync of a schedule.
func (s *OnCall) Snapshot(ctx context.Context, schedule string) (bot.OnCallSnapshot, bool, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	raw, err := s.c.HGet(ctx, onCallSnapshotKey(schedule), "data").Bytes()
	if errors.Is(err, goredis.Nil) {
		return bot.OnCallSnapshot{}, false, nil
	}
	if err != nil {
		return bot.OnCallSnapshot{}, false, fmt.Errorf("read on-call snapshot of %q: %w", schedule, err)
	}
	var snap bot.OnCallSnapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return bot.OnCallSnapshot{}, false, fmt.Errorf("decode on-call snapshot of %q: %w", schedule, err)
	}
	return snap, true, nil
}

// ClaimOnce reports whether this caller is the first to claim key within
// ttl. A claim the replicas did not confirm in time is given back and
// reported as an error wrapping ErrNotReplicated: the work is retried on
// the next round rather than risked twice.
func (s *OnCall) ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if key == "" || ttl <= 0 {
		return false, fmt.Errorf("on-call claim %q: empty key or ttl %s not positive", key, ttl)
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	ok, err := s.rep.setNX(ctx, onCallClaimKey(key), "1", ttl)
	if err != nil {
		return false, fmt.Errorf("on-call claim %q: %w", key, err)
	}
	return ok, nil
}

// ReleaseClaim deletes a claim so that the work it guarded can be retried.
func (s *OnCall) ReleaseClaim(ctx context.Context, key string) error {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.c.Del(ctx, onCallClaimKey(key)).Err(); err != nil {
		return fmt.Errorf("release on-call claim %q: %w", key, err)
	}
	return nil
}

// SaveHandoff stores h as the latest handoff of its schedule.
func (s *OnCall) SaveHandoff(ctx context.Context, h bot.Handoff) error {
	raw, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("save handoff of %q: %w", h.Schedule, err)
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.c.Set(ctx, onCallHandoffKey(h.Schedule), raw, onCallHandoffTTL).Err(); err != nil {
		return fmt.Errorf("save handoff of %q: %w", h.Schedule, err)
	}
	return nil
}

// LatestHandoff returns the latest handoff of a schedule.
func (s *OnCall) LatestHandoff(ctx context.Context, schedule string) (bot.Handoff, bool, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	raw, err := s.c.Get(ctx, onCallHandoffKey(schedule)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return bot.Handoff{}, false, nil
	}
	if err != nil {
		return bot.Handoff{}, false, fmt.Errorf("read handoff of %q: %w", schedule, err)
	}
	var h bot.Handoff
	if err := json.Unmarshal(raw, &h); err != nil {
		return bot.Handoff{}, false, fmt.Errorf("decode handoff of %q: %w", schedule, err)
	}
	return h, true, nil
}
