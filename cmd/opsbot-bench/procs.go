package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// botPackage is built when -bin is not given. An import path rather than
// ./cmd/opsbot, so the build works from any directory inside the module.
const botPackage = "github.com/opsbot/opsbot/cmd/opsbot"

// buildBot builds the opsbot binary into dir.
func buildBot(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "opsbot")
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "go", "build", "-trimpath", "-o", out, botPackage)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s (run inside the opsbot module, or pass -bin): %w\n%s", botPackage, err, msg)
	}
	return out, nil
}

// workdir is what every measurement starts from: a temporary directory,
// the opsbot binary (built into it unless given) and a Redis (a throwaway
// redis-server unless a URL is given).
type workdir struct {
	dir, bin, redisURL string
	redis              *child // nil when the URL was given
}

func prepare(ctx context.Context, prefix, bin, redisURL string, stderr io.Writer) (_ *workdir, err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	wd := &workdir{dir: dir, bin: bin, redisURL: redisURL}
	defer func() {
		if err != nil {
			wd.close()
		}
	}()
	if wd.bin == "" {
		fmt.Fprintf(stderr, "opsbot-bench: building %s\n", botPackage)
		if wd.bin, err = buildBot(ctx, dir); err != nil {
			return nil, err
		}
	}
	if wd.redisURL == "" {
		if wd.redis, wd.redisURL, err = startRedis(ctx, dir); err != nil {
			return nil, err
		}
	}
	return wd, nil
}

// close stops the Redis it started and removes the directory.
func (wd *workdir) close() {
	if wd.redis != nil {
		wd.redis.stop(5 * time.Second)
	}
	os.RemoveAll(wd.dir)
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before it is used; the caller fails clearly if so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// child is a process the tool started, always stopped before the tool exits.
type child struct {
	name   string
	cmd    *exec.Cmd
	output *tail
	done   chan struct{}
	err    error // from Wait, valid once done is closed
}

func startChild(name string, cmd *exec.Cmd) (*child, error) {
	c := &child{name: name, cmd: cmd, output: &tail{max: 32 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.output, c.output
	// Own process group, so a Ctrl-C in the terminal reaches only the tool,
	// which then stops its children in order; the parent-death signal
	// covers the tool being killed outright.
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// kills its process group. It returns the exit code (-1 when killed).
func (c *child) stop(grace time.Duration) (code int, killed bool) {
	if !c.exited() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		killed = true
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
	return c.cmd.ProcessState.ExitCode(), killed
}

// tail keeps the last max bytes written, for showing a child's output when
// it fails without holding everything it ever logged.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// startRedis starts a throwaway redis-server on a free loopback port, with
// persistence off and its files in dir, and waits until it answers PING.
func startRedis(ctx context.Context, dir string) (*child, string, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("no redis-server on PATH: install Redis (e.g. apt-get install redis-server) or pass -redis-url")
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(path, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Dir = dir
	c, err := startChild("redis-server", cmd)
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if err := pingRedis(wctx, addr); err == nil {
			return c, "redis://" + addr + "/0", nil
		}
		select {
		case <-c.done:
			return nil, "", fmt.Errorf("redis-server exited at start (%v): %s", c.err, c.output)
		case <-wctx.Done():
			c.stop(2 * time.Second)
			return nil, "", fmt.Errorf("redis-server on %s not answering: %w", addr, wctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pingRedis asks the server for PONG through the same client library the
// bot uses.
func pingRedis(ctx context.Context, addr string) error {
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second,
		MaxRetries: -1, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	defer c.Close()
	return c.Ping(ctx).Err()
}

// writeBotConfig writes the bot's config file: an admin, a broadcast channel
// and the spool kept inside the temp dir.
func writeBotConfig(dir, admin, broadcast string) (string, error) {
	path := filepath.Join(dir, "opsbot.yaml")
	conf := fmt.Sprintf("admins: [%s]\nincidents:\n  broadcast_channel: %s\nredis:\n  spool_dir: %s\n",
		admin, broadcast, filepath.Join(dir, "spool"))
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", fmt.Errorf("write bot config: %w", err)
	}
	return path, nil
}

// benchRunbook is the runbook the mixed workload dry-runs.
const benchRunbook = `name: bench-probe
description: Probe a host (the load tool's dry-run target)
command: ["/bin/echo", "probe", "{{host}}"]
params:
  host: {pattern: "^[a-z0-9.-]{1,63}$", required: true}
`

// writeRunbooks writes the bot's runbook directory.
func writeRunbooks(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-probe.yaml"), []byte(benchRunbook), 0o600); err != nil {
		return fmt.Errorf("write bench runbook: %w", err)
	}
	return nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times;
// 100 on every Linux architecture Go runs on.
const clockTicks = 100

// cpuTime is the CPU time (user and system) process pid has used; ok is
// false where /proc says nothing.
func cpuTime(pid int) (d time.Duration, ok bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are fixed: utime and stime are the 12th and 13th.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// loadAvg is the machine's load average over 1, 5 and 15 minutes; nil where
// the kernel does not say.
func loadAvg() []float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		if out[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return nil
		}
	}
	return out
}

// botEnv is the tool's environment without anything that configures opsbot,
// plus the given variables, so a developer's own tokens never reach the bot.
func botEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SLACK_") || strings.HasPrefix(name, "OPSBOT_") ||
			strings.HasPrefix(name, "PAGERDUTY_") || name == "REDIS_URL" || name == "STATE_DIRECTORY" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
