package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics: what the operator guide tells operators to watch is counted:
// alerts received by source and status, webhook answers by code, the groups
// firing, and the time from a notification to its message.
func TestMetrics(t *testing.T) {
	w := newWorld(t)
	reg := prometheus.NewRegistry()
	r := w.replica(func(c *Config) { c.Registerer = reg })
	start := time.Now().Add(-time.Minute)
	r.notify(diskGroup(disk("db-1", start), disk("db-2", start)))
	r.notify(diskGroup(disk("db-1", start), disk("db-2", start).resolvedAt(time.Now())))
	if code, _ := r.post(PathAlertmanager, diskGroup(disk("db-1", start)).JSON(), map[string]string{"Authorization": "Bearer wrong"}); code != 401 {
		t.Fatalf("wrong token answered %d", code)
	}
	r.run()
	w.waitFor("the message", func() bool { return len(w.messages(w.alerts)) == 1 })
	w.poll("the firing gauge", func() bool { return testutil.ToFloat64(r.svc.metrics.firing) == 1 })
	// The latency is observed once Slack has answered the post.
	w.poll("the post's latency", func() bool { return testutil.CollectAndCount(r.svc.metrics.latency) == 1 })

	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"received firing", testutil.ToFloat64(r.svc.metrics.received.WithLabelValues("alertmanager", "firing")), 3},
		{"received resolved", testutil.ToFloat64(r.svc.metrics.received.WithLabelValues("alertmanager", "resolved")), 1},
		{"webhooks 200", testutil.ToFloat64(r.svc.metrics.webhooks.WithLabelValues("alertmanager", "200")), 2},
		{"webhooks 401", testutil.ToFloat64(r.svc.metrics.webhooks.WithLabelValues("alertmanager", "401")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// The registry exposes them under the names the guide gives.
	names := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetName() == "opsbot_alert_slack_latency_seconds" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "post" && m.GetHistogram().GetSampleCount() != 1 {
					t.Errorf("post latency samples %d, want 1", m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	for _, n := range []string{"opsbot_alerts_received_total", "opsbot_alert_webhooks_total", "opsbot_alert_groups_firing", "opsbot_alert_slack_latency_seconds"} {
		if !names[n] {
			t.Errorf("%s not registered (have %v)", n, strings.Join(keys(names), ", "))
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
