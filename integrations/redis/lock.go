package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
)

// LockPrefix starts every key the Locker writes.
const LockPrefix = "opsbot:lock:"

// releaseScript deletes the lease only if it still holds our token, so a
// holder whose lease expired cannot release the next holder's.
var releaseScript = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// renewScript extends the lease only if it still holds our token.
var renewScript = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// Locker is a bot.Locker over Redis: SET NX PX with a random token per
// lease, released and renewed only by the token's owner. Taking a lease
// counts once the replicas its Durability asks for have it; renewals do
// not wait for them, so a failover can shorten a lease to what the
// replicas last saw (see Lease.Renew).
type Locker struct {
	c   Client
	rep *replicas
}

var _ bot.Locker = (*Locker)(nil)

// NewLocker returns a Locker on c.
func NewLocker(c Client, opts ...Option) *Locker {
	return &Locker{c: c, rep: newReplicas(c, applyOptions(opts), false)}
}

// Lease is a held lock. Its methods are safe for concurrent use.
type Lease struct {
	c     Client
	key   string // full Redis key
	token string
	once  sync.Once
}

// ErrLeaseLost is returned by Renew when the lease expired or another holder
// took it: the work it guarded must stop.
var ErrLeaseLost = errors.New("lease lost")

// Lock takes the lease on key for ttl. It returns a nil Lease and a nil error
// when someone else holds it, and an error wrapping ErrNotReplicated (having
// given the lease back) when the replicas did not confirm it in time.
func (l *Locker) Lock(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	if key == "" {
		return nil, errors.New("lock: empty key")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("lock %q: ttl %s must be positive", key, ttl)
	}
	token, err := newToken()
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", key, err)
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	ok, err := l.rep.setNX(ctx, LockPrefix+key, token, ttl)
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", key, err)
	}
	if !ok {
		return nil, nil
	}
	return &Lease{c: l.c, key: LockPrefix + key, token: token}, nil
}

// TryLock implements bot.Locker.
func (l *Locker) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	lease, err := l.Lock(ctx, key, ttl)
	if err != nil || lease == nil {
		return func() {}, false, err
	}
	return func() { _ = lease.Release(context.Background()) }, true, nil
}

// Renew extends the lease to ttl from now. It returns ErrLeaseLost when the
// lease is no longer ours. It does not wait for replicas: after a failover
// the lease may end at the expiry the promoted replica last saw, and a
// lease is therefore an economy (one replica does the work), never what
// makes work happen once: that is each piece of work's own claim.
func (ls *Lease) Renew(ctx context.Context, ttl time.Duration) error {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	n, err := renewScript.Run(ctx, ls.c, []string{ls.key}, ls.token, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("renew lock %q: %w", ls.key, err)
	}
	if n == 0 {
		return fmt.Errorf("renew lock %q: %w", ls.key, ErrLeaseLost)
	}
	return nil
}

// Release gives the lease back if it is still ours. Only the first call
// talks to Redis; later calls return nil. If Release fails, the lease still
// ends when its ttl runs out.
func (ls *Lease) Release(ctx context.Context) error {
	var err error
	ls.once.Do(func() {
		// The caller's context may already be done (release on shutdown);
		// giving the lease back promptly is still worth a short try.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		defer cancel()
		if e := releaseScript.Run(ctx, ls.c, []string{ls.key}, ls.token).Err(); e != nil {
			err = fmt.Errorf("release lock %q: %w", ls.key, e)
		}
	})
	return err
}

func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
