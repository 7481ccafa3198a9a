//go:build unix && !linux

package runbooks

import (
	"os/exec"
	"syscall"
)

// startPlans: PID namespaces exist only on Linux; runs are held together by
// their process group, and IsolationNamespace cannot be had.
func startPlans(iso Isolation) []plan {
	if iso == IsolationNamespace {
		return nil
	}
	return []plan{{iso: IsolationGroup, detail: "process group", apply: func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}}}
}

func startRefused(error) bool { return false }

// killMarked has no portable way to list other processes' environments;
// killing the process group is all there is.
func killMarked(string) {}
