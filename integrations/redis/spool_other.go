//go:build !unix

package redis

import "os"

// lockFile is a no-op where flock is unavailable; run one opsbot per spool
// dir there.
func lockFile(f *os.File) error { return nil }

func unlockFile(f *os.File) {}
