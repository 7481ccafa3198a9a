package alertmanager

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
)

// TestStandInMutesAsAlertmanagerDoes creates the same silences in the real
// Alertmanager and in the stand-in, and checks that the stand-in mutes
// exactly the alerts Alertmanager reports as silenced: equality, anchored
// regular expressions, negation and absent labels.
func TestStandInMutesAsAlertmanagerDoes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	am := amtest.New(t, amtest.Config{WebhookURL: "http://127.0.0.1:9/unused"})
	standIn := NewStandIn(nil)
	srv := httptest.NewServer(standIn)
	t.Cleanup(srv.Close)
	now := time.Now().UTC()
	silences := [][]bot.SilenceMatcher{
		{{Name: "alertname", Value: "DiskFull", IsEqual: true}, {Name: "team", Value: "ops", IsEqual: true}},
		{{Name: "alertname", Value: "Checkout.*", IsRegex: true, IsEqual: true}, {Name: "instance", Value: "c2", IsEqual: false}},
		{{Name: "alertname", Value: "Later", IsEqual: true}}, // pending: starts in an hour
	}
	for _, url := range []string{am.URL, srv.URL} {
		c, err := New(Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		for i, ms := range silences {
			starts := now
			if i == 2 {
				starts = now.Add(time.Hour)
			}
			if _, err := c.CreateSilence(ctx, bot.Silence{Matchers: ms, StartsAt: starts, EndsAt: now.Add(2 * time.Hour),
				CreatedBy: "test", Comment: "contract"}); err != nil {
				t.Fatalf("%s: %v", url, err)
			}
		}
	}
	alerts := []map[string]string{
		{"alertname": "DiskFull", "team": "ops", "instance": "db-1"},
		{"alertname": "DiskFull", "team": "db"},
		{"alertname": "CheckoutLatency", "instance": "c1"},
		{"alertname": "CheckoutLatency", "instance": "c2"},
		{"alertname": "CheckoutErrors"},
		{"alertname": "NotCheckout", "instance": "c1"},
		{"alertname": "Later"},
	}
	var post []amtest.PostableAlert
	for _, l := range alerts {
		post = append(post, amtest.PostableAlert{Labels: l, StartsAt: now.Add(-time.Minute)})
	}
	if err := am.PostAlerts(ctx, post...); err != nil {
		t.Fatal(err)
	}
	got, err := am.Alerts(ctx)
	if err != nil || len(got) != len(alerts) {
		t.Fatalf("Alertmanager lists %d alerts (%v), want %d", len(got), err, len(alerts))
	}
	muted := 0
	for _, a := range got {
		want := len(a.Status.SilencedBy) > 0
		if want {
			muted++
		}
		if standIn.Mutes(a.Labels) != want {
			t.Errorf("labels %v: Alertmanager silenced %t, the stand-in says %t", a.Labels, want, !want)
		}
	}
	if muted != 3 {
		t.Errorf("Alertmanager silenced %d alerts, want 3 (the scenario lost its point)", muted)
	}
}
