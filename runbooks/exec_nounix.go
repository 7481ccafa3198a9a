//go:build !unix

package runbooks

import "errors"

// errNoUnix is why no runbook runs here. Ending a run must end every process
// it started, which takes a process group or a PID namespace: Unix has them,
// this platform does not. The catalogue, parameters and policy still work, so
// opsbot starts and /runbook answers with this.
var errNoUnix = errors.New("runbooks run commands only on Unix (Linux, macOS, BSD): stopping a run whole needs process groups")

// startPlans offers no way to start a run.
func startPlans(Isolation) []plan { return nil }

func noPlans() error { return errNoUnix }

func startRefused(error) bool { return false }

func killMarked(string) {}

func killRun(int) error { return errNoUnix }
