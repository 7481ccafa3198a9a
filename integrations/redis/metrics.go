package redis

import (
	"context"
	"errors"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
)

// InstrumentErrors counts the commands on c that fail, by command, in
// opsbot_redis_errors_total{command}: a key not found or a transaction
// that lost its race is an answer, not an error, and is not counted.
func InstrumentErrors(c Client, reg prometheus.Registerer) error {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsbot_redis_errors_total",
		Help: "Redis commands that failed (unreachable, timed out, refused), by command.",
	}, []string{"command"})
	var err error
	if errs = bot.RegisterMetric(reg, errs, &err); err != nil {
		return err
	}
	c.AddHook(errorHook{errs: errs})
	return nil
}

// errorHook is a go-redis hook that counts failed commands.
type errorHook struct {
	errs *prometheus.CounterVec
}

func (h errorHook) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			h.errs.WithLabelValues("dial").Inc()
		}
		return conn, err
	}
}

func (h errorHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		// The command's own error is set after the hooks return.
		err := next(ctx, cmd)
		h.count(cmd.Name(), err)
		return err
	}
}

func (h errorHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.count(cmd.Name(), cmd.Err())
		}
		return err
	}
}

func (h errorHook) count(command string, err error) {
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, goredis.TxFailedErr) {
		return
	}
	h.errs.WithLabelValues(command).Inc()
}
