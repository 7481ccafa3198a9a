package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
)

// TestMain lets the test binary, which the tool runs as its bare client
// (os.Executable), be that client.
func TestMain(m *testing.M) {
	if os.Getenv(bareEnv) == "1" {
		os.Exit(runBare(os.Stderr))
	}
	os.Exit(m.Run())
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults", args: nil},
		{name: "max rate", args: []string{"-n", "30", "-rate", "0", "-concurrency", "4"}},
		{name: "zero commands", args: []string{"-n", "0"}, wantErr: "-n must be"},
		{name: "too many commands", args: []string{"-n", "20001"}, wantErr: "-n must be"},
		{name: "negative rate", args: []string{"-rate", "-1"}, wantErr: "-rate"},
		{name: "no concurrency", args: []string{"-concurrency", "0"}, wantErr: "-concurrency"},
		{name: "command without slash", args: []string{"-command", "incident"}, wantErr: "-command"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-fast"}, wantErr: "not defined"},
		{name: "more rounds than commands", args: []string{"-n", "3", "-rounds", "4"}, wantErr: "-rounds"},
		{name: "bolt switch", args: []string{"-bolt", "maybe"}, wantErr: "-bolt must be"},
		{name: "mixed rate", args: []string{"-mixed-rate", "0"}, wantErr: "-mixed-rate"},
		{name: "mixed size", args: []string{"-mixed-n", "0"}, wantErr: "-mixed-n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("parseOptions(%q) error = %v, want none", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseOptions(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestRunBadFlagsExit2(t *testing.T) {
	var stderr bytes.Buffer
	if got := run([]string{"-n", "0"}, io.Discard, &stderr); got != 2 {
		t.Errorf("exit code = %d, want 2 (stderr: %s)", got, stderr.String())
	}
}

// requireTools skips (or, with OPSBOT_REQUIRE_REAL_REDIS, fails) without
// redis-server, and skips without the go command.
func requireTools(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("OPSBOT_REQUIRE_REAL_REDIS") == "1" {
			t.Fatalf("OPSBOT_REQUIRE_REAL_REDIS=1 but no redis-server on PATH: %v", err)
		}
		t.Skip("no redis-server on PATH")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH to build the bot")
	}
}

// runTool runs the tool with args and decodes its JSON report.
func runTool(t *testing.T, args ...string) Report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append(args, "-json", "-timeout", "6m"), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code = %d, want 0\nstderr:\n%s", code, stderr.String())
	}
	var rep Report
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	return rep
}

func checkSummary(t *testing.T, name string, s Summary, n int) {
	t.Helper()
	if s.Count != n {
		t.Errorf("%s count = %d, want %d", name, s.Count, n)
	}
	if !(0 < s.P50 && s.P50 <= s.P95 && s.P95 <= s.P99 && s.P99 <= s.Max) {
		t.Errorf("%s percentiles = %+v, want 0 < p50 <= p95 <= p99 <= max", name, s)
	}
}

// TestEndToEnd runs the whole tool on a tiny load: it builds the bot, starts
// redis-server, opsbot and the bare client, alternates them over two rounds,
// then runs a small mixed workload. It checks that every command was acked
// and answered, that the answers in the acks are alike, and that the report
// is well-formed, never how fast anything was.
func TestEndToEnd(t *testing.T) {
	requireTools(t)
	const n = 30
	rep := runTool(t, "-n", "30", "-warmup", "5", "-rate", "0", "-concurrency", "8", "-rounds", "2",
		"-bolt", "off", "-mixed", "-mixed-n", "20")
	if rep.N != n || rep.Command != "/incident" || rep.Text != "help" || rep.Concurrency != 8 || rep.Rounds != 2 {
		t.Errorf("report echoes n=%d command=%q text=%q concurrency=%d rounds=%d, want %d /incident help 8 2",
			rep.N, rep.Command, rep.Text, rep.Concurrency, rep.Rounds, n)
	}
	if rep.BotExitCode != 0 || len(rep.Problems) > 0 {
		t.Errorf("bot exit code = %d, problems = %q; want 0 and none", rep.BotExitCode, rep.Problems)
	}
	if rep.Bolt != nil || rep.BoltSkipped != "-bolt=off" {
		t.Errorf("bolt = %+v skipped %q, want skipped for -bolt=off", rep.Bolt, rep.BoltSkipped)
	}
	if rep.Opsbot.Reply == nil || rep.Bare.Reply == nil {
		t.Fatal("report lacks reply latency")
	}
	checkSummary(t, "opsbot ack", rep.Opsbot.Ack, n)
	checkSummary(t, "opsbot reply", *rep.Opsbot.Reply, n)
	checkSummary(t, "bare ack", rep.Bare.Ack, n)
	checkSummary(t, "bare reply", *rep.Bare.Reply, n)
	// /incident help is answered in the ack, and the bare client sends the
	// same answer: their acks are the same size (envelope IDs are too).
	if rep.Opsbot.AckBytes < 500 || rep.Opsbot.AckBytes != rep.Bare.AckBytes {
		t.Errorf("ack bytes opsbot %.0f, bare %.0f; want the same answer (over 500 bytes) in both", rep.Opsbot.AckBytes, rep.Bare.AckBytes)
	}
	for name, v := range map[string]float64{"opsbot acks/s": rep.Opsbot.AcksPerSec, "bare acks/s": rep.Bare.AcksPerSec,
		"ratio p50": rep.Ratios.AckOverBare.P50, "ratio p99": rep.Ratios.AckOverBare.P99, "acks/s ratio": rep.Ratios.AcksPerSecOverBare} {
		if !(v > 0) {
			t.Errorf("%s = %g, want > 0", name, v)
		}
	}
	if m := rep.Mixed; m == nil {
		t.Error("no mixed workload result")
	} else {
		checkSummary(t, "mixed reply", m.Reply, 20)
		checkSummary(t, "mixed ack", m.Ack, 20)
		for _, k := range []string{"note", "pin", "update", "dry-run", "declare"} {
			if m.ByKind[k].Count == 0 {
				t.Errorf("mixed workload: no %s answered", k)
			}
		}
		if m.Incidents != mixedIncidents {
			t.Errorf("mixed workload across %d incidents, want %d", m.Incidents, mixedIncidents)
		}
	}

	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, want := range []string{"bare ack", "opsbot ack", "opsbot reply", "opsbot/bare ack", "p99", "mixed workload", "bolt: skipped"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestParseAlertOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults", args: nil},
		{name: "small storm", args: []string{"-alerts", "100", "-groups", "10", "-replicas", "1"}},
		{name: "fewer alerts than groups", args: []string{"-alerts", "5", "-groups", "10"}, wantErr: "-alerts"},
		{name: "no replicas", args: []string{"-replicas", "0"}, wantErr: "-replicas"},
		{name: "edit interval too short", args: []string{"-group-interval", "500ms"}, wantErr: "-group-interval"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseAlertOptions(tt.args, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("parseAlertOptions(%q) error = %v, want none", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseAlertOptions(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
	var stderr bytes.Buffer
	if got := run([]string{"alerts", "-groups", "0"}, io.Discard, &stderr); got != 2 {
		t.Errorf("exit code = %d, want 2 (stderr: %s)", got, stderr.String())
	}
}

// TestAlertsEndToEnd runs the alerts subcommand on a small storm through
// the real Alertmanager and checks the report's counts, never how fast
// anything was.
func TestAlertsEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("OPSBOT_REQUIRE_REAL_REDIS") == "1" {
			t.Fatalf("OPSBOT_REQUIRE_REAL_REDIS=1 but no redis-server on PATH: %v", err)
		}
		t.Skip("no redis-server on PATH")
	}
	if _, err := amtest.Binary(); err != nil {
		if amtest.Required() {
			t.Fatalf("%v", err)
		}
		t.Skip(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"alerts", "-alerts", "40", "-groups", "4", "-waves", "2", "-group-wait", "200ms",
		"-group-interval", "1s", "-replicas", "2", "-ratelimit-updates", "2", "-json", "-timeout", "5m"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code = %d, want 0\nstderr:\n%s", code, stderr.String())
	}
	var rep AlertReport
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	if rep.Messages != 4 || rep.Posts != 4 || rep.RateLimited != 2 || rep.Updates < 4 || rep.Accepted != rep.Notifications ||
		rep.FirstPost.Count != 4 || len(rep.Problems) > 0 {
		t.Errorf("report %+v", rep)
	}
	if rep.MinRetryGapMS < 900 {
		t.Errorf("a 429 was retried after %d ms", rep.MinRetryGapMS)
	}
}

// TestEndToEndWithBolt runs the three clients when Bolt's dependencies are
// installed (`npm ci` in cmd/opsbot-bench/bolt); the suite does not install
// them.
func TestEndToEndWithBolt(t *testing.T) {
	requireTools(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("no node on PATH")
	}
	if _, err := os.Stat("bolt/node_modules/@slack/bolt/package.json"); err != nil {
		t.Skip("Bolt's dependencies are not installed (cd cmd/opsbot-bench/bolt && npm ci)")
	}
	const n = 20
	rep := runTool(t, "-n", "20", "-warmup", "3", "-rate", "0", "-concurrency", "4", "-rounds", "2", "-bolt", "on")
	if rep.Bolt == nil || rep.Bolt.Reply == nil {
		t.Fatalf("no Bolt result: skipped %q", rep.BoltSkipped)
	}
	checkSummary(t, "bolt ack", rep.Bolt.Ack, n)
	checkSummary(t, "bolt reply", *rep.Bolt.Reply, n)
	if rep.Bolt.AckBytes != rep.Opsbot.AckBytes {
		t.Errorf("ack bytes bolt %.0f, opsbot %.0f; want the same answer", rep.Bolt.AckBytes, rep.Opsbot.AckBytes)
	}
	if rep.Ratios.AckOverBolt == nil || rep.Ratios.ReplyOverBolt == nil || !(rep.Ratios.AckOverBolt.P99 > 0) {
		t.Errorf("ratios against Bolt = %+v", rep.Ratios)
	}
	if !strings.HasPrefix(rep.BoltVersion, "4.") {
		t.Errorf("Bolt version %q, want 4.x", rep.BoltVersion)
	}
}
