package redis

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func TestInstrumentErrorsCountsFailuresByCommand(t *testing.T) {
	srv := redistest.NewServer(t)
	c, err := New(testCtx(t), Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	reg := prometheus.NewRegistry()
	if err := InstrumentErrors(c, reg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = c.Get(ctx, "absent").Err() // redis.Nil: an answer, not an error
	_ = c.Set(ctx, "k", "v", 0).Err()
	_ = c.LPush(ctx, "k", "x").Err() // WRONGTYPE
	srv.Stop()
	_ = c.Get(ctx, "k").Err() // one dial, retried once
	want := `
# HELP opsbot_redis_errors_total Redis commands that failed (unreachable, timed out, refused), by command.
# TYPE opsbot_redis_errors_total counter
opsbot_redis_errors_total{command="dial"} 2
opsbot_redis_errors_total{command="get"} 1
opsbot_redis_errors_total{command="lpush"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "opsbot_redis_errors_total"); err != nil {
		t.Fatal(err)
	}
}
