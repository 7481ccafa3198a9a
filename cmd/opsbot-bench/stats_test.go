package main

import (
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
		name       string
		bot, floor Summary
		want       Ratio
	}{
		{name: "bot slower", bot: Summary{P50: 2, P95: 9, P99: 30}, floor: Summary{P50: 1, P95: 3, P99: 10}, want: Ratio{P50: 2, P95: 3, P99: 3}},
		{name: "zero floor gives zero, not Inf", bot: Summary{P50: 2}, floor: Summary{}, want: Ratio{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ratio(tt.bot, tt.floor)); diff != "" {
				t.Errorf("ratio mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResult(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	samples := []sample{
		{envelopeID: "e1", user: "U1", sent: at(0)},
		{envelopeID: "e2", user: "U2", sent: at(500)},
		{envelopeID: "e3", user: "U3", sent: at(1000)},
	}
	tests := []struct {
		name    string
		acks    map[string]ackTimes
		replies map[string]time.Time
		want    Result
	}{
		{
			name: "acks and replies",
			acks: map[string]ackTimes{
				"e1": {sent: at(0), received: at(1)},
				"e2": {sent: at(500), received: at(502)},
				"e3": {sent: at(1000), received: at(1250)},
			},
			replies: map[string]time.Time{"U1": at(10), "U2": at(520), "U3": at(1300)},
			want: Result{
				Ack:        Summary{Count: 3, P50: 2, P95: 250, P99: 250, Max: 250},
				Reply:      &Summary{Count: 3, P50: 20, P95: 300, P99: 300, Max: 300},
				AcksPerSec: 3 / 1.25, SendRate: 2,
			},
		},
		{
			name: "missing ack is not counted",
			acks: map[string]ackTimes{"e1": {sent: at(0), received: at(4)}, "e2": {sent: at(500), received: at(504)}},
			want: Result{Ack: Summary{Count: 2, P50: 4, P95: 4, P99: 4, Max: 4}, AcksPerSec: 2 / 0.504, SendRate: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, result(samples, tt.acks, tt.replies)); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
