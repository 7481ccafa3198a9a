package bottest

import (
	"sync"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// Clock is a bot.Clock that stands still until the test sets or moves it, so
// that time logic is checked at fixed moments. It is safe for concurrent use:
// the code under test reads it from its own goroutines (schedulers, pollers)
// while the test moves it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ bot.Clock = (*Clock)(nil)

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the time the clock shows.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set makes the clock show t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Add moves the clock by d (backwards when d is negative).
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
