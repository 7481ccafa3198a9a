package bot

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRegisterMetric: a second registration under the same name returns the
// first collector (two services share it); a collector of another type under
// that name, or an invalid one, is an error kept for the caller.
func TestRegisterMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	var err error
	a := RegisterMetric(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"}), &err)
	b := RegisterMetric(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"}), &err)
	if err != nil || a != b {
		t.Fatalf("second registration: err %v, same collector %v", err, a == b)
	}
	a.Inc()
	if mfs, _ := reg.Gather(); len(mfs) != 1 || mfs[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("gathered %v, want the one shared counter at 1", mfs)
	}

	_ = RegisterMetric(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "x"}), &err)
	if err == nil {
		t.Fatal("a gauge under a counter's name was accepted")
	}
	first := err
	_ = RegisterMetric(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "bad name", Help: "x"}), &err)
	if err != first {
		t.Errorf("the first error was replaced by %v", err)
	}
}
