//go:build !unix

package runbooks

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Off Unix the executor is built, so opsbot starts, but every run is
// refused with a message that says why.
func TestExecRefusesOffUnix(t *testing.T) {
	e, err := NewExecutor(ExecConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.Isolation(); !errors.Is(st.Err, errNoUnix) {
		t.Errorf("Isolation().Err = %v, want errNoUnix", st.Err)
	}
	rb := &Runbook{Name: "x", Command: []string{"cmd"}, Path: `C:\Windows\System32\cmd.exe`, Timeout: time.Second, Lock: "x"}
	_, err = e.Start(context.Background(), &Invocation{Runbook: rb, Argv: rb.Command})
	if !errors.Is(err, errNoUnix) {
		t.Errorf("Start: got %v, want errNoUnix", err)
	}
}
