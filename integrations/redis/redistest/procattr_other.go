//go:build !linux

package redistest

// processAlive assumes every process is alive where it cannot ask, so
// that nothing in use is removed.
func processAlive(pid int) bool { return true }
