//go:build unix

package runbooks

import (
	"fmt"
	"syscall"
)

// killRun sends SIGKILL to the run's process group (negative PID: the whole
// group, grandchildren included) and to its first process. In a PID
// namespace that process is the namespace's init, and its death makes the
// kernel kill everything else in the namespace.
func killRun(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if perr := syscall.Kill(pid, syscall.SIGKILL); err != nil && perr == nil {
		err = nil
	}
	return err
}

// noPlans is why no run can start when there is no way to start one: only
// IsolationNamespace off Linux.
func noPlans() error { return fmt.Errorf("%w: they exist only on Linux", ErrNoNamespaces) }
