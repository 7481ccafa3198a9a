package redistest

import "syscall"

// processAlive reports whether a process with this ID exists.
func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) != syscall.ESRCH
}
