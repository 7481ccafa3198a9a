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

// Ratio is one latency distribution over another at each percentile; 0
// where the divisor is 0.
type Ratio struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

func ratio(a, b Summary) Ratio {
	return Ratio{P50: div(a.P50, b.P50), P95: div(a.P95, b.P95), P99: div(a.P99, b.P99)}
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Result is one client's measurements over every round.
type Result struct {
	// Ack is the time from the fake writing an envelope to reading its ack.
	Ack Summary `json:"ack"`
	// Reply is the time from the fake writing an envelope to the answer
	// reaching it: in the ack, or the chat.postEphemeral (or, for
	// updates, the chat.postMessage) that answers it.
	Reply *Summary `json:"reply,omitempty"`
	// AcksPerSec is commands over the time from the first send to the last
	// ack, summed over the rounds; at a rate the client keeps up with, it
	// equals the rate.
	AcksPerSec float64 `json:"acks_per_sec"`
	// SendRate is the rate the tool achieved sending; below -rate means the
	// tool itself (or the machine) was the bottleneck.
	SendRate float64 `json:"send_rate"`
	// AckBytes is the mean size of the ack messages, answer included.
	AckBytes float64 `json:"ack_bytes"`
	// CPUPerCommand is the client process's CPU time (user and system)
	// over the measured rounds divided by the commands it was sent, in
	// microseconds: what each command cost it, whatever the machine's load
	// did to the latencies. 0 where /proc is missing.
	CPUPerCommand float64 `json:"cpu_us_per_command"`
	// RoundAckP99 is the ack p99 of each of the client's turns, in ms: a
	// stall of the machine shows as one turn far above the others.
	RoundAckP99 []float64 `json:"round_ack_p99_ms,omitempty"`
}

// Ratios are opsbot's figures over the peers', measured in the same run.
type Ratios struct {
	// AckOverBare is opsbot's ack latency over the bare client's.
	AckOverBare Ratio `json:"ack_over_bare"`
	// AckOverBolt is opsbot's ack latency over Bolt's.
	AckOverBolt *Ratio `json:"ack_over_bolt,omitempty"`
	// ReplyOverBolt is opsbot's reply latency over Bolt's.
	ReplyOverBolt *Ratio `json:"reply_over_bolt,omitempty"`
	// AcksPerSecOverBare is opsbot's acks per second over the bare
	// client's: the throughput ratio at saturation (-rate 0).
	AcksPerSecOverBare float64 `json:"acks_per_sec_over_bare"`
	// AcksPerSecOverBolt is the same against Bolt.
	AcksPerSecOverBolt float64 `json:"acks_per_sec_over_bolt,omitempty"`
}

// Report is the tool's output.
type Report struct {
	Command     string  `json:"command"`
	Text        string  `json:"text"`
	N           int     `json:"n"`
	Warmup      int     `json:"warmup"`
	Rate        float64 `json:"rate"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rounds      int     `json:"rounds"`
	CPUs        int     `json:"cpus"`
	GoVersion   string  `json:"go_version"`
	// Load is the machine's load average (1, 5, 15 minutes) at the start
	// and at the end of the run; nil where /proc/loadavg is missing.
	LoadStart []float64 `json:"load_start,omitempty"`
	LoadEnd   []float64 `json:"load_end,omitempty"`
	Bare      Result    `json:"bare"`
	Opsbot    Result    `json:"opsbot"`
	// Bolt is nil when it was skipped; BoltSkipped says why.
	Bolt        *Result `json:"bolt,omitempty"`
	BoltSkipped string  `json:"bolt_skipped,omitempty"`
	BoltVersion string  `json:"bolt_version,omitempty"`
	NodeVersion string  `json:"node_version,omitempty"`
	Ratios      Ratios  `json:"ratios"`
	// Mixed is the mixed workload's result, with -mixed.
	Mixed *MixedResult `json:"mixed,omitempty"`
	// BotExitCode is opsbot's exit code after SIGTERM (0 expected).
	BotExitCode int `json:"bot_exit_code"`
	// Problems are what went wrong without stopping the run.
	Problems []string `json:"problems,omitempty"`
}

// MixedResult is the reply latency of the mixed workload against opsbot,
// overall and per kind of request.
type MixedResult struct {
	N         int                `json:"n"`
	Rate      float64            `json:"rate"`
	Incidents int                `json:"incidents"`
	Reply     Summary            `json:"reply"`
	ByKind    map[string]Summary `json:"by_kind"`
	Ack       Summary            `json:"ack"`
	SendRate  float64            `json:"send_rate"`
}

func newReport(o options) Report {
	r := Report{Command: o.command, Text: o.text, N: o.n, Warmup: o.warmup, Rate: o.rate, Rounds: o.rounds,
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if o.rate == 0 {
		r.Concurrency = o.concurrency
	}
	return r
}

// ratios fills the report's ratios from its results.
func (r *Report) ratios() {
	r.Ratios = Ratios{AckOverBare: ratio(r.Opsbot.Ack, r.Bare.Ack),
		AcksPerSecOverBare: div(r.Opsbot.AcksPerSec, r.Bare.AcksPerSec)}
	if r.Bolt != nil {
		a := ratio(r.Opsbot.Ack, r.Bolt.Ack)
		r.Ratios.AckOverBolt = &a
		if r.Opsbot.Reply != nil && r.Bolt.Reply != nil {
			rr := ratio(*r.Opsbot.Reply, *r.Bolt.Reply)
			r.Ratios.ReplyOverBolt = &rr
		}
		r.Ratios.AcksPerSecOverBolt = div(r.Opsbot.AcksPerSec, r.Bolt.AcksPerSec)
	}
}

// batch is what one turn of one client sent and received.
type batch struct {
	samples []sample
	acks    map[string]ackTimes
	// replies are by sample key; nil when replies were not collected.
	replies map[string]time.Time
}

// result turns a client's batches into its Result: latencies pooled over
// every batch, rates over the time the batches took.
func result(batches ...batch) Result {
	var r Result
	var ackLat, replyLat []time.Duration
	var acked, sent int
	var ackSpan, sendSpan time.Duration
	var bytes, sized int
	withReplies := false
	for _, b := range batches {
		if len(b.samples) == 0 {
			continue
		}
		turn := len(ackLat)
		first, lastSend, lastAck := b.samples[0].sent, b.samples[0].sent, time.Time{}
		n := 0
		for _, s := range b.samples {
			first, lastSend = minTime(first, s.sent), maxTime(lastSend, s.sent)
			if a, ok := b.acks[s.envelopeID]; ok {
				ackLat = append(ackLat, a.received.Sub(a.sent))
				lastAck = maxTime(lastAck, a.received)
				n++
				if a.size > 0 {
					bytes += a.size
					sized++
				}
			}
		}
		acked += n
		if len(batches) > 1 {
			r.RoundAckP99 = append(r.RoundAckP99, summarize(ackLat[turn:]).P99)
		}
		if d := lastAck.Sub(first); n > 0 && d > 0 {
			ackSpan += d
		}
		if len(b.samples) > 1 {
			sent += len(b.samples) - 1
			sendSpan += lastSend.Sub(first)
		}
		if b.replies != nil {
			withReplies = true
			for _, s := range b.samples {
				if t, ok := b.replies[s.key]; ok {
					replyLat = append(replyLat, t.Sub(s.sent))
				}
			}
		}
	}
	r.Ack = summarize(ackLat)
	if ackSpan > 0 {
		r.AcksPerSec = float64(acked) / ackSpan.Seconds()
	}
	if sendSpan > 0 {
		r.SendRate = float64(sent) / sendSpan.Seconds()
	}
	if sized > 0 {
		r.AckBytes = float64(bytes) / float64(sized)
	}
	if withReplies {
		sum := summarize(replyLat)
		r.Reply = &sum
	}
	return r
}

// ackTimes is when an envelope was sent and its ack read, by the fake, and
// the ack's size.
type ackTimes struct {
	sent, received time.Time
	size           int
}

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
	fmt.Fprintf(w, "opsbot-bench: %d × %q per client at %s in %d rounds (warm-up %d), %d CPUs, %s\n",
		r.N, r.Command+" "+r.Text, rate, r.Rounds, r.Warmup, r.CPUs, r.GoVersion)
	if len(r.LoadStart) == 3 && len(r.LoadEnd) == 3 {
		fmt.Fprintf(w, "load average: %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end\n",
			r.LoadStart[0], r.LoadStart[1], r.LoadStart[2], r.LoadEnd[0], r.LoadEnd[1], r.LoadEnd[2])
	}
	if r.Bolt != nil {
		fmt.Fprintf(w, "bolt: @slack/bolt %s on node %s\n", r.BoltVersion, r.NodeVersion)
	} else {
		fmt.Fprintf(w, "bolt: skipped (%s)\n", r.BoltSkipped)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tcount\tp50\tp95\tp99\tmax\tacks/s\tsent/s\tack bytes\tCPU/cmd\t")
	row := func(name string, s Summary, res *Result) {
		if res == nil {
			fmt.Fprintf(tw, "%-13s\t%d\t%s\t%s\t%s\t%s\t\t\t\t\t\n", name, s.Count, fmtMS(s.P50), fmtMS(s.P95), fmtMS(s.P99), fmtMS(s.Max))
			return
		}
		fmt.Fprintf(tw, "%-13s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0fµs\t\n", name, s.Count,
			fmtMS(s.P50), fmtMS(s.P95), fmtMS(s.P99), fmtMS(s.Max), fmtRate(res.AcksPerSec), fmtRate(res.SendRate), res.AckBytes, res.CPUPerCommand)
	}
	for _, c := range []struct {
		name string
		res  *Result
	}{{"bare", &r.Bare}, {"opsbot", &r.Opsbot}, {"bolt", r.Bolt}} {
		if c.res == nil {
			continue
		}
		row(c.name+" ack", c.res.Ack, c.res)
		if c.res.Reply != nil {
			row(c.name+" reply", *c.res.Reply, nil)
		}
	}
	ratioRow := func(name string, q Ratio) {
		fmt.Fprintf(tw, "%-13s\t\t%.2f×\t%.2f×\t%.2f×\t\t\t\t\t\t\n", name, q.P50, q.P95, q.P99)
	}
	ratioRow("opsbot/bare ack", r.Ratios.AckOverBare)
	if r.Ratios.AckOverBolt != nil {
		ratioRow("opsbot/bolt ack", *r.Ratios.AckOverBolt)
	}
	if r.Ratios.ReplyOverBolt != nil {
		ratioRow("opsbot/bolt reply", *r.Ratios.ReplyOverBolt)
	}
	tw.Flush()
	fmt.Fprintf(w, "acks/s opsbot/bare: %.2f×", r.Ratios.AcksPerSecOverBare)
	if r.Bolt != nil {
		fmt.Fprintf(w, ", opsbot/bolt: %.2f×", r.Ratios.AcksPerSecOverBolt)
	}
	fmt.Fprintln(w)
	if m := r.Mixed; m != nil {
		fmt.Fprintf(w, "\nmixed workload against opsbot: %d requests at %g/s (sent %.0f/s) across %d open incidents\n", m.N, m.Rate, m.SendRate, m.Incidents)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tcount\tp50\tp95\tp99\tmax\t")
		line := func(name string, s Summary) {
			fmt.Fprintf(tw, "%-13s\t%d\t%s\t%s\t%s\t%s\t\n", name, s.Count, fmtMS(s.P50), fmtMS(s.P95), fmtMS(s.P99), fmtMS(s.Max))
		}
		line("ack", m.Ack)
		line("reply", m.Reply)
		for _, k := range mixedKinds {
			if s, ok := m.ByKind[k.name]; ok {
				line("  "+k.name, s)
			}
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nack: the fake writes the envelope → the fake reads its ack (websocket round trip)\n")
	fmt.Fprintf(w, "reply: the fake writes the envelope → the answer reaches the fake (in the ack, or by chat.postEphemeral)\n")
	fmt.Fprintf(w, "acks/s: commands / (last ack − first send), summed over the rounds; sent/s: the rate achieved sending\n")
	fmt.Fprintf(w, "CPU/cmd: the client process's CPU time over the rounds / the commands it was sent\n")
	fmt.Fprintf(w, "opsbot exit code after SIGTERM: %d\n", r.BotExitCode)
}

func fmtMS(v float64) string { return fmt.Sprintf("%.2fms", v) }

func fmtRate(v float64) string { return fmt.Sprintf("%.0f", v) }
