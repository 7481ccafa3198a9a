//go:build !linux

package amtest

import "os/exec"

// setDeathSignal has no portable equivalent outside Linux; Close and test
// cleanups stop Alertmanager instead.
func setDeathSignal(*exec.Cmd) {}
