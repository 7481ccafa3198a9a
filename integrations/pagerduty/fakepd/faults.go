package fakepd

import (
	"net/http"
	"sync"
	"time"
)

// injector holds the failures and the latency a test injects. Server and
// EventsServer embed it, so both fakes fail and lag the same way.
type injector struct {
	mu      sync.Mutex
	faults  []Fault
	latency time.Duration
}

// FailNext makes the next n requests fail with f.
func (in *injector) FailNext(n int, f Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := 0; i < n; i++ {
		in.faults = append(in.faults, f)
	}
}

// SetLatency delays every response by d (or until the client gives up).
func (in *injector) SetLatency(d time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.latency = d
}

// take removes and returns the next injected fault; nil when there is none.
func (in *injector) take() *Fault {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.faults) == 0 {
		return nil
	}
	f := in.faults[0]
	in.faults = in.faults[1:]
	return &f
}

// delay waits the injected latency; false when the client gave up first
// (then nothing is to be written).
func (in *injector) delay(r *http.Request) bool {
	in.mu.Lock()
	latency := in.latency
	in.mu.Unlock()
	if latency <= 0 {
		return true
	}
	select {
	case <-time.After(latency):
		return true
	case <-r.Context().Done():
		return false
	}
}
