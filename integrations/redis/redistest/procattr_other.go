//go:build !linux

package redistest

import "os/exec"

// setDeathSignal is a no-op where the kernel offers no parent-death signal;
// servers are still stopped by test cleanup.
func setDeathSignal(cmd *exec.Cmd) {}

// processAlive assumes every process is alive where it cannot ask, so
// that nothing in use is removed.
func processAlive(pid int) bool { return true }
