package runbooks

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// fuzzRunbook echoes its argv back. argv[1] is a fixed word so that echo
// takes nothing after it as an option.
const fuzzRunbook = `name: probe
description: echo the argv back
command: ["/bin/echo", "args:", "{{target}}", "--ns={{ns}}", "{{count}}", "{{wait}}", "{{force}}", "{{file}}", "{{host}}"]
params:
  target: {pattern: "^[A-Za-z0-9._/:@%+=,-]{1,300}$", max_length: 300, required: true}
  ns:     {enum: [staging, prod], default: staging}
  count:  {type: int, min: 0, max: 50, default: 1}
  wait:   {type: duration, max: 1h, default: 30s}
  force:  {type: bool, default: "false"}
  file:   {type: path, base: /var/log, allow: [/var/log/syslog, "/var/log/*.log"], default: syslog}
  host:   {type: host, with_port: true, default: api.example.com}
timeout: 10s
lock: "probe/{{target}}/{{ns}}/{{host}}"
`

// fuzzResolver resolves the one public name the fixture's host may be;
// every other name fails to resolve, so fuzzing never asks real DNS.
var fuzzResolver = fakeResolver{"api.example.com": {"93.184.216.34"}}

func loadOne(t testing.TB, body string) *Runbook {
	t.Helper()
	rb, ps, _ := Parse("fixture.yaml", []byte(body))
	if len(ps) > 0 {
		t.Fatalf("fixture invalid: %v", ps)
	}
	return rb
}

func prepare(rb *Runbook, text string) (*Invocation, bool, error) {
	vals, dry, err := ParseArgs(strings.Fields(text))
	if err != nil {
		return nil, dry, err
	}
	inv, err := rb.PrepareContext(context.Background(), vals, fuzzResolver)
	return inv, dry, err
}

func TestPrepare(t *testing.T) {
	rb := loadOne(t, fuzzRunbook)
	tests := []struct {
		name     string
		text     string
		wantArgv []string
		wantErr  string
		wantDry  bool
	}{
		{"defaults", "target=checkout", []string{"/bin/echo", "args:", "checkout", "--ns=staging", "1", "30s", "false", "/var/log/syslog", "api.example.com"}, "", false},
		{"all set, canonical", "target=a/b ns=prod count=007 wait=90s force=true --dry-run", []string{"/bin/echo", "args:", "a/b", "--ns=prod", "7", "1m30s", "true", "/var/log/syslog", "api.example.com"}, "", true},
		{"placeholder in value is not expanded", "target={{ns}}", nil, "target: must match", false},
		{"required missing", "ns=prod", nil, "target: is required", false},
		{"unknown parameter", "target=x shell=1", nil, "shell: is not a parameter of probe", false},
		{"not key=value", "target=x rm", nil, `"rm" is not key=value`, false},
		{"duplicate key", "target=x target=y", nil, "target: is given twice", false},
		{"semicolon", "target=a;reboot", nil, "must match", false},
		{"and-and (Slack escaped)", "target=a&amp;&amp;reboot", nil, "must match", false},
		{"pipe", "target=a|sh", nil, "must match", false},
		{"command substitution", "target=$(id)", nil, "must match", false},
		{"backticks", "target=`id`", nil, "must match", false},
		{"leading dash", "target=--kubeconfig=/etc/x", nil, "must not start with -", false},
		{"enum look-alike (Cyrillic o)", "target=x ns=pr\u043ed", nil, "ns: must be one of staging, prod", false},
		{"enum case", "target=x ns=Prod", nil, "ns: must be one of", false},
		{"int out of range", "target=x count=51", nil, "count: must be at most 50", false},
		{"int negative", "target=x count=-1", nil, "count: must not start with -", false},
		{"int minus zero", "target=x count=-0", nil, "count: must not start with -", false},
		{"bool spelled TRUE", "target=x force=TRUE", []string{"/bin/echo", "args:", "x", "--ns=staging", "1", "30s", "true", "/var/log/syslog", "api.example.com"}, "", false},
		{"bool spelled 0", "target=x force=0", []string{"/bin/echo", "args:", "x", "--ns=staging", "1", "30s", "false", "/var/log/syslog", "api.example.com"}, "", false},
		{"int with sign", "target=x count=+5", nil, "count: must be a whole number", false},
		{"int hex", "target=x count=0x10", nil, "count: must be a whole number", false},
		{"duration too long", "target=x wait=2h", nil, "wait: must be at most 1h0m0s", false},
		{"duration garbage", "target=x wait=soon", nil, "wait: is not a duration", false},
		{"bool yes", "target=x force=yes", nil, "force: must be true or false", false},
		{"zero-width space", "target=a\u200bb", nil, "control or invisible character", false},
		{"right-to-left override", "target=a\u202eb", nil, "control or invisible character", false},
		{"escape char", "target=a\x1bb", nil, "control or invisible character", false},
		{"invalid utf-8", "target=a\xffb", nil, "not valid UTF-8", false},
		{"too long", "target=" + strings.Repeat("a", 5000), nil, "is too long", false},
		{"smart quotes", "target=\u201cx\u201d", nil, "must match", false},
		// Slack (should_escape) turns host names, URLs and e-mail addresses
		// into links; the value is what the user typed.
		{"host name linked by Slack", "target=<http://api.example.com|api.example.com>", []string{"/bin/echo", "args:", "api.example.com", "--ns=staging", "1", "30s", "false", "/var/log/syslog", "api.example.com"}, "", false},
		{"URL linked by Slack", "target=<https://example.com/healthz>", []string{"/bin/echo", "args:", "https://example.com/healthz", "--ns=staging", "1", "30s", "false", "/var/log/syslog", "api.example.com"}, "", false},
		{"e-mail linked by Slack", "target=<mailto:oncall@example.com|oncall@example.com>", []string{"/bin/echo", "args:", "oncall@example.com", "--ns=staging", "1", "30s", "false", "/var/log/syslog", "api.example.com"}, "", false},
		{"typed angle brackets stay literal", "target=&lt;http://evil|good&gt;", nil, "must match", false},
		{"linked enum", "target=x ns=<http://prod|prod>", []string{"/bin/echo", "args:", "x", "--ns=prod", "1", "30s", "false", "/var/log/syslog", "api.example.com"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, dry, err := prepare(rb, tt.text)
			if tt.wantErr != "" {
				var pe *ParamError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want a ParamError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if strings.Join(inv.Argv, "\x00") != strings.Join(tt.wantArgv, "\x00") {
				t.Errorf("got argv %q, want %q", inv.Argv, tt.wantArgv)
			}
			if dry != tt.wantDry {
				t.Errorf("got dry run %v, want %v", dry, tt.wantDry)
			}
		})
	}
}

func TestNulAndNewlineRefusedInEveryType(t *testing.T) {
	rb := loadOne(t, fuzzRunbook)
	for _, name := range rb.ParamOrder {
		for _, bad := range []string{"a\x00b", "a\nb", "a\rb", "prod\n", "1\x00"} {
			if _, err := rb.Params[name].Check(bad); err == nil {
				t.Errorf("param %s: got %q accepted, want it refused", name, bad)
			}
		}
	}
}

func TestApprovalRuleAndHash(t *testing.T) {
	body := strings.Replace(fuzzRunbook, "timeout: 10s", "timeout: 10s\napproval: {when: {ns: prod, count: [40, 50]}, approvers: {users: [U0LEAD]}}", 1)
	rb := loadOne(t, body)
	tests := []struct {
		name, text, want string
	}{
		{"staging needs none", "target=x", ""},
		{"prod", "target=x ns=prod", "ns=prod"},
		{"count in list, canonical", "target=x count=040", "count=40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, _, err := prepare(rb, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if inv.ApprovalRule != tt.want {
				t.Errorf("got rule %q, want %q", inv.ApprovalRule, tt.want)
			}
		})
	}
	a, _, _ := prepare(rb, "target=x ns=prod")
	b, _, _ := prepare(rb, "target=y ns=prod")
	c, _, _ := prepare(rb, "ns=prod target=x")
	if a.Hash == b.Hash {
		t.Errorf("got the same hash for different argv")
	}
	if a.Hash != c.Hash {
		t.Errorf("got different hashes for the same argv")
	}
	if ArgvHash("r", []string{"a b", "c"}) == ArgvHash("r", []string{"a", "b c"}) {
		t.Errorf("got equal hashes for argv that differ only in element boundaries")
	}
}

// FuzzPrepare feeds arbitrary command text to parameter parsing. Whatever
// the input, it is refused, or every value sits inside its own argv element,
// has no control character, and running the argv (echo, no shell) prints it
// back literally and creates no file.
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{"target=checkout", "target=a;touch${IFS}pwned", "target=a ns=prod count=3 --dry-run"} {
		f.Add(s)
	}
	rb := loadOne(f, fuzzRunbook)
	placeholders := map[int]string{2: "target", 4: "count", 5: "wait", 6: "force", 7: "file", 8: "host"}
	f.Fuzz(func(t *testing.T, text string) {
		inv, _, err := prepare(rb, text)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("got a non-ParamError %T: %v", err, err)
			}
			return
		}
		if len(inv.Argv) != len(rb.Command) {
			t.Fatalf("got %d argv elements, want %d", len(inv.Argv), len(rb.Command))
		}
		for i, name := range placeholders {
			if inv.Argv[i] != inv.Params[name] {
				t.Fatalf("argv[%d] = %q, want exactly the value of %s %q", i, inv.Argv[i], name, inv.Params[name])
			}
		}
		if inv.Argv[3] != "--ns="+inv.Params["ns"] {
			t.Fatalf("argv[3] = %q, want --ns=%s", inv.Argv[3], inv.Params["ns"])
		}
		// The lock key names exactly the values it was built from.
		parts := strings.Split(inv.LockKey, "/")
		if len(parts) != 4 || parts[0] != "probe" {
			t.Fatalf("lock %q does not split into probe/target/ns/host", inv.LockKey)
		}
		for i, name := range []string{"target", "ns", "host"} {
			if got, err := url.PathUnescape(parts[i+1]); err != nil || got != inv.Params[name] {
				t.Fatalf("lock %q part %d decodes to %q (%v), want %s %q", inv.LockKey, i+1, got, err, name, inv.Params[name])
			}
		}
		if !strings.HasPrefix(inv.Params["file"], "/var/log/") || strings.Contains(inv.Params["file"], "..") {
			t.Fatalf("accepted file %q outside /var/log", inv.Params["file"])
		}
		if c := inv.Params["count"]; strings.HasPrefix(c, "-") {
			t.Fatalf("accepted count %q starting with -", c)
		}
		for _, v := range inv.Params {
			for _, r := range v {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					t.Fatalf("accepted value %q has control character %U", v, r)
				}
			}
		}
		dir := t.TempDir()
		ex, err := NewExecutor(ExecConfig{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		p, err := ex.Start(t.Context(), inv)
		if err != nil {
			t.Fatal(err)
		}
		res := p.Wait()
		want := strings.Join(inv.Argv[1:], " ") + "\n"
		if r, _ := NewRedactor(nil); r != nil {
			want = r.Redact(want)
		}
		if res.ExitCode != 0 || res.Output != want {
			t.Fatalf("got exit %d output %q, want 0 and the literal argv %q", res.ExitCode, res.Output, want)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) > 0 {
			t.Fatalf("the run created %s; nothing may be created", filepath.Join(dir, entries[0].Name()))
		}
	})
}

// BenchmarkPrepare measures validating and rendering one typical request.
func BenchmarkPrepare(b *testing.B) {
	rb := loadOne(b, fuzzRunbook)
	words := strings.Fields("target=checkout-api ns=prod count=12 wait=5m force=true")
	b.ReportAllocs()
	for b.Loop() {
		vals, _, err := ParseArgs(words)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rb.PrepareContext(context.Background(), vals, fuzzResolver); err != nil {
			b.Fatal(err)
		}
	}
}
