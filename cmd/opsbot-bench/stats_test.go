package main

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func durations(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func oneToN(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "empty", sorted: nil, p: 50, want: 0},
		{name: "single value is every percentile", sorted: durations(7), p: 99, want: 7 * time.Millisecond},
		{name: "p50 of 1..100", sorted: oneToN(100), p: 50, want: 50 * time.Millisecond},
		{name: "p95 of 1..100", sorted: oneToN(100), p: 95, want: 95 * time.Millisecond},
		{name: "p99 of 1..100", sorted: oneToN(100), p: 99, want: 99 * time.Millisecond},
		{name: "p100 is the max", sorted: oneToN(100), p: 100, want: 100 * time.Millisecond},
		{name: "rank rounds up, never interpolates", sorted: oneToN(10), p: 95, want: 10 * time.Millisecond},
		{name: "p50 of an even count is the lower middle", sorted: durations(1, 2, 3, 4), p: 50, want: 2 * time.Millisecond},
		{name: "p50 of an odd count is the middle", sorted: durations(1, 2, 30), p: 50, want: 2 * time.Millisecond},
		{name: "tiny p is the min", sorted: durations(3, 4, 5), p: 0.1, want: 3 * time.Millisecond},
		{name: "outlier reaches p99 only with >= 100 values", sorted: append(oneToN(99), time.Second), p: 99, want: 99 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %g) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{name: "empty", in: nil, want: Summary{}},
		{name: "unsorted input", in: durations(40, 10, 30, 20), want: Summary{Count: 4, P50: 20, P95: 40, P99: 40, Max: 40}},
		{name: "sub-millisecond kept as fractions", in: []time.Duration{250 * time.Microsecond}, want: Summary{Count: 1, P50: 0.25, P95: 0.25, P99: 0.25, Max: 0.25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.in...)
			got := summarize(in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("summarize(%v) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if diff := cmp.Diff(tt.in, in); diff != "" {
				t.Errorf("summarize changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name string
		a, b Summary
		want Ratio
	}{
		{name: "slower", a: Summary{P50: 2, P95: 9, P99: 30}, b: Summary{P50: 1, P95: 3, P99: 10}, want: Ratio{P50: 2, P95: 3, P99: 3}},
		{name: "zero divisor gives zero, not Inf", a: Summary{P50: 2}, b: Summary{}, want: Ratio{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ratio(tt.a, tt.b)); diff != "" {
				t.Errorf("ratio mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResult(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	samples := []sample{
		{envelopeID: "e1", key: "U1", sent: at(0)},
		{envelopeID: "e2", key: "U2", sent: at(500)},
		{envelopeID: "e3", key: "benchtok3", sent: at(1000)},
	}
	tests := []struct {
		name    string
		batches []batch
		want    Result
	}{
		{
			name: "acks and replies",
			batches: []batch{{samples: samples, acks: map[string]ackTimes{
				"e1": {sent: at(0), received: at(1), size: 100},
				"e2": {sent: at(500), received: at(502), size: 300},
				"e3": {sent: at(1000), received: at(1250)},
			}, replies: map[string]time.Time{"U1": at(10), "U2": at(520), "benchtok3": at(1300)}}},
			want: Result{
				Ack:        Summary{Count: 3, P50: 2, P95: 250, P99: 250, Max: 250},
				Reply:      &Summary{Count: 3, P50: 20, P95: 300, P99: 300, Max: 300},
				AcksPerSec: 3 / 1.25, SendRate: 2, AckBytes: 200,
			},
		},
		{
			name: "missing ack is not counted",
			batches: []batch{{samples: samples, acks: map[string]ackTimes{
				"e1": {sent: at(0), received: at(4)}, "e2": {sent: at(500), received: at(504)}}}},
			want: Result{Ack: Summary{Count: 2, P50: 4, P95: 4, P99: 4, Max: 4}, AcksPerSec: 2 / 0.504, SendRate: 2},
		},
		{
			// Two turns of 2 s each with a long pause between: rates are
			// over the turns, not the pause.
			name: "rounds pool latencies and add up the time of the turns",
			batches: []batch{
				{samples: []sample{{envelopeID: "a", sent: at(0)}, {envelopeID: "b", sent: at(1000)}},
					acks: map[string]ackTimes{"a": {sent: at(0), received: at(1)}, "b": {sent: at(1000), received: at(2000)}}},
				{samples: []sample{{envelopeID: "c", sent: at(60000)}, {envelopeID: "d", sent: at(61000)}},
					acks: map[string]ackTimes{"c": {sent: at(60000), received: at(60003)}, "d": {sent: at(61000), received: at(62000)}}},
			},
			want: Result{Ack: Summary{Count: 4, P50: 3, P95: 1000, P99: 1000, Max: 1000}, AcksPerSec: 4 / 4.0, SendRate: 2 / 2.0,
				RoundAckP99: []float64{1000, 1000}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, result(tt.batches...)); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRatios(t *testing.T) {
	r := Report{Bare: Result{Ack: Summary{P99: 1}, AcksPerSec: 1000},
		Opsbot: Result{Ack: Summary{P99: 2}, Reply: &Summary{P99: 3}, AcksPerSec: 600}}
	r.ratios()
	if r.Ratios.AckOverBare.P99 != 2 || r.Ratios.AcksPerSecOverBare != 0.6 || r.Ratios.AckOverBolt != nil {
		t.Errorf("without Bolt: %+v", r.Ratios)
	}
	r.Bolt = &Result{Ack: Summary{P99: 8}, Reply: &Summary{P99: 12}, AcksPerSec: 300}
	r.ratios()
	if r.Ratios.AckOverBolt == nil || r.Ratios.AckOverBolt.P99 != 0.25 || r.Ratios.ReplyOverBolt.P99 != 0.25 || r.Ratios.AcksPerSecOverBolt != 2 {
		t.Errorf("with Bolt: %+v", r.Ratios)
	}
}

func TestCPUTime(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	d, ok := cpuTime(os.Getpid())
	if !ok {
		t.Fatal("cpuTime of this process is not known")
	}
	// Burn CPU until the count moves (10 ms resolution); give up after far
	// longer than that could take, however loaded the machine.
	x := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		for i := 0; i < 1_000_000; i++ {
			x += i
		}
		if d2, ok := cpuTime(os.Getpid()); ok && d2 > d {
			break
		}
	}
	if d2, _ := cpuTime(os.Getpid()); d2 <= d {
		t.Errorf("cpuTime stayed at %v while burning CPU (%d)", d2, x)
	}
	if _, ok := cpuTime(-1); ok {
		t.Error("cpuTime of no process says ok")
	}
}
