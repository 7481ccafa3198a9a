package alertmanager

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
)

var grafanaReceived = time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC)

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeGrafanaFiringFixture(t *testing.T) {
	n, err := DecodeGrafana(read(t, "testdata/grafana/firing.json"), grafanaReceived)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if n.Source != bot.AlertSourceGrafana || n.OrgID != 1 || n.Status != bot.AlertFiring ||
		n.Title != "[FIRING:2] High memory usage Platform (blue)" || n.ExternalURL != "https://grafana.example.com/" {
		t.Errorf("got %+v", n)
	}
	want := bot.Alert{
		Status:       bot.AlertFiring,
		Labels:       map[string]string{"alertname": "High memory usage", "grafana_folder": "Platform", "team": "blue", "zone": "us-1"},
		Annotations:  map[string]string{"description": "The system has high memory usage", "runbook_url": "https://runbooks.example.com/memory", "summary": "Memory above 90% in zone us-1"},
		StartsAt:     time.Date(2026, 3, 1, 11, 51, 3, 157076000, time.UTC),
		GeneratorURL: "https://grafana.example.com/alerting/grafana/1afz29v7z/view?orgId=1",
		Fingerprint:  "c6eadffa33fcdf37",
		SilenceURL:   "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DHigh+memory+usage&matcher=team%3Dblue&matcher=zone%3Dus-1&orgId=1",
		DashboardURL: "https://grafana.example.com/d/mem01?orgId=1",
		PanelURL:     "https://grafana.example.com/d/mem01?orgId=1&viewPanel=3",
		Values:       map[string]float64{"B": 94.23943737541908, "C": 1},
	}
	if d := cmp.Diff(want, n.Alerts[0]); d != "" {
		t.Errorf("first alert (-want +got):\n%s", d)
	}
	if n.Alerts[1].Values != nil {
		t.Errorf("got values %v for null", n.Alerts[1].Values)
	}
}

func TestDecodeGrafanaResolvedFixture(t *testing.T) {
	n, err := DecodeGrafana(read(t, "testdata/grafana/resolved.json"), grafanaReceived)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if n.Status != bot.AlertResolved || !n.Alerts[0].EndsAt.Equal(time.Date(2026, 3, 1, 12, 1, 3, 0, time.UTC)) {
		t.Errorf("got %+v", n)
	}
}

func TestDecodeGrafanaRefuses(t *testing.T) {
	firing := string(read(t, "testdata/grafana/firing.json"))
	tests := []struct {
		name, body, field, want string
	}{
		{"alertmanager payload", strings.Replace(firing, `"version": "1"`, `"version": "4"`, 1), "version", `"4" is not supported`},
		{"no version", strings.Replace(firing, `"version": "1",`, ``, 1), "version", "missing"},
		{"no group key", strings.Replace(firing, `"groupKey"`, `"otherKey"`, 1), "groupKey", "missing"},
		{"values not numbers", strings.Replace(firing, `"B": 94.23943737541908`, `"B": "high"`, 1), "alerts.values", "want float64"},
		{"huge value", strings.Replace(firing, `"B": 94.23943737541908`, `"B": 1e999`, 1), "alerts.values", "want float64"},
		{"labels not strings", strings.Replace(firing, `"team": "blue",`, `"team": 7,`, 1), "alerts.labels", "want string"},
		{"negative org", strings.Replace(firing, `"orgId": 1`, `"orgId": -1`, 1), "orgId", "negative"},
		{"zero start", strings.Replace(firing, `"2026-03-01T12:51:03.157076+01:00"`, `"0001-01-01T00:00:00Z"`, 1), "alerts[0].startsAt", "missing"},
		{"no fingerprint", strings.Replace(firing, `"fingerprint": "c6eadffa33fcdf37",`, ``, 1), "alerts[0].fingerprint", "missing"},
		{"not JSON", `status=firing`, "", "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeGrafana([]byte(tt.body), grafanaReceived)
			var pe *PayloadError
			if !errors.As(err, &pe) || pe.Field != tt.field || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want field %q saying %q", err, tt.field, tt.want)
			}
		})
	}
}

// TestDecodeGrafanaClockAhead: Grafana's times get the same treatment as
// Alertmanager's: a start a year ahead is taken as the time of receipt.
func TestDecodeGrafanaClockAhead(t *testing.T) {
	firing := string(read(t, "testdata/grafana/firing.json"))
	n, err := DecodeGrafana([]byte(strings.Replace(firing, `"2026-03-01T12:51:03.157076+01:00"`, `"2027-03-01T12:10:00Z"`, 1)), grafanaReceived)
	if err != nil {
		t.Fatal(err)
	}
	if !n.Alerts[0].StartsAt.Equal(grafanaReceived) || n.ClockAhead != 365*24*time.Hour {
		t.Errorf("got startsAt %v ahead %v", n.Alerts[0].StartsAt, n.ClockAhead)
	}
}

// FuzzDecodeGrafana: any body is refused with a *PayloadError or decoded into a
// notification the rest of opsbot can rely on. Seeds: testdata/grafana/*.json and
// testdata/fuzz/FuzzDecodeGrafana.
func FuzzDecodeGrafana(f *testing.F) {
	for _, p := range []string{"testdata/grafana/firing.json", "testdata/grafana/resolved.json"} {
		f.Add(read(f, p))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := DecodeGrafana(body, grafanaReceived)
		if err != nil {
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PayloadError", err)
			}
			return
		}
		if n.GroupKey == "" || len(n.Alerts) == 0 || n.Source != bot.AlertSourceGrafana {
			t.Fatalf("accepted %+v", n)
		}
		for i, a := range n.Alerts {
			if a.Fingerprint == "" || a.StartsAt.IsZero() || (a.Status == bot.AlertResolved && a.EndsAt.Before(a.StartsAt)) {
				t.Fatalf("alert %d accepted: %+v", i, a)
			}
		}
	})
}
