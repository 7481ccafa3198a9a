//go:build !unix

package redis

import (
	"errors"
	"os"
)

// lockFile is a no-op where flock is unavailable.
func lockFile(f *os.File) error { return nil }

// tryLockFile always refuses where flock is unavailable: without locks a
// live process's spool cannot be told from an orphan, so none is adopted
// and held events of a crashed process wait for an operator.
func tryLockFile(f *os.File) error { return errors.New("spool adoption needs flock") }

func unlockFile(f *os.File) {}
