package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/opsbot/opsbot/bot/bottest/proctest"
)

// startTimeout bounds how long a server may take to answer PING. Generous,
// because the test machine may be shared and busy.
const startTimeout = 15 * time.Second

// serverBinary returns the redis-server path, or "" when there is none.
func serverBinary() string {
	if p := os.Getenv("REDIS_SERVER_BIN"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return ""
	}
	return p
}

// requireReal reports whether OPSBOT_REQUIRE_REAL_REDIS forbids fallbacks.
func requireReal() bool {
	v, _ := strconv.ParseBool(os.Getenv("OPSBOT_REQUIRE_REAL_REDIS"))
	return v
}

// process is one running redis-server (or Sentinel).
type process = proctest.Process

// procSpec says how to run a server.
type procSpec struct {
	bin        string
	dir        string
	port       int
	databases  int
	appendOnly bool
	// sentinelConf, when set, runs a Sentinel from this config file (which
	// names its own port) instead of a data server.
	sentinelConf string
	// extra are further options ("--name", "value", …) for a data server;
	// extraFn computes them from the chosen port (cluster bus port, …).
	extra   []string
	extraFn func(port int) []string
}

func (s procSpec) args() []string {
	if s.sentinelConf != "" {
		return []string{s.sentinelConf, "--sentinel"}
	}
	aof := "no"
	if s.appendOnly {
		aof = "yes"
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", aof,
		"--dir", s.dir,
		"--logfile", "",
	}
	if s.databases > 0 {
		args = append(args, "--databases", strconv.Itoa(s.databases))
	}
	args = append(args, s.extra...)
	if s.extraFn != nil {
		args = append(args, s.extraFn(s.port)...)
	}
	return args
}

// startProcess runs a server as spec says and waits until it answers PING.
func startProcess(spec procSpec) (*process, error) {
	cmd := exec.Command(spec.bin, spec.args()...)
	logs := &proctest.CapBuffer{Max: 16 << 10}
	cmd.Stdout = logs
	cmd.Stderr = logs
	p, err := proctest.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.port))
	if err := p.WaitReady(startTimeout, 2*time.Millisecond, 64*time.Millisecond, func() error { return pingRaw(addr) }); err != nil {
		p.Kill()
		return nil, fmt.Errorf("redis-server on %s: %w\n%s", addr, err, logs.String())
	}
	return p, nil
}

// stopGrace is how long a server may take to shut down, flushing its
// append-only file, before it is killed.
const stopGrace = 10 * time.Second

func pingRaw(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// startOnFreePort starts a server on a free port, retrying when the port was
// taken between choosing and binding it.
func startOnFreePort(spec procSpec) (*process, int, error) {
	return proctest.OnFreePort(func(port int) (*process, error) {
		spec.port = port
		return startProcess(spec)
	})
}

// poll calls check every 50ms until it succeeds or ctx ends, and then
// returns check's last error.
func poll(ctx context.Context, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
