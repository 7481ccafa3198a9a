//go:build !linux

package proctest

import "os/exec"

// setDeathSignal is a no-op where the kernel offers no parent-death signal;
// the callers' Close and test cleanups stop the children instead.
func setDeathSignal(*exec.Cmd) {}
