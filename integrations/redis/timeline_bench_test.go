package redis

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// BenchmarkTimelineAppend measures Append with Redis up (one script call
// per event).
func BenchmarkTimelineAppend(b *testing.B) {
	tl := newTimeline(b, redistest.New(b), b.TempDir())
	ctx := testCtx(b)
	ev := event("INC-1", "bench")
	b.ReportAllocs()
	for b.Loop() {
		ev.ID = uuid.New()
		if err := tl.Append(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimelineEvents10k measures reading a 10,000-event timeline.
func BenchmarkTimelineEvents10k(b *testing.B) {
	tl := newTimeline(b, redistest.New(b), b.TempDir())
	ctx := testCtx(b)
	for i := 0; i < 10_000; i++ {
		ev := event("INC-1", fmt.Sprintf("e%05d", i))
		ev.Type = bot.TLUpdate
		if err := tl.Append(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		evs, err := tl.Events(ctx, "INC-1")
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) != 10_000 {
			b.Fatalf("Events() = %d events, want 10000", len(evs))
		}
	}
}
