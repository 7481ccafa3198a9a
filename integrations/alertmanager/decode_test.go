package alertmanager

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
)

var received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestDecodeFixture(t *testing.T) {
	body, err := os.ReadFile("testdata/firing.json")
	if err != nil {
		t.Fatal(err)
	}
	n, err := Decode(body, received)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := bot.AlertNotification{
		Source: bot.AlertSourceAlertmanager, Receiver: "opsbot", Status: bot.AlertFiring,
		GroupKey:          `{}/{team="payments"}:{alertname="CheckoutLatencyHigh"}`,
		GroupLabels:       map[string]string{"alertname": "CheckoutLatencyHigh"},
		CommonLabels:      map[string]string{"alertname": "CheckoutLatencyHigh", "severity": "critical", "team": "payments"},
		CommonAnnotations: map[string]string{"summary": "Checkout p99 latency above 2s"},
		ExternalURL:       "http://alertmanager.example.com:9093",
		ReceivedAt:        received,
		Alerts: []bot.Alert{
			{
				Status:       bot.AlertFiring,
				Labels:       map[string]string{"alertname": "CheckoutLatencyHigh", "instance": "checkout-1:8080", "severity": "critical", "team": "payments"},
				Annotations:  map[string]string{"summary": "Checkout p99 latency above 2s", "description": "p99 is 3.4s on checkout-1", "runbook_url": "https://runbooks.example.com/checkout-latency"},
				StartsAt:     time.Date(2026, 3, 1, 11, 58, 0, 123e6, time.UTC),
				GeneratorURL: "http://prometheus.example.com/graph?g0.expr=histogram_quantile%280.99%29&g0.tab=1",
				Fingerprint:  "1a2b3c4d5e6f7a8b",
			},
			{
				Status:       bot.AlertResolved,
				Labels:       map[string]string{"alertname": "CheckoutLatencyHigh", "instance": "checkout-2:8080", "severity": "critical", "team": "payments"},
				Annotations:  map[string]string{"summary": "Checkout p99 latency above 2s", "description": "p99 is 2.2s on checkout-2"},
				StartsAt:     time.Date(2026, 3, 1, 11, 55, 0, 0, time.UTC),
				EndsAt:       time.Date(2026, 3, 1, 11, 59, 30, 0, time.UTC),
				GeneratorURL: "http://prometheus.example.com/graph?g0.expr=x",
				Fingerprint:  "2b3c4d5e6f7a8b9c",
			},
		},
	}
	if d := cmp.Diff(want, n); d != "" {
		t.Errorf("decoded notification (-want +got):\n%s", d)
	}
}

// valid is a minimal valid payload with fields replaced by the overrides
// (raw JSON values keyed by field; alert fields prefixed "alert.").
func valid(overrides map[string]string) string {
	top := map[string]string{
		"version": `"4"`, "groupKey": `"{}:{alertname=\"A\"}"`, "status": `"firing"`, "receiver": `"opsbot"`,
		"groupLabels": `{"alertname":"A"}`, "truncatedAlerts": `0`,
	}
	al := map[string]string{
		"status": `"firing"`, "labels": `{"alertname":"A"}`, "annotations": `{}`,
		"startsAt": `"2026-03-01T11:00:00Z"`, "endsAt": `"0001-01-01T00:00:00Z"`, "fingerprint": `"abc"`,
	}
	for k, v := range overrides {
		if f, ok := strings.CutPrefix(k, "alert."); ok {
			al[f] = v
		} else {
			top[k] = v
		}
	}
	enc := func(m map[string]string) string {
		var parts []string
		for k, v := range m {
			if v == "-" {
				continue
			}
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	if _, ok := top["alerts"]; !ok {
		top["alerts"] = "[" + enc(al) + "]"
	}
	return enc(top)
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
		want  string
	}{
		{"empty body", ``, "", "empty body"},
		{"not an object", `[1,2]`, "", "not a JSON object"},
		{"invalid JSON", `{"version": "4",`, "", "invalid JSON"},
		{"trailing data", valid(nil) + `{}`, "", "data after"},
		{"no version", valid(map[string]string{"version": "-"}), "version", "missing"},
		{"unknown version", valid(map[string]string{"version": `"3"`}), "version", `"3" is not supported`},
		{"version as number", valid(map[string]string{"version": `4`}), "version", "want string"},
		{"no group key", valid(map[string]string{"groupKey": "-"}), "groupKey", "missing"},
		{"blank group key", valid(map[string]string{"groupKey": `"  "`}), "groupKey", "missing"},
		{"unknown status", valid(map[string]string{"status": `"pending"`}), "status", "not firing or resolved"},
		{"negative truncated", valid(map[string]string{"truncatedAlerts": `-1`}), "truncatedAlerts", "negative"},
		{"no alerts", valid(map[string]string{"alerts": `[]`}), "alerts", "missing or empty"},
		{"alerts not a list", valid(map[string]string{"alerts": `{}`}), "alerts", "want"},
		{"labels not strings", valid(map[string]string{"alert.labels": `{"a":1}`}), "alerts.labels", "want string"},
		{"alert status", valid(map[string]string{"alert.status": `"active"`}), "alerts[0].status", "not firing or resolved"},
		{"no fingerprint", valid(map[string]string{"alert.fingerprint": "-"}), "alerts[0].fingerprint", "missing"},
		{"fingerprint with newline", valid(map[string]string{"alert.fingerprint": `"a\nb"`}), "alerts[0].fingerprint", "not a fingerprint"},
		{"zero start", valid(map[string]string{"alert.startsAt": `"0001-01-01T00:00:00Z"`}), "alerts[0].startsAt", "missing"},
		{"no start", valid(map[string]string{"alert.startsAt": "-"}), "alerts[0].startsAt", "missing"},
		{"bad start", valid(map[string]string{"alert.startsAt": `"yesterday"`}), "alerts[0].startsAt", "not an RFC 3339 time"},
		{"resolved without end", valid(map[string]string{"alert.status": `"resolved"`}), "alerts[0].endsAt", "missing for a resolved alert"},
		{"resolved before start", valid(map[string]string{"alert.status": `"resolved"`, "alert.endsAt": `"2026-03-01T10:00:00Z"`}), "alerts[0].endsAt", "before startsAt"},
		{"start in the future after an end in the past", valid(map[string]string{"alert.status": `"resolved"`, "alert.startsAt": `"2026-03-01T14:00:00Z"`, "alert.endsAt": `"2026-03-01T11:30:00Z"`}), "alerts[0].endsAt", "before startsAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.body), received)
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PayloadError", err)
			}
			if pe.Field != tt.field || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got field %q, error %q; want field %q and %q", pe.Field, err, tt.field, tt.want)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error is %d bytes; keep it short: %q", len(err.Error()), err)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, n bot.AlertNotification)
	}{
		{"clock skew within bounds", valid(map[string]string{"alert.startsAt": `"2026-03-01T12:04:00Z"`}), nil},
		{"firing end is cleared", valid(map[string]string{"alert.endsAt": `"2026-03-01T12:30:00Z"`}), func(t *testing.T, n bot.AlertNotification) {
			if !n.Alerts[0].EndsAt.IsZero() {
				t.Errorf("got endsAt %v, want zero for a firing alert", n.Alerts[0].EndsAt)
			}
		}},
		{"resolved", valid(map[string]string{"alert.status": `"resolved"`, "alert.endsAt": `"2026-03-01T11:30:00+01:00"`, "alert.startsAt": `"2026-03-01T10:00:00Z"`}), func(t *testing.T, n bot.AlertNotification) {
			if want := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC); !n.Alerts[0].EndsAt.Equal(want) || n.Alerts[0].EndsAt.Location() != time.UTC {
				t.Errorf("got endsAt %v, want %v in UTC", n.Alerts[0].EndsAt, want)
			}
		}},
		// A wrong clock at the sender must not lose the alert (a 400 is
		// never retried): the time is taken as the time of receipt and the
		// notification says by how much the sender was ahead.
		{"start in the future", valid(map[string]string{"alert.startsAt": `"2026-03-01T12:10:00Z"`}), func(t *testing.T, n bot.AlertNotification) {
			if !n.Alerts[0].StartsAt.Equal(received) || n.ClockAhead != 10*time.Minute || !n.Alerts[0].SenderStartsAt.Equal(received.Add(10*time.Minute)) {
				t.Errorf("got startsAt %v (sender's %v) ahead %v; want %v (sender's 10m later) and 10m", n.Alerts[0].StartsAt,
					n.Alerts[0].SenderStartsAt, n.ClockAhead, received)
			}
		}},
		{"resolved in the future", valid(map[string]string{"alert.status": `"resolved"`, "alert.endsAt": `"2026-03-02T10:00:00Z"`}), func(t *testing.T, n bot.AlertNotification) {
			if !n.Alerts[0].EndsAt.Equal(received) || n.ClockAhead != 22*time.Hour || n.Alerts[0].Status != bot.AlertResolved {
				t.Errorf("got %+v ahead %v; want resolved at %v, 22h ahead", n.Alerts[0], n.ClockAhead, received)
			}
		}},
		{"resolved in the future after a start within the skew", valid(map[string]string{"alert.status": `"resolved"`, "alert.startsAt": `"2026-03-01T12:04:00Z"`, "alert.endsAt": `"2026-03-01T12:08:00Z"`}), func(t *testing.T, n bot.AlertNotification) {
			if want := received.Add(4 * time.Minute); !n.Alerts[0].StartsAt.Equal(want) || !n.Alerts[0].EndsAt.Equal(want) || n.ClockAhead != 8*time.Minute {
				t.Errorf("got %+v ahead %v; want start and end at %v, 8m ahead", n.Alerts[0], n.ClockAhead, want)
			}
		}},
		{"within the skew nothing is said", valid(map[string]string{"alert.startsAt": `"2026-03-01T12:04:00Z"`}), func(t *testing.T, n bot.AlertNotification) {
			if n.ClockAhead != 0 || n.Alerts[0].StartsAt.Equal(received) || !n.Alerts[0].SenderStartsAt.IsZero() {
				t.Errorf("got startsAt %v ahead %v; want the sender's time kept", n.Alerts[0].StartsAt, n.ClockAhead)
			}
		}},
		{"unknown fields ignored", valid(map[string]string{"newField": `{"x":1}`, "alert.newField": `[1]`}), nil},
		{"truncated alerts", valid(map[string]string{"truncatedAlerts": `9000`}), func(t *testing.T, n bot.AlertNotification) {
			if n.TruncatedAlerts != 9000 {
				t.Errorf("got %d truncated, want 9000", n.TruncatedAlerts)
			}
		}},
		{"markup kept as raw text", string(read(t, "testdata/markup.json")), func(t *testing.T, n bot.AlertNotification) {
			if got := n.Alerts[0].Labels["instance"]; got != "<@U0ADMIN>" {
				t.Errorf("got %q, want the raw label value", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Decode([]byte(tt.body), received)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n.Source != bot.AlertSourceAlertmanager || !n.ReceivedAt.Equal(received) {
				t.Errorf("got source %q received %v", n.Source, n.ReceivedAt)
			}
			if tt.check != nil {
				tt.check(t, n)
			}
		})
	}
}

// FuzzDecode: any body is either refused with a *PayloadError or gives a
// notification the rest of opsbot can rely on. Seeds: testdata/*.json and
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, p := range []string{"testdata/firing.json", "testdata/markup.json"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(valid(nil)))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := Decode(body, received)
		if err != nil {
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PayloadError", err)
			}
			return
		}
		if n.GroupKey == "" || len(n.Alerts) == 0 || n.TruncatedAlerts < 0 {
			t.Fatalf("accepted %+v", n)
		}
		for i, a := range n.Alerts {
			switch {
			case a.Fingerprint == "", a.StartsAt.IsZero(), a.StartsAt.After(received.Add(ClockSkew)):
				t.Fatalf("alert %d accepted: %+v", i, a)
			case a.Status == bot.AlertResolved && (a.EndsAt.Before(a.StartsAt) || a.EndsAt.After(received.Add(ClockSkew))):
				t.Fatalf("resolved alert %d accepted: %+v", i, a)
			case a.Status == bot.AlertFiring && !a.EndsAt.IsZero():
				t.Fatalf("firing alert %d has an end: %+v", i, a)
			}
		}
	})
}
