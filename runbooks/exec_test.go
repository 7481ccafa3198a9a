//go:build unix

package runbooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shRunbook builds a runbook whose own argv is sh -c SCRIPT: a test fixture
// only, to make processes behave in particular ways.
func shRunbook(t *testing.T, script string, timeout time.Duration, env ...string) *Invocation {
	t.Helper()
	rb := &Runbook{Name: "fixture", Command: []string{"sh", "-c", script}, Path: "/bin/sh", Timeout: timeout, Env: env, Lock: "fixture"}
	inv, err := rb.Prepare(nil)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestExecEnvIsolation(t *testing.T) {
	env := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-secret", "SLACK_APP_TOKEN": "xapp-secret", "PAGERDUTY_TOKEN": "pd",
		"REDIS_URL": "redis://:pw@host", "OPSBOT_CONFIG": "/etc/opsbot.yaml", "HOME": "/root",
		"KUBECONFIG": "/etc/kube/config", "PATH": "/evil/bin",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	// The bot's real environment carries these too, for good measure.
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-from-process-env")
	t.Setenv("OPSBOT_LOG_LEVEL", "debug")
	ex, err := NewExecutor(ExecConfig{LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	rb := &Runbook{Name: "env", Command: []string{"env"}, Path: "/usr/bin/env", Timeout: 10 * time.Second, Env: []string{"KUBECONFIG", "NOT_SET"}, Lock: "env"}
	inv, _ := rb.Prepare(nil)
	p, err := ex.Start(t.Context(), inv)
	if err != nil {
		t.Fatal(err)
	}
	res := p.Wait()
	if res.ExitCode != 0 {
		t.Fatalf("got exit %d, want 0; output %q", res.ExitCode, res.Output)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(res.Output), "\n") {
		name, _, _ := strings.Cut(line, "=")
		got = append(got, name)
		for _, bad := range []string{"SLACK_", "PAGERDUTY_", "REDIS_", "OPSBOT_"} {
			if strings.HasPrefix(name, bad) && name != RunMarkerVar {
				t.Errorf("child saw %s", name)
			}
		}
	}
	if want := "PATH," + RunMarkerVar + ",KUBECONFIG"; strings.Join(got, ",") != want {
		t.Errorf("got variables %v, want exactly %s", got, want)
	}
	if !strings.Contains(res.Output, "PATH="+SafePath+"\n") {
		t.Errorf("got %q, want the fixed PATH", res.Output)
	}
	// KUBECONFIG was passed through, so its value is a secret in output.
	if strings.Contains(res.Output, "/etc/kube/config") || !strings.Contains(res.Output, "KUBECONFIG="+Redacted) {
		t.Errorf("got %q, want KUBECONFIG's value redacted", res.Output)
	}
}

func TestExecOutputCapAndRedaction(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		max        int
		redact     []string
		env        map[string]string
		wantHas    []string
		wantHasNot []string
		wantTotal  int64
	}{
		{
			name: "cap keeps the first whole lines and marks the rest", script: `yes aaaaaaaaa | head -c 10000`, max: 1005,
			wantHas: []string{strings.Repeat("aaaaaaaaa\n", 100) + "\n[opsbot: output capped at 1000 bytes; 9000 more bytes dropped]"}, wantTotal: 10000,
		},
		{
			// The cap cuts the secret; its first half must not show.
			name: "cap never shows part of a secret", script: `echo line; printf 'xxxx hunter2hunter2'`, max: 14,
			env:     map[string]string{"REDISCLI_AUTH": "hunter2hunter2"},
			wantHas: []string{"line\n\n[opsbot: output capped at 5 bytes"}, wantHasNot: []string{"hunt"},
		},
		{
			name: "a first line longer than the cap is kept to its last whole word", script: `printf 'word1 word2 hunter2hunter2'`, max: 20,
			env:     map[string]string{"REDISCLI_AUTH": "hunter2hunter2"},
			wantHas: []string{"word1 word2 \n[opsbot: output capped at 12 bytes"}, wantHasNot: []string{"hunt"},
		},
		{
			name: "default patterns", script: `echo token=abc123; echo xoxb-1234567890-abcdef; echo AKIAABCDEFGHIJKLMNOP ok`,
			wantHas: []string{"token=" + Redacted + "\n", Redacted + " ok"}, wantHasNot: []string{"abc123", "xoxb-", "AKIA"},
		},
		{
			name: "configured pattern", script: `echo session=s3cr3t-value-42 rest`, redact: []string{`s3cr3t-[a-z0-9-]+`},
			wantHas: []string{"session=" + Redacted + " rest"}, wantHasNot: []string{"s3cr3t"},
		},
		{
			name: "passed-through variable values", script: `echo "auth is $REDISCLI_AUTH"; printf '%s' "$REDISCLI_AUTH" | rev`,
			env:     map[string]string{"REDISCLI_AUTH": "hunter2hunter2"},
			wantHas: []string{"auth is " + Redacted}, wantHasNot: []string{"hunter2hunter2"},
		},
		{
			name: "stderr is captured too", script: `echo to-stderr >&2; exit 3`,
			wantHas: []string{"to-stderr"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := NewExecutor(ExecConfig{MaxOutput: tt.max, Redact: tt.redact,
				LookupEnv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for k := range tt.env {
				names = append(names, k)
			}
			p, err := ex.Start(t.Context(), shRunbook(t, tt.script, 10*time.Second, names...))
			if err != nil {
				t.Fatal(err)
			}
			res := p.Wait()
			for _, w := range tt.wantHas {
				if !strings.Contains(res.Output, w) {
					t.Errorf("got output %q, want it to contain %q", res.Output, w)
				}
			}
			for _, w := range tt.wantHasNot {
				if strings.Contains(res.Output, w) {
					t.Errorf("got output %q, want no %q", res.Output, w)
				}
			}
			if tt.wantTotal != 0 && res.TotalBytes != tt.wantTotal {
				t.Errorf("got total %d bytes, want %d", res.TotalBytes, tt.wantTotal)
			}
			if !strings.HasPrefix(res.Digest, "sha256:") || len(res.Digest) != 71 {
				t.Errorf("got digest %q, want sha256:<64 hex>", res.Digest)
			}
		})
	}
}

func TestExecExitCodeAndStdin(t *testing.T) {
	ex, _ := NewExecutor(ExecConfig{})
	// cat reads stdin: empty stdin means it ends at once instead of hanging.
	p, err := ex.Start(t.Context(), shRunbook(t, `cat; echo done; exit 7`, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	res := p.Wait()
	if res.ExitCode != 7 || res.TimedOut || res.Killed || res.Output != "done\n" {
		t.Errorf("got exit %d timedOut %v killed %v output %q, want 7, false, false, done", res.ExitCode, res.TimedOut, res.Killed, res.Output)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// waitGone polls until pid has gone (zombies are reaped by init, which may
// take a moment) or the deadline passes.
func waitGone(t *testing.T, pid int) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return true
		}
		// A zombie still answers kill(0); look at its state.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				return pid
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", file)
	return 0
}

// writeHostPID is shell that writes the process's PID, as the bot sees it,
// to a file. $$ and $! are PIDs inside the run's namespace; /proc is the
// bot's, so /proc/self/stat names the process by the bot's PID.
func writeHostPID(file string) string {
	return `read -r hostpid _ < /proc/self/stat; echo $hostpid > ` + file
}

// isolations are the modes every process test runs under: the namespace
// (where this kernel allows it) and the process-group fallback, forced.
func isolations(t *testing.T) []Isolation {
	t.Helper()
	modes := []Isolation{IsolationGroup}
	ex, err := NewExecutor(ExecConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if st := ex.Probe(t.Context(), "/bin/sh", "-c", ":"); st.Mode == IsolationNamespace {
		modes = append(modes, IsolationNamespace)
	} else {
		t.Logf("PID namespaces unavailable here (%s): testing the process-group fallback only", st.Reason)
	}
	return modes
}

func TestExecTimeoutKillsGrandchildren(t *testing.T) {
	for _, iso := range isolations(t) {
		t.Run(string(iso), func(t *testing.T) {
			dir := t.TempDir()
			pidfile := filepath.Join(dir, "grandchild.pid")
			ex, _ := NewExecutor(ExecConfig{Isolation: iso})
			// The grandchild ignores SIGTERM and the shell waits for it:
			// only SIGKILL to the whole run ends both.
			script := `trap '' TERM; sh -c 'trap "" TERM; ` + writeHostPID(pidfile) + `; exec sleep 300' & echo started; wait`
			p, err := ex.Start(t.Context(), shRunbook(t, script, 500*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			pid := readPID(t, pidfile)
			res := p.Wait()
			if !res.TimedOut || res.ExitCode != -1 || res.Isolation != iso {
				t.Errorf("got timedOut %v exit %d isolation %s, want true, -1, %s", res.TimedOut, res.ExitCode, res.Isolation, iso)
			}
			if !strings.Contains(res.Output, "started") {
				t.Errorf("got output %q, want what was written before the timeout", res.Output)
			}
			if !waitGone(t, pid) {
				t.Errorf("grandchild %d still alive after the timeout", pid)
			}
		})
	}
}

func TestExecLeaderExitKillsLeftovers(t *testing.T) {
	for _, iso := range isolations(t) {
		t.Run(string(iso), func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "bg.pid")
			ex, _ := NewExecutor(ExecConfig{Isolation: iso})
			p, err := ex.Start(t.Context(), shRunbook(t, `sh -c '`+writeHostPID(pidfile)+`; exec sleep 300' & while [ ! -s `+pidfile+` ]; do sleep 0.01; done; echo bye`, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			pid := readPID(t, pidfile)
			res := p.Wait()
			if res.ExitCode != 0 || res.TimedOut {
				t.Errorf("got exit %d timedOut %v, want 0 false", res.ExitCode, res.TimedOut)
			}
			if !waitGone(t, pid) {
				t.Errorf("background child %d outlived the run", pid)
			}
		})
	}
}

// escapeScript starts a sleeper that leaves the run's process group and
// session (setsid) from a double fork, so that its parent is gone too, and
// says where it is. clearEnv makes it drop its environment as well.
func escapeScript(pidfile string, clearEnv bool) string {
	sleeper := `sh -c '` + writeHostPID(pidfile) + `; exec sleep 300'`
	if clearEnv {
		sleeper = `env -i /bin/sh -c '` + writeHostPID(pidfile) + `; exec sleep 300'`
	}
	return `(setsid ` + sleeper + ` > /dev/null 2>&1 < /dev/null &) ; ` +
		`while [ ! -s ` + pidfile + ` ]; do sleep 0.01; done; echo escaped`
}

// TestExecSetsidEscapeIsKilled: a runbook that double-forks a sleeper into
// a session of its own does not outlive its run, under either isolation,
// whether the run ends by itself or is killed at its timeout.
func TestExecSetsidEscapeIsKilled(t *testing.T) {
	for _, iso := range isolations(t) {
		for _, ending := range []string{"exit", "timeout"} {
			t.Run(string(iso)+"/"+ending, func(t *testing.T) {
				pidfile := filepath.Join(t.TempDir(), "escapee.pid")
				script := escapeScript(pidfile, false)
				timeout := time.Minute
				if ending == "timeout" {
					script += "; sleep 300"
					timeout = time.Second
				}
				ex, _ := NewExecutor(ExecConfig{Isolation: iso})
				p, err := ex.Start(t.Context(), shRunbook(t, script, timeout))
				if err != nil {
					t.Fatal(err)
				}
				pid := readPID(t, pidfile)
				res := p.Wait()
				if res.Isolation != iso || res.TimedOut != (ending == "timeout") || !strings.Contains(res.Output, "escaped") {
					t.Errorf("got isolation %s timedOut %v output %q, want %s, %v, escaped", res.Isolation, res.TimedOut, res.Output, iso, ending == "timeout")
				}
				if !waitGone(t, pid) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("escaped sleeper %d outlived the run", pid)
				}
			})
		}
	}
}

// TestExecNamespaceKillsWhatClearedItsEnvironment: in a PID namespace even
// an escapee that dropped its environment dies with the run. Under the
// process-group fallback it survives: the documented limit of the fallback,
// which this test pins so that the docs stay true.
func TestExecNamespaceKillsWhatClearedItsEnvironment(t *testing.T) {
	for _, iso := range isolations(t) {
		t.Run(string(iso), func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "escapee.pid")
			ex, _ := NewExecutor(ExecConfig{Isolation: iso})
			p, err := ex.Start(t.Context(), shRunbook(t, escapeScript(pidfile, true), time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			pid := readPID(t, pidfile)
			p.Wait()
			gone := waitGone(t, pid)
			if !gone {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			switch {
			case iso == IsolationNamespace && !gone:
				t.Errorf("escapee %d survived its PID namespace", pid)
			case iso == IsolationGroup && gone:
				t.Errorf("escapee %d with a cleared environment was killed under the fallback: update the documented limit", pid)
			}
		})
	}
}

func TestExecProbeAndIsolationStatus(t *testing.T) {
	ex, err := NewExecutor(ExecConfig{Isolation: IsolationGroup})
	if err != nil {
		t.Fatal(err)
	}
	if st := ex.Probe(t.Context(), "/bin/sh", "-c", ":"); st.Mode != IsolationGroup || !strings.Contains(st.Reason, "configured") {
		t.Errorf("got %+v, want the configured group mode", st)
	}
	if _, err := NewExecutor(ExecConfig{Isolation: "chroot"}); err == nil {
		t.Errorf("got an unknown isolation mode accepted")
	}
	auto, _ := NewExecutor(ExecConfig{})
	if st := auto.Isolation(); st.Mode != IsolationAuto {
		t.Errorf("got %+v before any run, want auto (not known yet)", st)
	}
	st := auto.Probe(t.Context(), "/bin/sh", "-c", ":")
	if st.Mode != IsolationNamespace && st.Mode != IsolationGroup || st.Err != nil {
		t.Fatalf("got %+v, want namespace or group", st)
	}
	if st.Mode == IsolationGroup && st.Reason == "" {
		t.Errorf("got the fallback without a reason")
	}
}

func TestExecCancelIsKilled(t *testing.T) {
	ex, _ := NewExecutor(ExecConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	p, err := ex.Start(ctx, shRunbook(t, `echo up; sleep 300`, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for p.Snapshot() == "" {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	res := p.Wait()
	if !res.Killed || res.TimedOut {
		t.Errorf("got killed %v timedOut %v, want killed only", res.Killed, res.TimedOut)
	}
}

func TestSnapshotHoldsBackPartialLine(t *testing.T) {
	ex, _ := NewExecutor(ExecConfig{LookupEnv: func(string) (string, bool) { return "topsecretvalue", true }})
	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	script := `echo line1; printf 'topsec'; while [ ! -e ` + gate + ` ]; do sleep 0.01; done; printf 'retvalue\n'`
	p, err := ex.Start(t.Context(), shRunbook(t, script, 10*time.Second, "SECRET"))
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.Snapshot(), "line1") {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the partial line arrive
	if got := p.Snapshot(); got != "line1\n" {
		t.Errorf("got snapshot %q, want only the complete line", got)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := p.Wait(); res.Output != "line1\n"+Redacted+"\n" {
		t.Errorf("got %q, want the secret redacted once complete", res.Output)
	}
}

// TestRedactBotSecretsThroughExecutor: the bot's own secrets given to the
// executor are removed from a run's output although the runbook was never
// given them (it found them somewhere), in their common forms.
func TestRedactBotSecretsThroughExecutor(t *testing.T) {
	secrets := []string{"xoxb-1-2-botTOKENvalue", "redis://:p%40ss-w0rd@redis:6379/0", "pd-token-0123456789"}
	ex, err := NewExecutor(ExecConfig{Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	script := `echo "bot=xoxb-1-2-botTOKENvalue"; echo "url=redis://:p%40ss-w0rd@redis:6379/0"; ` +
		`echo "pw=p@ss-w0rd raw=p%40ss-w0rd"; echo '{"pd":"pd-token-0123456789"}'`
	p, err := ex.Start(t.Context(), shRunbook(t, script, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	res := p.Wait()
	want := "bot=" + Redacted + "\nurl=" + Redacted + "\npw=" + Redacted + " raw=" + Redacted + "\n{\"pd\":\"" + Redacted + "\"}\n"
	if res.Output != want {
		t.Errorf("got %q, want %q", res.Output, want)
	}
}
