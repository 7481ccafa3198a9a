package bot

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetric registers c with reg and returns it, or returns the
// collector already registered under its name: several clients or services
// in one process (replicas in tests, the console) then share their metrics
// instead of failing to start. The first error that is not a duplicate is
// kept in *errp, so a constructor can register all its metrics and check
// once.
func RegisterMetric[T prometheus.Collector](reg prometheus.Registerer, c T, errp *error) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		if *errp == nil {
			*errp = err
		}
	}
	return c
}
