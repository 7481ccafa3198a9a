package runbooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultMaxOutput is how much output is kept per run; the rest is dropped
// with a visible marker.
const DefaultMaxOutput = 256 << 10

// ErrMissingCommand is returned when a runbook's program is not installed.
var ErrMissingCommand = errors.New("runbook command is not installed")

// ExecConfig configures an Executor.
type ExecConfig struct {
	// MaxOutput is how many bytes of output are kept (default
	// DefaultMaxOutput).
	MaxOutput int
	// Redact are extra regular expressions whose matches are removed from
	// output; DefaultRedactPatterns always apply.
	Redact []string
	// LookupEnv reads the bot's environment for the variables a runbook
	// passes through (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// Dir is the working directory of runbooks (default os.TempDir()).
	Dir string
}

// Executor runs rendered invocations.
type Executor struct {
	cfg    ExecConfig
	redact *Redactor
}

// NewExecutor validates cfg.
func NewExecutor(cfg ExecConfig) (*Executor, error) {
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = os.LookupEnv
	}
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir()
	}
	r, err := NewRedactor(cfg.Redact)
	if err != nil {
		return nil, err
	}
	return &Executor{cfg: cfg, redact: r}, nil
}

// Result is how a run ended.
type Result struct {
	// ExitCode is the process's exit status, or -1 when it was killed by a
	// signal or never started.
	ExitCode int
	Duration time.Duration
	// TimedOut: the runbook's timeout killed the process group.
	TimedOut bool
	// Killed: the run was cancelled (shutdown) and the group killed.
	Killed bool
	// Output is the redacted output kept, with a marker when some was
	// dropped.
	Output string
	// TotalBytes is how much output the command wrote, dropped bytes
	// included.
	TotalBytes int64
	// Digest is "sha256:<hex>" of Output.
	Digest string
}

// Process is a runbook command that has been started.
type Process struct {
	out     *capped
	redact  *Redactor
	started time.Time
	done    chan struct{}
	res     Result
}

// Start starts inv in its own process group, with empty stdin, only the
// runbook's variables plus SafePath, and the runbook's timeout. ctx
// cancellation (shutdown) kills the group too.
func (e *Executor) Start(ctx context.Context, inv *Invocation) (*Process, error) {
	rb := inv.Runbook
	if rb.Path == "" {
		return nil, fmt.Errorf("runbook %q: %s: %w", rb.Name, rb.Missing, ErrMissingCommand)
	}
	env := []string{"PATH=" + SafePath}
	var secrets []string
	for _, name := range rb.Env {
		if v, ok := e.cfg.LookupEnv(name); ok {
			env = append(env, name+"="+v)
			secrets = append(secrets, v)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, rb.Timeout)
	cmd := exec.CommandContext(rctx, rb.Path)
	cmd.Args = append([]string(nil), inv.Argv...)
	cmd.Env = env
	cmd.Dir = e.cfg.Dir
	cmd.Stdin = nil // /dev/null: a runbook never waits for input
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Negative PID: the whole group, grandchildren included.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("runbook %q: output pipe: %w", rb.Name, err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &Process{out: &capped{max: e.cfg.MaxOutput}, redact: e.redact.WithValues(secrets...), done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("runbook %q: start %s: %w", rb.Name, rb.Path, err)
	}
	pw.Close() // the child holds the only write end now
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(p.out, pr)
	}()
	go func() {
		defer cancel()
		defer close(p.done)
		werr := cmd.Wait()
		// The leader is gone; anything it left in its group goes too, so
		// no orphan outlives the run or keeps the output pipe open.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
			// Something escaped the group (setsid) and holds the pipe.
			_ = pr.SetReadDeadline(time.Now())
			<-copied
		}
		pr.Close()
		p.res.Duration = time.Since(p.started)
		p.res.ExitCode = -1
		if cmd.ProcessState != nil {
			p.res.ExitCode = cmd.ProcessState.ExitCode()
		}
		switch {
		case errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
			p.res.TimedOut = true
		case ctx.Err() != nil:
			p.res.Killed = true
		}
		var ee *exec.ExitError
		if werr != nil && !errors.As(werr, &ee) && p.res.ExitCode == 0 {
			p.res.ExitCode = -1
		}
		p.res.Output, p.res.TotalBytes = p.snapshot(true)
		sum := sha256.Sum256([]byte(p.res.Output))
		p.res.Digest = "sha256:" + hex.EncodeToString(sum[:])
	}()
	return p, nil
}

// Snapshot returns the redacted output so far, up to the last complete line
// (so that a secret half-written is not shown before it can be recognised).
func (p *Process) Snapshot() string {
	s, _ := p.snapshot(false)
	return s
}

func (p *Process) snapshot(final bool) (string, int64) {
	raw, total := p.out.bytes()
	if !final {
		if i := strings.LastIndexByte(string(raw), '\n'); i >= 0 {
			raw = raw[:i+1]
		} else {
			raw = nil
		}
	}
	s := p.redact.Redact(strings.ToValidUTF8(string(raw), "\uFFFD"))
	if final && total > int64(len(raw)) {
		s += fmt.Sprintf("\n[opsbot: output capped at %d bytes; %d more bytes dropped]\n", len(raw), total-int64(len(raw)))
	}
	return s, total
}

// Done is closed when the process has ended and its output is complete.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the end of the run.
func (p *Process) Wait() Result {
	<-p.done
	return p.res
}

// capped keeps the first max bytes written and counts the rest.
type capped struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	total int64
}

// Write keeps what fits and counts everything, never failing, so that the
// child is never blocked or killed by a full pipe.
func (c *capped) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(b))
	if room := c.max - len(c.buf); room > 0 {
		if room > len(b) {
			room = len(b)
		}
		c.buf = append(c.buf, b[:room]...)
	}
	return len(b), nil
}

func (c *capped) bytes() ([]byte, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...), c.total
}
