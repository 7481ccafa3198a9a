package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"
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

// process is one running redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	log  *capBuffer
}

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

// launcher starts every server from one goroutine locked to its OS thread:
// the parent-death signal fires when the forking thread exits, and the Go
// runtime may retire ordinary threads at any time.
var launcher struct {
	once sync.Once
	reqs chan launchReq
}

type launchReq struct {
	cmd  *exec.Cmd
	errc chan error
}

func launch(cmd *exec.Cmd) error {
	launcher.once.Do(func() {
		launcher.reqs = make(chan launchReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must live as long as the servers
			for r := range launcher.reqs {
				r.errc <- r.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	launcher.reqs <- launchReq{cmd: cmd, errc: errc}
	return <-errc
}

// startProcess runs a server as spec says and waits until it answers PING.
func startProcess(spec procSpec) (*process, error) {
	cmd := exec.Command(spec.bin, spec.args()...)
	logs := &capBuffer{max: 16 << 10}
	cmd.Stdout = logs
	cmd.Stderr = logs
	setDeathSignal(cmd)
	if err := launch(cmd); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), log: logs}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.port))
	if err := waitReady(addr, p.done); err != nil {
		p.kill()
		return nil, fmt.Errorf("redis-server on %s: %w\n%s", addr, err, logs.String())
	}
	return p, nil
}

// kill stops the server at once and waits until it is gone.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// terminate asks the server to shut down (flushing its append-only file) and
// waits, killing it if it takes too long.
func (p *process) terminate() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

var errExited = errors.New("exited before answering PING")

// waitReady polls addr with a raw PING until it answers +PONG.
func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	delay := 2 * time.Millisecond
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		if pingRaw(addr) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %s", startTimeout)
		}
		time.Sleep(delay)
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

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

// freePort asks the kernel for a free port. Another process may take it
// before the server binds it; callers retry on failure.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startOnFreePort starts a server on a free port, retrying when the port was
// taken between choosing and binding it.
func startOnFreePort(spec procSpec) (*process, int, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, 0, err
		}
		spec.port = port
		p, err := startProcess(spec)
		if err == nil {
			return p, port, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, 0, lastErr
}

// capBuffer keeps the first max bytes of a server's output for error
// messages, and is safe for the writer goroutines exec starts.
type capBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
