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
type Deduper struct {
	c Client
}

var _ bot.Deduper = (*Deduper)(nil)

// NewDeduper returns a Deduper on c.
func NewDeduper(c Client) *Deduper { return &Deduper{c: c} }

// Claim reports whether this caller is the first to claim key within ttl.
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
	ok, err := d.c.SetNX(ctx, DedupePrefix+key, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("dedupe claim %q: %w", key, err)
	}
	return ok, nil
}
