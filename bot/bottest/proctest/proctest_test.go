package proctest

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestCapBufferKeepsTheStart(t *testing.T) {
	b := &CapBuffer{Max: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; want all of it taken", s, n, err)
		}
	}
	if got := b.String(); got != "abcde" {
		t.Errorf("kept %q, want %q", got, "abcde")
	}
}

func TestOnFreePortRetriesOnlyWhenTheProcessExited(t *testing.T) {
	var ports []int
	_, _, err := OnFreePort(func(port int) (string, error) {
		ports = append(ports, port)
		return "", ErrExited
	})
	if !errors.Is(err, ErrExited) || len(ports) != 5 {
		t.Errorf("got %v after %d tries, want ErrExited after 5", err, len(ports))
	}
	other := errors.New("bad config")
	tries := 0
	_, _, err = OnFreePort(func(int) (string, error) { tries++; return "", other })
	if !errors.Is(err, other) || tries != 1 {
		t.Errorf("got %v after %d tries, want the error after 1", err, tries)
	}
	v, port, err := OnFreePort(func(port int) (string, error) { return "up", nil })
	if v != "up" || port <= 0 || err != nil {
		t.Errorf("got %q, %d, %v", v, port, err)
	}
}

func TestWaitReadySeesTheProcessExit(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	out := &CapBuffer{Max: 64}
	cmd := exec.Command(sh, "-c", "echo starting; exit 3")
	cmd.Stdout = out
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(time.Minute, time.Millisecond, 10*time.Millisecond, func() error { return errors.New("not yet") })
	if !errors.Is(err, ErrExited) {
		t.Errorf("got %v, want ErrExited", err)
	}
	<-p.Done
	if !strings.Contains(out.String(), "starting") {
		t.Errorf("output %q", out.String())
	}
}

func TestStopInterruptsAndKillStops(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	for _, stop := range []func(*Process){(*Process).Kill, func(p *Process) { p.Stop(time.Minute) }} {
		p, err := Start(exec.Command(sleep, "600"))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WaitReady(time.Minute, time.Millisecond, time.Millisecond, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		stop(p)
		select {
		case <-p.Done:
		default:
			t.Error("process still running after stopping it")
		}
	}
}
