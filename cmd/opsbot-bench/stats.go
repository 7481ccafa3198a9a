package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value at least p% of the values are less
// than or equal to. It is an observed value, never an interpolation, and 0
// for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Summary is the distribution of one latency, in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summarize computes a Summary; it does not change latencies.
func summarize(latencies []time.Duration) Summary {
	s := slices.Clone(latencies)
	slices.Sort(s)
	return Summary{Count: len(s), P50: ms(percentile(s, 50)), P95: ms(percentile(s, 95)),
		P99: ms(percentile(s, 99)), Max: ms(percentile(s, 100))}
}

// Ratio is bot over floor at each percentile; 0 where the floor is 0.
type Ratio struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

func ratio(bot, floor Summary) Ratio {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return Ratio{P50: div(bot.P50, floor.P50), P95: div(bot.P95, floor.P95), P99: div(bot.P99, floor.P99)}
}

// Result is one client's run.
type Result struct {
	// Ack is the time from the fake writing an envelope to reading its ack.
	Ack Summary `json:"ack"`
	// Reply is the time from the fake writing an envelope to receiving the
	// chat.postEphemeral call that answers it (the bot only).
	Reply *Summary `json:"reply,omitempty"`
	// AcksPerSec is commands over the time from the first send to the last
	// ack; at a rate the client keeps up with, it equals the rate.
	AcksPerSec float64 `json:"acks_per_sec"`
	// SendRate is the rate the tool achieved sending; below -rate means the
	// tool itself (or the machine) was the bottleneck.
	SendRate float64 `json:"send_rate"`
}

// Report is the tool's output.
type Report struct {
	Command     string  `json:"command"`
	Text        string  `json:"text"`
	N           int     `json:"n"`
	Warmup      int     `json:"warmup"`
	Rate        float64 `json:"rate"`
	Concurrency int     `json:"concurrency,omitempty"`
	CPUs        int     `json:"cpus"`
	GoVersion   string  `json:"go_version"`
	Bot         Result  `json:"bot"`
	// BotExitCode is the bot's exit code after SIGTERM (0 expected).
	BotExitCode int    `json:"bot_exit_code"`
	Floor       Result `json:"floor"`
	// Ratio is bot over floor ack latency.
	Ratio Ratio `json:"ratio"`
	// Problems are what went wrong without stopping the run.
	Problems []string `json:"problems,omitempty"`
}

func newReport(o options) Report {
	r := Report{Command: o.command, Text: o.text, N: o.n, Warmup: o.warmup, Rate: o.rate,
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if o.rate == 0 {
		r.Concurrency = o.concurrency
	}
	return r
}

// result turns what one run sent and received into its Result.
func result(samples []sample, acks map[string]ackTimes, replies map[string]time.Time) Result {
	var r Result
	if len(samples) == 0 {
		return r
	}
	ackLat := make([]time.Duration, 0, len(samples))
	first, lastSend, lastAck := samples[0].sent, samples[0].sent, time.Time{}
	for _, s := range samples {
		first, lastSend = minTime(first, s.sent), maxTime(lastSend, s.sent)
		if a, ok := acks[s.envelopeID]; ok {
			ackLat = append(ackLat, a.received.Sub(a.sent))
			lastAck = maxTime(lastAck, a.received)
		}
	}
	r.Ack = summarize(ackLat)
	if d := lastAck.Sub(first); d > 0 {
		r.AcksPerSec = float64(len(ackLat)) / d.Seconds()
	}
	if d := lastSend.Sub(first); d > 0 && len(samples) > 1 {
		r.SendRate = float64(len(samples)-1) / d.Seconds()
	}
	if replies != nil {
		lat := make([]time.Duration, 0, len(samples))
		for _, s := range samples {
			if t, ok := replies[s.user]; ok {
				lat = append(lat, t.Sub(s.sent))
			}
		}
		sum := summarize(lat)
		r.Reply = &sum
	}
	return r
}

// ackTimes is when an envelope was sent and its ack read, by the fake.
type ackTimes struct{ sent, received time.Time }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// WriteTable prints the report for people.
func (r Report) WriteTable(w io.Writer) {
	rate := fmt.Sprintf("%g/s", r.Rate)
	if r.Rate == 0 {
		rate = fmt.Sprintf("max rate, %d in flight", r.Concurrency)
	}
	fmt.Fprintf(w, "opsbot-bench: %d × %q at %s (warm-up %d), %d CPUs, %s\n\n",
		r.N, r.Command+" "+r.Text, rate, r.Warmup, r.CPUs, r.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tcount\tp50\tp95\tp99\tmax\tacks/s\tsent/s\t")
	row := func(name string, s Summary, res Result) {
		fmt.Fprintf(tw, "%-13s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Count,
			fmtMS(s.P50), fmtMS(s.P95), fmtMS(s.P99), fmtMS(s.Max), fmtRate(res.AcksPerSec), fmtRate(res.SendRate))
	}
	row("bot ack", r.Bot.Ack, r.Bot)
	if r.Bot.Reply != nil {
		fmt.Fprintf(tw, "%-13s\t%d\t%s\t%s\t%s\t%s\t\t\t\n", "bot reply", r.Bot.Reply.Count,
			fmtMS(r.Bot.Reply.P50), fmtMS(r.Bot.Reply.P95), fmtMS(r.Bot.Reply.P99), fmtMS(r.Bot.Reply.Max))
	}
	row("floor ack", r.Floor.Ack, r.Floor)
	fmt.Fprintf(tw, "%-13s\t\t%.1f×\t%.1f×\t%.1f×\t\t\t\t\n", "bot/floor ack", r.Ratio.P50, r.Ratio.P95, r.Ratio.P99)
	tw.Flush()
	fmt.Fprintf(w, "\nack: the fake writes the envelope → the fake reads its ack (websocket round trip)\n")
	fmt.Fprintf(w, "reply: the fake writes the envelope → the bot's chat.postEphemeral reaches the fake\n")
	fmt.Fprintf(w, "acks/s: commands / (last ack − first send); sent/s: the rate achieved sending\n")
	fmt.Fprintf(w, "bot exit code after SIGTERM: %d\n", r.BotExitCode)
}

func fmtMS(v float64) string { return fmt.Sprintf("%.2fms", v) }

func fmtRate(v float64) string { return fmt.Sprintf("%.0f", v) }
