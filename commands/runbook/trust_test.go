package runbook

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/runbooks"
)

// gatedYAML is a runbook that waits for a file named by its parameter, so a
// test decides when each run ends; its lock includes the parameter so that
// several runs may hold different locks.
func gatedYAML(dir string) string {
	return "name: gated\ndescription: waits for a gate\n" +
		"command: [\"/bin/sh\", \"-c\", \"while [ ! -e " + dir + "/$1 ]; do sleep 0.005; done; echo done $1\", \"gated\", \"{{gate}}\"]\n" +
		"params: {gate: {pattern: \"^g[0-9]$\", required: true}}\n" +
		"lock: \"gated/{{gate}}\"\ntimeout: 1m\nallow: {users: [U0ALICE, U0BOB]}\n"
}

// TestConcurrentRunsPerPersonAreLimited: one person cannot have more than
// the configured number of runbooks running at once, on any replica; the
// refusal says which runs count and is audited; other people are not held
// back; a finished run frees its slot.
func TestConcurrentRunsPerPersonAreLimited(t *testing.T) {
	gates := t.TempDir()
	e := newEnv(t, map[string]string{"gated.yaml": gatedYAML(gates)}, func(c *Config) { c.MaxRunsPerPerson = 2 })
	_, other := e.replica(nil)
	for _, g := range []string{"g1", "g2"} {
		if _, err := do(t, e.router, command("U0ALICE", "C0X", "run gated gate="+g)); err != nil {
			t.Fatalf("run %s: %v", g, err)
		}
	}
	e.clock.Add(65 * time.Second)
	// A third, on the other replica: refused, with the runs that count.
	_, err := do(t, other, command("U0ALICE", "C0X", "run gated gate=g3"))
	want := "<@U0ALICE> already has 2 runbooks running, the most one person may run at once: `gated` (started 1m5s ago), `gated` (started 1m5s ago). `gated` was not run"
	if err == nil || !strings.Contains(userMsg(err), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	// Someone else may still run.
	if _, err := do(t, e.router, command("U0BOB", "C0X", "run gated gate=g4")); err != nil {
		t.Fatalf("bob was held back by alice's limit: %v", err)
	}
	var refused []bot.AuditRecord
	for _, r := range e.audit() {
		if r.Event == bot.AuditRefused {
			refused = append(refused, r)
		}
	}
	if len(refused) != 1 || refused[0].User != "U0ALICE" || refused[0].Rule != "limit of 2 concurrent runs per person reached" {
		t.Errorf("got refusals %+v, want one for alice naming the limit", refused)
	}
	// The refused run took no lock: g3 is free for bob.
	if _, err := do(t, e.router, command("U0BOB", "C0X", "run gated gate=g3")); err != nil {
		t.Errorf("the refused run held its lock: %v", err)
	}
	if err := os.WriteFile(filepath.Join(gates, "g1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "g1 to finish", func() bool {
		for _, r := range e.audit() {
			if r.Event == bot.AuditFinished && strings.Contains(strings.Join(r.Argv, " "), "g1") {
				return true
			}
		}
		return false
	})
	if _, err := do(t, other, command("U0ALICE", "C0X", "run gated gate=g5")); err != nil {
		t.Errorf("a finished run did not free its slot: %v", err)
	}
	for _, g := range []string{"g2", "g3", "g4", "g5"} {
		if err := os.WriteFile(filepath.Join(gates, g), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestApprovalCannotBeSkippedBySpelling: a value that means what an
// approval rule names asks for approval however it is written.
func TestApprovalCannotBeSkippedBySpelling(t *testing.T) {
	logs := t.TempDir()
	for _, f := range []string{"app.log", "secret.log"} {
		if err := os.WriteFile(filepath.Join(logs, f), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rb := "name: readlog\ndescription: read a log\ncommand: [\"/bin/cat\", \"{{file}}\"]\n" +
		"params: {file: {type: path, base: " + logs + ", allow: [\"" + logs + "/*.log\"], required: true}}\n" +
		"allow: {users: [U0ALICE]}\napproval: {when: {file: secret.log}, approvers: {users: [U0LEAD]}}\n"
	for _, spelling := range []string{"secret.log", "./secret.log", ".//secret.log", logs + "/secret.log", logs + "//./secret.log"} {
		t.Run(spelling, func(t *testing.T) {
			e := newEnv(t, map[string]string{"readlog.yaml": rb})
			if _, err := do(t, e.router, command("U0ALICE", "C0X", "run readlog file="+spelling)); err != nil {
				t.Fatal(err)
			}
			if got := events(e.audit()); strings.Join(got, ",") != "approval_requested" {
				t.Errorf("got audit %v, want the approval requested and nothing run", got)
			}
		})
	}
	e := newEnv(t, map[string]string{"readlog.yaml": rb})
	if _, err := do(t, e.router, command("U0ALICE", "C0X", "run readlog file=./app.log")); err != nil {
		t.Fatal(err)
	}
	e.waitAudit(bot.AuditFinished)
}

// staticResolver resolves host names from a map, for host parameters.
type staticResolver map[string]string

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := r[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

// TestShippedExamplesAreSafeByDefault runs the shipped examples' refusals
// through the command family: none of them reaches the bot's own keys, its
// host, a metadata service or a file off its allow list, and http-probe is
// not open to a whole channel.
func TestShippedExamplesAreSafeByDefault(t *testing.T) {
	examples, err := runbooks.LoadDir(filepath.Join("..", "..", "runbooks", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, rb := range examples.All() {
		b, err := os.ReadFile(rb.File)
		if err != nil {
			t.Fatal(err)
		}
		// The examples' commands may be missing here; the refusals come
		// before the command is needed. Their allow lists name sample IDs:
		// alice is an admin of this test workspace.
		files[filepath.Base(rb.File)] = string(b)
	}
	e := newEnv(t, files, func(c *Config) {
		c.Admins = []string{"U0ALICE"}
		c.Resolver = staticResolver{"api.example.com": "93.184.216.34", "sneaky.example.com": "127.0.0.1",
			"meta.example.com": "169.254.169.254", "intranet.example.com": "10.0.0.8"}
	})
	tests := []struct {
		text, want string
	}{
		{"run flush-cache-key key=opsbot:audit --dry-run", "key: must not match"},
		{"run flush-cache-key key=opsbot:runbook:lock:x", "key: must not match"},
		{"run flush-cache-key key=cache:1 host=localhost", "host: must be one of cache-staging.internal, cache-prod.internal"},
		{"run http-probe host=localhost", "host: is the bot's own host"},
		{"run http-probe host=127.0.0.1:6379", "host: is a loopback address"},
		{"run http-probe host=[::1]", "host: is a loopback address"},
		{"run http-probe host=2130706433", "host: is an address written as a number"},
		{"run http-probe host=169.254.169.254", "host: is a cloud metadata address"},
		{"run http-probe host=metadata.google.internal", "host: is a cloud metadata service"},
		{"run http-probe host=10.1.2.3", "host: is a private address"},
		{"run http-probe host=sneaky.example.com", "host: resolves to an address that a loopback address"},
		{"run http-probe host=meta.example.com", "host: resolves to an address that a cloud metadata address"},
		{"run http-probe host=intranet.example.com", "host: resolves to an address that a private address"},
		{"run tail-logs file=auth.log", "file: is not an allowed file"},
		{"run tail-logs file=/etc/shadow", "file: is not an allowed file"},
		{"run tail-logs file=../../etc/shadow", "file: must not contain .."},
		{"run tail-logs file=/var/log/apt/../../../etc/shadow", "file: must not contain .."},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, err := do(t, e.router, command("U0ALICE", "C0X", tt.text))
			if err == nil || !strings.Contains(userMsg(err), tt.want) {
				t.Errorf("got %v, want a refusal containing %q", err, tt.want)
			}
		})
	}
	// What they are for still works (dry runs: the programs may not be
	// installed here).
	for _, text := range []string{
		"run http-probe host=api.example.com:8443 --dry-run",
		"run tail-logs file=syslog --dry-run",
		"run flush-cache-key key=cache:user:1 --dry-run",
	} {
		if _, err := do(t, e.router, command("U0ALICE", "C0X", text)); err != nil {
			t.Errorf("%s: got %v, want the dry run", text, err)
		}
	}
	probe, _ := examples.Get("http-probe")
	if probe.Allow == nil || len(probe.Allow.Channels) != 0 {
		t.Errorf("http-probe allows channels %v; a whole channel may not run it", probe.Allow.Channels)
	}
}
