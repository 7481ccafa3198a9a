// Command opsbot-bench measures the Socket Mode ack and reply paths of the
// real opsbot binary side by side with two peers, each over its own fake
// Slack on loopback:
//
//   - bare: slack-go's socketmode client doing nothing but acking, with the
//     same answer in the ack that opsbot sends (the floor), run as a process
//     of its own (this binary again) like the other two;
//   - opsbot: the real binary as a child process, with a throwaway Redis;
//   - bolt: the official Bolt for JavaScript in Socket Mode answering in its
//     ack (cmd/opsbot-bench/bolt; skipped with a message without node/npm).
//
// The load is sent in rounds, each client taking its turn in every round, so
// a change in the machine's load hits all three alike and every figure is a
// ratio measured in the same run. Ack latency is from the fake writing an
// envelope to reading its ack; reply latency to the answer reaching the
// fake (in the ack, or the bot's chat.postEphemeral). With -mixed it then
// runs a mixed workload against opsbot alone (notes, pins and updates across
// 100 open incidents, declarations, runbook dry-runs) and reports its reply
// latency per kind.
//
//	go run ./cmd/opsbot-bench                          # 2000 × /incident help at 200/s
//	go run ./cmd/opsbot-bench -n 5000 -rate 1000 -mixed
//	go run ./cmd/opsbot-bench -n 5000 -rate 0 -concurrency 32
//	go run ./cmd/opsbot-bench -n 5000 -rate 1000 -profile /tmp/prof   # CPU, heap, mutex, trace of opsbot
//
// The alerts subcommand measures an alert storm through the real
// Alertmanager instead (see alerts.go):
//
//	go run ./cmd/opsbot-bench alerts
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(bareEnv) == "1" {
		os.Exit(runBare(os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	n           int
	warmup      int
	rate        float64
	concurrency int
	bin         string
	redisURL    string
	command     string
	text        string
	json        bool
	timeout     time.Duration
	rounds      int
	bolt        string
	mixed       bool
	mixedN      int
	mixedRate   float64
	profile     string
}

// maxCommands bounds -n: every command gets its own fake user (so replies can
// be told apart), and the fake's channel membership is a list.
const maxCommands = 20000

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("opsbot-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 2000, "slash commands to measure")
	fs.IntVar(&o.warmup, "warmup", 50, "slash commands sent (and not measured) before the run")
	fs.Float64Var(&o.rate, "rate", 200, "commands per second; 0 = as fast as possible with -concurrency in flight")
	fs.IntVar(&o.concurrency, "concurrency", 32, "unacked commands allowed in flight when -rate is 0")
	addRunFlags(fs, &o.bin, &o.redisURL, &o.json, &o.timeout)
	fs.StringVar(&o.command, "command", "/incident", "slash command to send")
	fs.StringVar(&o.text, "text", "help", "text of the slash command; it must make the bot answer with an ephemeral message")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds the load is split into; in each, every client takes its turn")
	fs.StringVar(&o.bolt, "bolt", "auto", "the Bolt peer: auto (when node and npm are on PATH), on (required) or off")
	fs.BoolVar(&o.mixed, "mixed", false, "then run the mixed workload against opsbot (100 incidents, notes, pins, updates, declarations, dry-runs)")
	fs.IntVar(&o.mixedN, "mixed-n", 2000, "requests in the mixed workload")
	fs.Float64Var(&o.mixedRate, "mixed-rate", 200, "requests per second in the mixed workload")
	fs.StringVar(&o.profile, "profile", "", "directory to write opsbot's CPU, heap, mutex and block profiles and an execution trace, taken during its turns")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.n < 1 || o.n > maxCommands:
		return o, fmt.Errorf("-n must be between 1 and %d", maxCommands)
	case o.warmup < 0 || o.warmup > maxCommands:
		return o, fmt.Errorf("-warmup must be between 0 and %d", maxCommands)
	case o.rate < 0:
		return o, errors.New("-rate must be 0 or more")
	case o.concurrency < 1:
		return o, errors.New("-concurrency must be at least 1")
	case len(o.command) < 2 || o.command[0] != '/':
		return o, errors.New("-command must start with / (e.g. /incident)")
	case o.timeout <= 0:
		return o, errors.New("-timeout must be positive")
	case o.rounds < 1 || o.rounds > o.n:
		return o, errors.New("-rounds must be between 1 and -n")
	case o.bolt != "auto" && o.bolt != "on" && o.bolt != "off":
		return o, errors.New("-bolt must be auto, on or off")
	case o.mixedRate <= 0:
		return o, errors.New("-mixed-rate must be positive")
	case o.mixedN < 1 || o.mixedN > maxCommands:
		return o, fmt.Errorf("-mixed-n must be between 1 and %d", maxCommands)
	}
	return o, nil
}

// addRunFlags adds the flags of every measurement: the opsbot binary, the
// Redis, JSON output and the time limit.
func addRunFlags(fs *flag.FlagSet, bin, redisURL *string, asJSON *bool, timeout *time.Duration) {
	fs.StringVar(bin, "bin", "", "opsbot binary to run (default: go build -trimpath ./cmd/opsbot into a temp dir)")
	fs.StringVar(redisURL, "redis-url", "", "Redis for the bot, used as is (default: a throwaway redis-server on a free loopback port)")
	fs.BoolVar(asJSON, "json", false, "print the report as JSON")
	fs.DurationVar(timeout, "timeout", 10*time.Minute, "give up after this long, build included")
}

// run is main with its outputs passed in, so the test runs the whole tool.
// Exit codes: 0 all good, 1 the run failed or found a problem, 2 bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "alerts" {
		return runAlerts(args[1:], stdout, stderr)
	}
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "opsbot-bench: %v\n", err)
		return 2
	}
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeoutCause(sigCtx, o.timeout, fmt.Errorf("-timeout %s reached", o.timeout))
	defer cancel()

	rep, err := bench(ctx, o, stderr)
	if err != nil {
		switch {
		case sigCtx.Err() != nil:
			err = fmt.Errorf("interrupted: %w", err)
		case ctx.Err() != nil && !errors.Is(err, context.Cause(ctx)):
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
		fmt.Fprintf(stderr, "opsbot-bench: %v\n", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "opsbot-bench: %v\n", err)
			return 1
		}
	} else {
		rep.WriteTable(stdout)
	}
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			fmt.Fprintf(stderr, "opsbot-bench: problem: %s\n", p)
		}
		return 1
	}
	return 0
}
