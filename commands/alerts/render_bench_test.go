package alerts

import (
	"fmt"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// BenchmarkMessage renders the message of a group of 1,000 alerts.
func BenchmarkMessage(b *testing.B) {
	s := &Service{set: Settings{Timezone: time.UTC}, silencer: nil}
	g := &bot.AlertGroup{ID: "bench", Source: bot.AlertSourceAlertmanager, Episode: 1, EpisodeStart: t0,
		GroupLabels: map[string]string{"alertname": "DiskFull"}, CommonLabels: map[string]string{"alertname": "DiskFull", "team": "db"}}
	for i := 0; i < 1000; i++ {
		g.Alerts = append(g.Alerts, bot.Alert{Status: bot.AlertFiring, Fingerprint: fmt.Sprint(i), StartsAt: t0,
			Labels:       map[string]string{"alertname": "DiskFull", "team": "db", "instance": fmt.Sprintf("db-%04d", i)},
			Annotations:  map[string]string{"summary": "Disk almost full", "runbook_url": "https://runbooks.example.com/disk"},
			GeneratorURL: "https://prometheus.example.com/graph?g0.expr=disk"})
	}
	g.Firing = len(g.Alerts)
	st := &bot.AlertGroupState{Episode: 1, Channel: "C0ALERTS"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m := s.message(g, st, Route{Channel: "C0ALERTS", Mention: "S0ONCALL"}, t0)
		if len(m.Text) == 0 {
			b.Fatal("empty message")
		}
	}
}
