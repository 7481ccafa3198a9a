// Package minitime makes an in-process miniredis keep real time. miniredis
// expires keys only when told that time has passed (FastForward), so without
// this every TTL in the embedded store (dedupe claims, locks, leases,
// approvals) would last for ever: a lease never lapses, a claim is never
// given back by time. Console mode and the test helper's fallback both run
// on it.
package minitime

import (
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Tick is how often the store's clock is advanced; TTLs run out at most this
// late.
const Tick = 10 * time.Millisecond

// Follow advances m's clock with the wall clock until stop is called.
func Follow(m *miniredis.Miniredis) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(Tick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
