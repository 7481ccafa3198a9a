package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
)

// LimitPrefix starts every key the Limiter writes.
const LimitPrefix = "opsbot:limit:"

// capTTL is how long a cap's counter outlives its last use: long past any
// incident, short of forever.
const capTTL = 90 * 24 * time.Hour

// Limiter is a bot.Limiter shared by every replica. A windowed limit is a
// sliding log (a sorted set of the times of counted actions), so a burst at
// the edge of a window cannot double the rate as fixed windows allow; a cap
// is a counter. Either is checked and counted in one script, so two replicas
// counting at once cannot both take the last slot.
//
// Unlike the other stores, the Limiter takes no Durability: its counts are
// not confirmed on replicas. A limit is a brake, not a promise: its callers
// let the action through when the Limiter cannot answer, so a count that
// must wait for replicas (and fails when they are slow) would protect
// nothing while making every note, update and declaration wait for a
// replica round trip, and a failover makes the Limiter unreachable (on a
// Cluster, for the keys of the failed primary) for longer than the
// replication lag whose counts it can forget. So a person may declare a few
// more incidents than the rate, or an incident's timeline exceed its cap by
// a few events, right after a failover.
type Limiter struct {
	c     Client
	clock bot.Clock
}

var _ bot.Limiter = (*Limiter)(nil)

// NewLimiter returns a Limiter on c. The clock (nil means the system clock)
// stamps actions; replicas' clocks need only agree to well within a window.
func NewLimiter(c Client, clock bot.Clock) *Limiter {
	if clock == nil {
		clock = bot.SystemClock
	}
	return &Limiter{c: c, clock: clock}
}

// limitScript counts one action if the limit allows it. KEYS[1] the key;
// ARGV now (ms), window (ms, 0 for a cap), limit, a unique member, the cap's
// TTL (ms). Returns {allowed (0/1), retry after (ms)}.
var limitScript = goredis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if window > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if redis.call('ZCARD', KEYS[1]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    local wait = window
    if oldest[2] then wait = tonumber(oldest[2]) + window - now end
    if wait < 1 then wait = 1 end
    return {0, wait}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
if tonumber(redis.call('GET', KEYS[1]) or '0') >= limit then
  return {0, 0}
end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0}
`)

// Allow implements bot.Limiter.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	switch {
	case key == "":
		return false, 0, errors.New("limit: empty key")
	case limit <= 0:
		return false, 0, fmt.Errorf("limit %q: limit %d must be positive", key, limit)
	case window < 0:
		return false, 0, fmt.Errorf("limit %q: window %s is negative", key, window)
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return false, 0, fmt.Errorf("limit %q: %w", key, err)
	}
	now := l.clock.Now().UnixMilli()
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	res, err := limitScript.Run(ctx, l.c, []string{LimitPrefix + key},
		now, window.Milliseconds(), limit, fmt.Sprintf("%d-%s", now, hex.EncodeToString(nonce[:])), capTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("limit %q: %w", key, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("limit %q: unexpected reply %v", key, res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}
