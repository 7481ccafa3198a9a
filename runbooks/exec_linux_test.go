//go:build linux

package runbooks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as a helper process (see
// TestMain-less dispatch in TestHelperProcess) instead of running tests.
const helperEnv = "OPSBOT_RUNBOOKS_TEST_HELPER"

// helperResult is what a helper process reports per isolation mode.
type helperResult struct {
	Isolation Isolation `json:"isolation"`
	Output    string    `json:"output"`
	// Escaped is the PID of a setsid'd sleeper still alive after the run.
	Escaped int    `json:"escaped,omitempty"`
	UIDMap  string `json:"uid_map"`
	Err     string `json:"err,omitempty"`
}

// TestHelperProcess is not a test: run by runHelper in a child process
// (another user, a non-dumpable process), it starts runbooks through the
// real executor and prints one JSON result per isolation mode.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process only")
	}
	// What cmd/opsbot does at start: children may not read this process.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	out := json.NewEncoder(os.Stdout)
	for _, iso := range isolations(t) {
		pidfile := filepath.Join(t.TempDir(), "escapee.pid")
		script := `cat /proc/` + self + `/environ; echo; head -c 16 /proc/` + self + `/mem | od -c | head -1; ` +
			`echo uid_map: $(cat /proc/self/uid_map); ` + escapeScript(pidfile, false)
		res := helperResult{Isolation: iso}
		ex, _ := NewExecutor(ExecConfig{Isolation: iso})
		p, err := ex.Start(t.Context(), shRunbook(t, script, time.Minute))
		if err != nil {
			res.Err = err.Error()
		} else {
			r := p.Wait()
			res.Output, res.Isolation = r.Output, r.Isolation
			if b, err := os.ReadFile(pidfile); err == nil {
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				if pid > 0 && !waitGone(t, pid) {
					res.Escaped = pid
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			for _, line := range strings.Split(r.Output, "\n") {
				if m, ok := strings.CutPrefix(line, "uid_map: "); ok {
					res.UIDMap = strings.Join(strings.Fields(m), " ")
				}
			}
		}
		if err := out.Encode(res); err != nil {
			t.Fatal(err)
		}
	}
}

// runHelper runs TestHelperProcess as uid/gid with a secret in its
// environment and returns its results by isolation mode.
func runHelper(t *testing.T, uid, gid int, secret string) map[Isolation]helperResult {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a directory only its owner may enter; the
	// other user gets a copy it can execute.
	dir, err := os.MkdirTemp("", "opsbot-helper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "runbooks.test")
	copyFile(t, self, bin)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "tmp")
	if err := os.Mkdir(work, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(work, 0o1777); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = []string{helperEnv + "=1", "OPSBOT_TEST_CANARY=" + secret, "PATH=" + SafePath, "TMPDIR=" + work}
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	results := map[Isolation]helperResult{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r helperResult
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Isolation != "" {
			results[r.Isolation] = r
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper as uid %d: %v\n%s", uid, err, stderr.String())
	}
	if len(results) == 0 {
		t.Fatalf("helper as uid %d reported nothing\n%s", uid, stderr.String())
	}
	return results
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestExecChildCannotReadTheBot: a runbook started by the real executor
// from a non-dumpable process (as opsbot makes itself at start) tries to
// read that process's /proc/PID/environ and memory, and to leave its run
// with setsid. As an unprivileged user, under either isolation, it can do
// neither. As root, only
// the namespace keeps it out (the fallback's documented limit, pinned here
// so that the docs stay true).
func TestExecChildCannotReadTheBot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the helper as another user")
	}
	secret := fmt.Sprintf("canary-%d", time.Now().UnixNano())
	for _, who := range []struct {
		name     string
		uid, gid int
	}{{"unprivileged", 65534, 65534}, {"root", 0, 0}} {
		t.Run(who.name, func(t *testing.T) {
			results := runHelper(t, who.uid, who.gid, secret)
			for iso, r := range results {
				t.Run(string(iso), func(t *testing.T) {
					if r.Err != "" {
						t.Fatalf("run failed: %s", r.Err)
					}
					leaked := strings.Contains(r.Output, secret)
					denied := strings.Count(r.Output, "Permission denied") == 2
					rootFallback := who.uid == 0 && iso == IsolationGroup
					switch {
					case rootFallback && !leaked:
						t.Errorf("a root child under the fallback could not read the bot: update the documented limit\n%s", r.Output)
					case !rootFallback && (leaked || !denied):
						t.Errorf("got output %q, want both reads refused and no secret", r.Output)
					}
					if r.Escaped != 0 {
						t.Errorf("setsid'd sleeper %d outlived the run", r.Escaped)
					}
					if iso == IsolationNamespace {
						// Unprivileged: no map (a non-dumpable process
						// cannot write it); root: identity.
						want := ""
						if who.uid == 0 {
							want = strings.Join(strings.Fields(readFirstLine(t, "/proc/self/uid_map")), " ")
						}
						if r.UIDMap != want {
							t.Errorf("got uid_map %q in the run, want %q", r.UIDMap, want)
						}
					}
				})
			}
		})
	}
}

func readFirstLine(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}
