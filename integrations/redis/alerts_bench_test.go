package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func benchAlerts(b *testing.B) (*Alerts, []bot.Alert) {
	a, err := NewAlerts(AlertsConfig{Client: redistest.New(b), SpoolDir: b.TempDir(), Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	alerts := make([]bot.Alert, 100)
	for i := range alerts {
		alerts[i] = firing(fmt.Sprintf("fp%03d", i), at0.Add(-time.Hour))
		alerts[i].Annotations = map[string]string{"summary": "disk almost full", "description": "usage above 90% for 10 minutes"}
	}
	return a, alerts
}

// BenchmarkAlertsRecord merges a notification of 100 alerts into its group,
// one alert changing each time, so that every merge writes.
func BenchmarkAlertsRecord(b *testing.B) {
	a, alerts := benchAlerts(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		alerts[i%100].StartsAt = at0.Add(time.Duration(i) * time.Millisecond)
		if err := a.Record(ctx, "bench", note(at0.Add(time.Duration(i)*time.Millisecond), alerts...)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAlertsGroup reads a group of 100 alerts as a render does.
func BenchmarkAlertsGroup(b *testing.B) {
	a, alerts := benchAlerts(b)
	ctx := context.Background()
	if err := a.Record(ctx, "bench", note(at0, alerts...)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Group(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
