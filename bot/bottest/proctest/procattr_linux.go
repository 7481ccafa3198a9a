package proctest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the child when the process that
// started it dies, even by SIGKILL or a test timeout, so no server outlives
// its tests. It only holds while the forking OS thread lives, which is why
// every start goes through one goroutine locked to its thread (see launch).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
