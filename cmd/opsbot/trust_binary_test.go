package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// trustRunbooks are the hostile runbooks TestBinaryRunbooksCannotReachTheBot
// runs: one reads another process's environment and memory, one prints the
// bot's credentials found in a file, one leaves its run with setsid.
func trustRunbooks(t *testing.T, dir, found, started, sleep string) string {
	t.Helper()
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"peek.yaml": `name: peek
description: read another process's environment and memory
command: ["/bin/sh", "-c", "cat /proc/$1/environ; echo; head -c 64 /proc/$1/mem | od -c | head -1; echo peeked $1", "peek", "{{pid}}"]
params: {pid: {type: int, min: 1, required: true}}
lock: "peek/{{pid}}"
timeout: 30s
`,
		"found.yaml": `name: found
description: print a file that happens to hold the bot's credentials
command: ["/bin/cat", "{{file}}"]
params: {file: {type: path, allow: ["` + found + `"], default: "` + found + `"}}
timeout: 30s
`,
		"escape.yaml": `name: escape
description: leave the run with setsid from a double fork
command: ["/bin/sh", "-c", "(setsid sh -c 'echo up > ` + started + `; exec sleep ` + sleep + `' > /dev/null 2>&1 < /dev/null &); while [ ! -s ` + started + ` ]; do sleep 0.01; done; echo escaped"]
timeout: 30s
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(rbDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return rbDir
}

// syncBuffer is a bytes.Buffer the test may read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sleepers lists the PIDs of live (not zombie) processes whose command line
// is exactly sleep ARG.
func sleepers(arg string) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || string(cmdline) != "sleep\x00"+arg+"\x00" {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + d.Name() + "/stat"); err == nil {
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// TestBinaryRunbooksCannotReachTheBot runs the real binary against the fake
// Slack and a password-protected Redis, as root and as an unprivileged user,
// and runs hostile runbooks through Slack: reading the bot's
// /proc/PID/environ and memory is refused, the bot's credentials found
// elsewhere are redacted, a setsid'd sleeper dies with its run, and no
// credential reaches Slack in any message, file or API call, nor the logs.
func TestBinaryRunbooksCannotReachTheBot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the bot as root and as another user")
	}
	bin := buildBinary(t)
	for _, tt := range []struct {
		name      string
		uid, gid  uint32
		isolation string
	}{
		{"root", 0, 0, ""},
		{"unprivileged", 65534, 65534, ""},
		// The fallback, forced: only the bot being non-dumpable keeps a
		// runbook of its own user out, and the run marker finds the
		// setsid'd sleeper. (As root the fallback cannot keep runbooks
		// out; doctor fails on it, see runbooks.TestExecChildCannotReadTheBot.)
		{"unprivileged, process group", 65534, 65534, "group"},
	} {
		t.Run(tt.name, func(t *testing.T) { runTrustBinary(t, bin, tt.uid, tt.gid, tt.isolation) })
	}
}

// worldDir is a temporary directory another user may enter (t.TempDir's
// are private to their owner).
func worldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "opsbot-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runTrustBinary(t *testing.T, bin string, uid, gid uint32, isolation string) {
	rs := redistest.NewServer(t)
	password := fmt.Sprintf("Redis-Pw-%d", time.Now().UnixNano())
	if err := rs.Client().ConfigSet(context.Background(), "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	redisURL := "redis://:" + password + "@" + rs.Addr() + "/0"

	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice", Email: "alice@example.com"})
	ops := fs.AddChannel("ops", alice, fakeslack.BotUserID)
	dir := worldDir(t)
	shared := filepath.Join(dir, "bin")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	binCopy := filepath.Join(shared, "opsbot")
	if data, err := os.ReadFile(bin); err != nil || os.WriteFile(binCopy, data, 0o755) != nil {
		t.Fatalf("copy binary: %v", err)
	}
	found := filepath.Join(dir, "found.txt")
	if err := os.WriteFile(found, []byte("SLACK_BOT_TOKEN="+fs.BotToken()+"\napp token "+fs.AppToken()+
		"\nREDIS_URL="+redisURL+"\nthe password alone: "+password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sleepArg := fmt.Sprintf("3000.%06d", time.Now().Nanosecond()/1000)
	rbDir := trustRunbooks(t, dir, found, filepath.Join(dir, "started"), sleepArg)
	cfgFile := filepath.Join(dir, "opsbot.yaml")
	cfgYAML := fmt.Sprintf("admins: [%s]\nredis: {spool_dir: %s}\n", alice, filepath.Join(dir, "spool"))
	if isolation != "" {
		cfgYAML += "runbooks: {isolation: " + isolation + "}\n"
	}
	if err := os.WriteFile(cfgFile, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	// Where runbooks share the bot's user namespace, they can read an
	// ordinary process of their user: this one, with a canary in its
	// environment, shows that the refusal below is the bot's doing.
	canary := fmt.Sprintf("OPSBOT_TEST_CANARY=canary-%d", time.Now().UnixNano())
	var control *exec.Cmd
	if isolation == "group" {
		control = exec.Command("sleep", "120")
		control.Env = []string{canary}
		control.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
		if err := control.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = control.Process.Kill(); _ = control.Wait() })
	}

	httpAddr := freeAddr(t)
	bot := exec.Command(binCopy)
	bot.Dir = dir
	bot.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
	bot.Env = append(os.Environ(),
		"SLACK_APP_TOKEN="+fs.AppToken(), "SLACK_BOT_TOKEN="+fs.BotToken(), "SLACK_API_URL="+fs.APIURL(),
		"REDIS_URL="+redisURL, "OPSBOT_HTTP_ADDR="+httpAddr, "OPSBOT_CONFIG="+cfgFile, "OPSBOT_RUNBOOKS="+rbDir)
	var logs syncBuffer
	bot.Stderr = &logs
	if err := bot.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- bot.Wait() }()
	t.Cleanup(func() {
		_ = bot.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = bot.Process.Kill()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := fs.WaitConnections(ctx, 1); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	for ready := false; !ready; {
		if ctx.Err() != nil {
			t.Fatalf("/readyz never answered 200\n%s", logs.String())
		}
		if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
			ready = resp.StatusCode == 200
			resp.Body.Close()
		}
		if !ready {
			time.Sleep(20 * time.Millisecond)
		}
	}

	// runbook runs one through Slack and returns the finished output
	// message.
	runbook := func(text, marker string) string {
		t.Helper()
		sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/runbook", Text: text, UserID: alice, ChannelID: ops})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.WaitAck(ctx, sent.EnvelopeID); err != nil {
			t.Fatal(err)
		}
		var got string
		err = fs.WaitUntil(ctx, func() bool {
			for _, m := range fs.Messages(ops) {
				if r := m.Rendered(); strings.Contains(r, marker) && strings.Contains(r, "finished: exit code") {
					got = r
					return true
				}
			}
			return false
		})
		if err != nil {
			for _, e := range fs.Ephemerals(ops, alice) {
				t.Logf("ephemeral: %s", e.Rendered())
			}
			t.Fatalf("/runbook %s: no finished output containing %q: %v\n%s", text, marker, err, logs.String())
		}
		return got
	}

	botPID := strconv.Itoa(bot.Process.Pid)
	if uid != 0 {
		// Non-dumpable, the process's /proc files belong to root rather
		// than to its user, who (like every runbook it starts) can then no
		// longer read them. This is main's doing, whatever the isolation.
		fi, err := os.Stat("/proc/" + botPID + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		if owner := fi.Sys().(*syscall.Stat_t).Uid; owner != 0 {
			t.Errorf("/proc/%s/environ belongs to uid %d, want 0: the bot is dumpable, readable by its user's processes", botPID, owner)
		}
	}
	if out := runbook("run peek pid="+botPID, "peeked "+botPID); strings.Count(out, "Permission denied") != 2 || strings.Contains(out, "SLACK_") {
		t.Errorf("reading the bot's environ and mem: got %q, want both refused", out)
	}
	if control != nil {
		pid := strconv.Itoa(control.Process.Pid)
		if out := runbook("run peek pid="+pid, "peeked "+pid); !strings.Contains(out, canary) {
			t.Errorf("reading an ordinary process of the same user: got %q, want its environment (%s)", out, canary)
		}
	}
	if out := runbook("run found", "the password alone"); strings.Count(out, "[REDACTED]") < 4 {
		t.Errorf("credentials found in a file: got %q, want each redacted", out)
	}
	runbook("run escape", "escaped")
	// The run is over (its final message is posted): its sleeper must be
	// gone. A killed process may take a moment to be reaped.
	deadline := time.Now().Add(10 * time.Second)
	for len(sleepers(sleepArg)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := sleepers(sleepArg); len(left) > 0 {
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("setsid'd sleeper %v outlived its run", left)
	}

	// Nothing the bot sent to Slack holds a credential.
	var sent []string
	for _, c := range fs.Calls() {
		sent = append(sent, c.Method+" "+c.Params.Encode())
	}
	for _, f := range fs.Files() {
		sent = append(sent, string(f.Content))
	}
	for _, m := range fs.Messages(ops) {
		sent = append(sent, m.Rendered())
	}
	for _, e := range fs.Ephemerals(ops, alice) {
		sent = append(sent, e.Rendered())
	}
	all := strings.Join(sent, "\n")
	for name, secret := range map[string]string{"bot token": fs.BotToken(), "app token": fs.AppToken(), "Redis password": password} {
		if strings.Contains(all, secret) {
			t.Errorf("the %s reached Slack", name)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the %s is in the logs", name)
		}
	}
}
