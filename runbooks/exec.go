package runbooks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// DefaultMaxOutput is how much output is kept per run; the rest is dropped
// with a visible marker.
const DefaultMaxOutput = 256 << 10

// RunMarkerVar is set in every runbook's environment to a random value
// unique to the run. When a run is held together only by its process group,
// processes that left the group (setsid) are found by it and killed too.
const RunMarkerVar = "OPSBOT_RUN"

// ErrMissingCommand is returned when a runbook's program is not installed.
var ErrMissingCommand = errors.New("runbook command is not installed")

// ErrNoNamespaces is returned when IsolationNamespace is required but the
// kernel (or a seccomp policy) refuses new namespaces.
var ErrNoNamespaces = errors.New("PID and user namespaces are not available")

// Isolation is how a run's processes are held together, so that ending the
// run ends every process it started.
type Isolation string

// Isolation modes.
const (
	// IsolationAuto uses IsolationNamespace where the kernel allows it and
	// falls back to IsolationGroup otherwise.
	IsolationAuto Isolation = "auto"
	// IsolationNamespace runs each runbook as the first process of its own
	// PID namespace, inside its own user namespace. Killing that process
	// kills everything in the namespace, including processes that called
	// setsid or double-forked, and when it exits the kernel kills the rest.
	// The user namespace also leaves the child without any privilege over
	// the bot's process, even when the bot runs as root.
	IsolationNamespace Isolation = "namespace"
	// IsolationGroup runs each runbook in its own process group. Killing
	// the group kills what stayed in it; on Linux, processes that left it
	// but kept RunMarkerVar in their environment are found and killed too.
	// A process that leaves the group and clears its environment survives.
	IsolationGroup Isolation = "group"
)

// ParseIsolation reads a configured isolation mode; "" means IsolationAuto.
func ParseIsolation(s string) (Isolation, error) {
	switch Isolation(s) {
	case "", IsolationAuto:
		return IsolationAuto, nil
	case IsolationNamespace, IsolationGroup:
		return Isolation(s), nil
	}
	return "", fmt.Errorf("%q is not an isolation mode (want auto, namespace or group)", s)
}

// ExecConfig configures an Executor.
type ExecConfig struct {
	// MaxOutput is how many bytes of output are kept (default
	// DefaultMaxOutput).
	MaxOutput int
	// Redact are extra regular expressions whose matches are removed from
	// output; DefaultRedactPatterns always apply.
	Redact []string
	// Secrets are the bot's own credentials (tokens, passwords, URLs that
	// carry a password). Their values, and the forms they commonly take in
	// output, are removed from every run's output whether or not the
	// runbook could have seen them.
	Secrets []string
	// LookupEnv reads the bot's environment for the variables a runbook
	// passes through (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// Dir is the working directory of runbooks (default os.TempDir()).
	Dir string
	// Isolation is how runs are held together (default IsolationAuto).
	Isolation Isolation
}

// Executor runs rendered invocations.
type Executor struct {
	cfg    ExecConfig
	redact *Redactor
	// plans are the ways to start a run, most isolated first (see
	// startPlans); the first the kernel accepts is used from then on.
	plans []plan

	mu sync.Mutex
	// next is the first plan worth trying: earlier ones were refused.
	next int
	// known: a run has started with plans[next].
	known bool
	// refusal is why earlier plans were refused.
	refusal error
}

// plan is one way to start a run.
type plan struct {
	iso Isolation
	// detail describes the plan for doctor and the logs.
	detail string
	apply  func(*exec.Cmd)
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
	iso, err := ParseIsolation(string(cfg.Isolation))
	if err != nil {
		return nil, err
	}
	cfg.Isolation = iso
	r, err := NewRedactor(cfg.Redact)
	if err != nil {
		return nil, err
	}
	return &Executor{cfg: cfg, redact: r.WithValues(cfg.Secrets...), plans: startPlans(iso)}, nil
}

// IsolationStatus says how runs are held together on this host.
type IsolationStatus struct {
	// Mode is IsolationNamespace or IsolationGroup; IsolationAuto while no
	// run or probe has found out yet.
	Mode Isolation
	// Detail describes the mode, e.g. how user IDs are mapped.
	Detail string
	// Reason says why namespaces are not used, when they are not.
	Reason string
	// Err is set when namespaces are required (IsolationNamespace) but
	// refused or unsupported: no runbook can run.
	Err error
}

// Isolation reports what runs use, as far as the executor knows.
func (e *Executor) Isolation() IsolationStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case len(e.plans) == 0:
		return IsolationStatus{Mode: IsolationNamespace, Err: noPlans()}
	case e.cfg.Isolation == IsolationGroup:
		return IsolationStatus{Mode: IsolationGroup, Detail: e.plans[0].detail, Reason: "configured (runbooks.isolation: group)"}
	case e.cfg.Isolation == IsolationNamespace && e.refusal != nil && !e.known:
		return IsolationStatus{Mode: IsolationNamespace, Err: fmt.Errorf("%w: %v", ErrNoNamespaces, e.refusal)}
	}
	p := e.plans[e.next]
	if p.iso == IsolationGroup {
		reason := "PID namespaces exist only on Linux"
		if e.refusal != nil {
			reason = e.refusal.Error()
		}
		return IsolationStatus{Mode: IsolationGroup, Detail: p.detail, Reason: reason}
	}
	if !e.known {
		return IsolationStatus{Mode: IsolationAuto}
	}
	return IsolationStatus{Mode: p.iso, Detail: p.detail}
}

// Probe finds out how runs are isolated here by starting path with args
// (any short-lived program; its exit status does not matter) the way a
// runbook would be started.
func (e *Executor) Probe(ctx context.Context, path string, args ...string) IsolationStatus {
	rb := &Runbook{Name: "isolation-probe", Command: append([]string{path}, args...), Path: path, Timeout: 10 * time.Second, Lock: "isolation-probe"}
	inv := &Invocation{Runbook: rb, Argv: rb.Command}
	p, err := e.Start(ctx, inv)
	if err == nil {
		p.Wait()
	}
	st := e.Isolation()
	if st.Mode == IsolationAuto && err != nil {
		st.Reason = "probe: " + err.Error()
	}
	return st
}

// Result is how a run ended.
type Result struct {
	// ExitCode is the process's exit status, or -1 when it was killed by a
	// signal or never started.
	ExitCode int
	Duration time.Duration
	// TimedOut: the runbook's timeout killed the run.
	TimedOut bool
	// Killed: the run was cancelled (shutdown) and killed.
	Killed bool
	// Output is the redacted output kept, with a marker when some was
	// dropped.
	Output string
	// TotalBytes is how much output the command wrote, dropped bytes
	// included.
	TotalBytes int64
	// Digest is "sha256:<hex>" of Output.
	Digest string
	// Isolation is how the run was held together: IsolationNamespace or
	// IsolationGroup.
	Isolation Isolation
}

// Process is a runbook command that has been started.
type Process struct {
	out     *capped
	redact  *Redactor
	started time.Time
	done    chan struct{}
	res     Result
}

// Start starts inv isolated as configured (its own PID namespace, or its own
// process group), with empty stdin, only the runbook's variables plus
// SafePath and RunMarkerVar, and the runbook's timeout. ctx cancellation
// (shutdown) kills the run too.
func (e *Executor) Start(ctx context.Context, inv *Invocation) (*Process, error) {
	rb := inv.Runbook
	if rb.Path == "" {
		return nil, fmt.Errorf("runbook %q: %s: %w", rb.Name, rb.Missing, ErrMissingCommand)
	}
	marker, err := newMarker()
	if err != nil {
		return nil, fmt.Errorf("runbook %q: %w", rb.Name, err)
	}
	env := []string{"PATH=" + SafePath, RunMarkerVar + "=" + marker}
	var secrets []string
	for _, name := range rb.Env {
		if v, ok := e.cfg.LookupEnv(name); ok {
			env = append(env, name+"="+v)
			secrets = append(secrets, v)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, rb.Timeout)
	pr, pw, err := os.Pipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("runbook %q: output pipe: %w", rb.Name, err)
	}
	newCmd := func(pl plan) *exec.Cmd {
		cmd := exec.CommandContext(rctx, rb.Path)
		cmd.Args = append([]string(nil), inv.Argv...)
		cmd.Env = env
		cmd.Dir = e.cfg.Dir
		cmd.Stdin = nil // /dev/null: a runbook never waits for input
		cmd.Stdout, cmd.Stderr = pw, pw
		pl.apply(cmd)
		cmd.Cancel = func() error { return killRun(cmd.Process.Pid) }
		return cmd
	}
	p := &Process{out: &capped{max: e.cfg.MaxOutput}, redact: e.redact.WithValues(secrets...), done: make(chan struct{})}
	p.started = time.Now()
	cmd, iso, err := e.startFirst(newCmd)
	if err != nil {
		cancel()
		pr.Close()
		pw.Close()
		if errors.Is(err, ErrNoNamespaces) {
			return nil, fmt.Errorf("runbook %q: %w", rb.Name, err)
		}
		return nil, fmt.Errorf("runbook %q: start %s: %w", rb.Name, rb.Path, err)
	}
	p.res.Isolation = iso
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
		// The leader is gone. In a PID namespace the kernel has killed
		// everything else in it already; otherwise kill what it left in
		// its group, and what left the group carrying the run's marker,
		// so that no orphan outlives the run or keeps the output pipe
		// open.
		_ = killRun(cmd.Process.Pid)
		if iso == IsolationGroup {
			killMarked(RunMarkerVar + "=" + marker)
		}
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
			// Something escaped (setsid and a cleared environment)
			// and holds the pipe: stop reading rather than wait for it.
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

// startFirst starts the command with the first plan the kernel accepts.
// A plan refused for its namespaces is skipped from then on, once a less
// isolated plan has shown that the command itself starts.
func (e *Executor) startFirst(newCmd func(plan) *exec.Cmd) (*exec.Cmd, Isolation, error) {
	e.mu.Lock()
	first := e.next
	e.mu.Unlock()
	if first >= len(e.plans) {
		return nil, "", noPlans()
	}
	var firstErr, lastErr error
	for i := first; i < len(e.plans); i++ {
		cmd := newCmd(e.plans[i])
		err := cmd.Start()
		if err == nil {
			e.mu.Lock()
			if i > e.next {
				e.next, e.refusal = i, fmt.Errorf("the kernel refused new PID and user namespaces (%v)", unwrapStart(firstErr))
			}
			if i == e.next {
				e.known = true
			}
			e.mu.Unlock()
			return cmd, e.plans[i].iso, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		lastErr = err
		if !startRefused(err) {
			break
		}
	}
	if e.plans[len(e.plans)-1].iso == IsolationNamespace && startRefused(firstErr) {
		// Namespaces are required: never run without them.
		e.mu.Lock()
		e.refusal = unwrapStart(firstErr)
		e.mu.Unlock()
		return nil, "", fmt.Errorf("%w (runbooks.isolation is namespace): %v", ErrNoNamespaces, unwrapStart(firstErr))
	}
	return nil, "", lastErr
}

// unwrapStart drops exec's "fork/exec PATH:" prefix.
func unwrapStart(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

func newMarker() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("run marker: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Snapshot returns the redacted output so far, up to the last complete line
// (so that a secret half-written is not shown before it can be recognised).
func (p *Process) Snapshot() string {
	s, _ := p.snapshot(false)
	return s
}

func (p *Process) snapshot(final bool) (string, int64) {
	raw, total := p.out.bytes()
	return renderOutput(raw, total, final, p.redact), total
}

// renderOutput is what is shown of the raw output kept so far: the part
// keptOutput keeps, redacted, and when the run has ended (final) with a
// marker saying what was dropped.
func renderOutput(raw []byte, total int64, final bool, r *Redactor) string {
	kept := keptOutput(raw, total, final)
	s := r.Redact(strings.ToValidUTF8(string(kept), "\uFFFD"))
	if final && total > int64(len(raw)) {
		s += fmt.Sprintf("\n[opsbot: output capped at %d bytes; %d more bytes dropped]\n", len(kept), total-int64(len(kept)))
	}
	return s
}

// keptOutput is the part of raw that may be shown: only whole lines, since
// a line still being written, or cut by the cap, may hold the first part of
// a secret that cannot be recognised yet. When the run has ended (final),
// the last line counts as whole unless the cap cut it; when the first line
// alone is longer than the cap, its whole words are kept.
func keptOutput(raw []byte, total int64, final bool) []byte {
	switch {
	case !final:
		return raw[:lastIndexByte(raw, '\n')+1]
	case total > int64(len(raw)):
		if i := lastIndexByte(raw, '\n'); i >= 0 {
			return raw[:i+1]
		}
		return raw[:strings.LastIndexAny(string(raw), " \t")+1]
	}
	return raw
}

func lastIndexByte(b []byte, c byte) int { return strings.LastIndexByte(string(b), c) }

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
