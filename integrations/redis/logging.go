package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// SetLibraryLogger sends go-redis's own log lines (failed dials, dropped
// connections) to log instead of the standard logger on stderr, so they are
// structured like the rest of opsbot's logs. go-redis has one process-wide
// logger: call this once, from main.
func SetLibraryLogger(log *zap.Logger) {
	goredis.SetLogger(zapPrintf{log: log.Named("go-redis")})
}

// zapPrintf adapts zap to go-redis's Printf-style logging interface.
type zapPrintf struct {
	log *zap.Logger
}

// Printf logs at Warn: go-redis only logs when something went wrong.
func (z zapPrintf) Printf(_ context.Context, format string, v ...any) {
	z.log.Warn(fmt.Sprintf(format, v...))
}
