//go:build unix

package redis

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking advisory lock on this
// process's own spool. The kernel drops it when the process dies, so a
// killed opsbot's spool can be adopted by another process or its restart.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// tryLockFile takes the lock on another process's spool, which succeeds
// only when that process is gone. flock locks belong to the open file, so
// this holds between two Timelines of one process too.
func tryLockFile(f *os.File) error { return lockFile(f) }

func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
