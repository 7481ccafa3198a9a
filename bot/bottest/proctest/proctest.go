// Package proctest runs the real servers that test support starts as child
// processes (redis-server and Sentinel for redistest, Alertmanager for
// amtest, which the load tool also uses): started so that they die with the
// process that started them, on a free loopback port retried when another
// process took it first, polled until ready, stopped gracefully or at once,
// with the start of their output kept for error messages.
package proctest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// ErrExited is what WaitReady returns when the process ended before it was
// ready, typically because the port was taken; OnFreePort then tries another.
var ErrExited = errors.New("exited before it was ready")

// Process is a started child process.
type Process struct {
	Cmd *exec.Cmd
	// Done is closed once the process has exited and been reaped.
	Done chan struct{}
}

// Start starts cmd with the parent-death signal set (see setDeathSignal),
// from the one OS thread that signal depends on, and reaps it when it
// exits.
func Start(cmd *exec.Cmd) (*Process, error) {
	setDeathSignal(cmd)
	if err := launch(cmd); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, Done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.Done)
	}()
	return p, nil
}

// Kill stops the process at once and waits until it is gone.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.Done
}

// Stop interrupts the process (so it flushes what it keeps) and waits,
// killing it if it takes longer than grace.
func (p *Process) Stop(grace time.Duration) {
	_ = p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.Done:
	case <-time.After(grace):
		p.Kill()
	}
}

// WaitReady calls ready until it succeeds, sleeping first, then twice as
// long each time up to most. It gives up with ErrExited when the process
// ends and with the last error of ready after timeout.
func (p *Process) WaitReady(timeout, first, most time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	delay := first
	for {
		select {
		case <-p.Done:
			return ErrExited
		default:
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %w", timeout, err)
		}
		time.Sleep(delay)
		delay = min(delay*2, most)
	}
}

// launcher starts every process from one goroutine locked to its OS thread:
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
			runtime.LockOSThread() // never unlocked: the thread must outlive the processes
			for r := range launcher.reqs {
				r.errc <- r.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	launcher.reqs <- launchReq{cmd: cmd, errc: errc}
	return <-errc
}

// FreePort asks the kernel for a free loopback port. Another process may
// take it before the server binds it; OnFreePort retries.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// OnFreePort calls start with a free port, and again with another (five
// tries in all) while it fails with ErrExited: the port was taken between
// choosing and binding it.
func OnFreePort[T any](start func(port int) (T, error)) (T, int, error) {
	var zero T
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return zero, 0, err
		}
		v, err := start(port)
		if err == nil {
			return v, port, nil
		}
		lastErr = err
		if !errors.Is(err, ErrExited) {
			break
		}
	}
	return zero, 0, lastErr
}

// CapBuffer keeps the first Max bytes written to it, for error messages;
// it is safe for the writer goroutines exec starts.
type CapBuffer struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *CapBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.Max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *CapBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
