package amtest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
)

// TestWebhookFromRealAlertmanager checks the generated configuration: the
// real Alertmanager posts version 4 notifications with the bearer token,
// which the decoder accepts, first firing and then resolved.
func TestWebhookFromRealAlertmanager(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type delivery struct {
		auth, contentType string
		body              []byte
	}
	got := make(chan delivery, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b}
	}))
	defer hook.Close()
	am := amtest.New(t, amtest.Config{WebhookURL: hook.URL + "/hooks/alertmanager", Token: "t0ken with \"quotes\"",
		GroupWait: 50 * time.Millisecond, GroupInterval: 300 * time.Millisecond})

	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	alert := amtest.PostableAlert{Labels: map[string]string{"alertname": "DiskFull", "instance": "db-1"},
		Annotations: map[string]string{"summary": "disk full"}, StartsAt: start}
	if err := am.PostAlerts(ctx, alert); err != nil {
		t.Fatal(err)
	}
	next := func(want bot.AlertStatus) bot.AlertNotification {
		t.Helper()
		for {
			select {
			case d := <-got:
				if d.auth != `Bearer t0ken with "quotes"` {
					t.Fatalf("got Authorization %q, want the bearer token", d.auth)
				}
				if !strings.HasPrefix(d.contentType, "application/json") {
					t.Fatalf("got Content-Type %q", d.contentType)
				}
				n, err := alertmanager.Decode(d.body, time.Now())
				if err != nil {
					t.Fatalf("decode %s: %v", d.body, err)
				}
				if n.Status == want {
					return n
				}
			case <-ctx.Done():
				t.Fatalf("no %s notification: %v\n%s", want, ctx.Err(), am.Logs())
			}
		}
	}
	n := next(bot.AlertFiring)
	if len(n.Alerts) != 1 || !n.Alerts[0].StartsAt.Equal(start) || n.GroupLabels["alertname"] != "DiskFull" || n.Receiver != "opsbot" {
		t.Errorf("got %+v", n)
	}
	alert.EndsAt = time.Now().UTC()
	if err := am.PostAlerts(ctx, alert); err != nil {
		t.Fatal(err)
	}
	r := next(bot.AlertResolved)
	if r.GroupKey != n.GroupKey || r.Alerts[0].Fingerprint != n.Alerts[0].Fingerprint || r.Alerts[0].EndsAt.IsZero() {
		t.Errorf("resolved notification %+v does not match the firing one %+v", r, n)
	}
}

func TestYAMLQuotesValues(t *testing.T) {
	y, err := amtest.Config{WebhookURL: "http://x/y", Token: "a\nb: c"}.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), `"credentials": "a\nb: c"`) {
		t.Errorf("token not quoted:\n%s", y)
	}
	if _, err := (amtest.Config{}).YAML(); err == nil {
		t.Error("no webhook URL: got nil error")
	}
}
