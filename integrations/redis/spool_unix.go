//go:build unix

package redis

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking advisory lock. The kernel drops
// it when the process dies, so a killed opsbot never blocks its successor.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
