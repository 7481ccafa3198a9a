package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// DedupePrefix starts every key the Deduper writes.
const DedupePrefix = "opsbot:dedupe:"

// opTimeout bounds single Redis commands of the small stores here when the
// caller's context has no earlier deadline.
const opTimeout = 2 * time.Second

// Deduper is a bot.Deduper shared by every replica: the first SET NX wins.
// A claim counts once the replicas its Durability asks for have it, so a
// failover cannot forget it and let a redelivery run again.
type Deduper struct {
	c   Client
	rep *replicas
}

var _ bot.Deduper = (*Deduper)(nil)

// NewDeduper returns a Deduper on c.
func NewDeduper(c Client, opts ...Option) *Deduper {
	return &Deduper{c: c, rep: newReplicas(c, applyOptions(opts), false)}
}

// Claim reports whether this caller is the first to claim key within ttl.
// A claim the replicas did not confirm in time is given back and reported
// as an error wrapping ErrNotReplicated.
func (d *Deduper) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if key == "" {
		return false, errors.New("dedupe claim: empty key")
	}
	if ttl <= 0 {
		// SET without expiry would remember the key forever.
		return false, fmt.Errorf("dedupe claim %q: ttl %s must be positive", key, ttl)
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	ok, err := d.rep.setNX(ctx, DedupePrefix+key, "1", ttl)
	if err != nil {
		return false, fmt.Errorf("dedupe claim %q: %w", key, err)
	}
	return ok, nil
}
