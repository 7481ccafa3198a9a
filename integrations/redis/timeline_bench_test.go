package redis

import (
	"encoding/json"
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

// BenchmarkDecodeEvents10k decodes 10,000 stored events as Events does
// (decodeEvent) and with encoding/json, the decoder it replaced, side by
// side in one run: the figure behind choosing goccy/go-json.
func BenchmarkDecodeEvents10k(b *testing.B) {
	raws := make([]string, 10_000)
	for i := range raws {
		ev := event("INC-1", fmt.Sprintf("e%05d: the checkout pods restart &lt;again&gt;", i))
		ev.Type = bot.TLUpdate
		ev.Details = map[string]string{"severity": "sev2", "channel": "C0123"}
		raw, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		raws[i] = string(raw)
	}
	for _, dec := range []struct {
		name string
		fn   func(string, *bot.TimelineEvent) error
	}{
		{"decodeEvent", decodeEvent},
		{"encoding-json", func(raw string, ev *bot.TimelineEvent) error { return json.Unmarshal([]byte(raw), ev) }},
	} {
		b.Run(dec.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, raw := range raws {
					var ev bot.TimelineEvent
					if err := dec.fn(raw, &ev); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
