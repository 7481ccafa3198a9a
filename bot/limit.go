package bot

import (
	"context"
	"time"
)

// Limiter counts actions per key, shared by every replica, so that one
// person cannot declare dozens of incidents a minute and one incident's
// timeline cannot grow without bound.
type Limiter interface {
	// Allow counts one action under key if fewer than limit were counted
	// in the last window, and reports whether it did. A window of 0 makes
	// limit a plain cap: actions are counted for as long as the key lives
	// (it is removed a long while after its last use). When the action is
	// refused nothing is counted, and retryAfter says when one is allowed
	// again (0 for a cap).
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
}
