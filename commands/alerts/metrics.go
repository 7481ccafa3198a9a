package alerts

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opsbot/opsbot/bot"
)

// metrics of the alerts family.
type metrics struct {
	// received counts alerts in accepted notifications by source and alert
	// status; webhooks counts webhook requests by source and HTTP code.
	received *prometheus.CounterVec
	webhooks *prometheus.CounterVec
	// firing is the number of alert groups with firing alerts.
	firing prometheus.Gauge
	// latency is from a change reaching opsbot (the webhook) to its
	// message being posted or edited in Slack.
	latency *prometheus.HistogramVec
	// recoveries counts what became of post attempts whose outcome was
	// unknown (a crash, a lost answer) or that lost a race.
	recoveries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_alerts_received_total",
			Help: "Alerts in accepted webhook notifications, by source (alertmanager, grafana) and status (firing, resolved).",
		}, []string{"source", "status"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_alert_webhooks_total",
			Help: "Alert webhook requests by source and HTTP status answered (200 recorded; 4xx refused; 5xx not recorded, the sender retries).",
		}, []string{"source", "code"}),
		firing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "opsbot_alert_groups_firing",
			Help: "Alert groups with at least one firing alert (open groups).",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opsbot_alert_slack_latency_seconds",
			Help:    "From a notification reaching opsbot to its alert message being posted (kind=post) or edited (kind=edit) in Slack.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"kind"}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_alert_message_recoveries_total",
			Help: "Alert messages whose post had an unknown outcome, by outcome: adopted (found in the channel and kept), absent (looked for, not there, posted), unchecked (the channel could not be read; posted anyway), duplicate_deleted (a second message, deleted).",
		}, []string{"outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.received = bot.RegisterMetric(reg, m.received, &err)
	m.webhooks = bot.RegisterMetric(reg, m.webhooks, &err)
	m.firing = bot.RegisterMetric(reg, m.firing, &err)
	m.latency = bot.RegisterMetric(reg, m.latency, &err)
	m.recoveries = bot.RegisterMetric(reg, m.recoveries, &err)
	return m, err
}
