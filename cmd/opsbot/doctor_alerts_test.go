package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
)

func TestDoctorAlerts(t *testing.T) {
	am := amtest.New(t, amtest.Config{WebhookURL: "http://127.0.0.1:9/hooks/alertmanager"})
	notAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/ready" {
			w.Write([]byte("OK"))
			return
		}
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer notAPI.Close()
	standIn := httptest.NewServer(alertmanager.NewStandIn(nil))
	defer standIn.Close()
	file := func(amURL string) string {
		y := "alerts:\n  default_channel: C0ALERTS\n"
		if amURL != "" {
			y += "  alertmanager_url: " + amURL + "\n"
		}
		return y
	}
	tests := []struct {
		name, yaml, token string
		want              []string
	}{
		{"no alerts section, no token", "admins: [U0ADMIN]\n", "", nil},
		{"token without a section", "admins: [U0ADMIN]\n", "0123456789abcdef", []string{"WARN  alerts: OPSBOT_ALERTS_TOKEN is set but the config file has no alerts: section"}},
		{"section without token", file(am.URL), "", []string{"FAIL  alerts: OPSBOT_ALERTS_TOKEN is not set", "PASS  alerts: Alertmanager at " + am.URL + " answers"}},
		{"real Alertmanager", file(am.URL), "0123456789abcdef", []string{"PASS  alerts: OPSBOT_ALERTS_TOKEN is set", "PASS  alerts: Alertmanager at " + am.URL + " answers"}},
		{"stand-in", file(standIn.URL), "0123456789abcdef", []string{"PASS  alerts: Alertmanager at"}},
		{"no Alertmanager URL", file(""), "0123456789abcdef", []string{"WARN  alerts: alerts.alertmanager_url is not set"}},
		{"Alertmanager down", file("http://127.0.0.1:9"), "0123456789abcdef", []string{"FAIL  alerts: Alertmanager at http://127.0.0.1:9 does not answer /-/ready"}},
		{"not API v2", file(notAPI.URL), "0123456789abcdef", []string{"FAIL  alerts: Alertmanager at " + notAPI.URL + " refuses API v2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.ParseFile("opsbot.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			d := &doctor{out: &out, counts: map[string]int{}, http: http.DefaultClient}
			d.checkAlerts(context.Background(), config.Config{File: f, AlertsToken: config.Secret(tt.token), HTTPAddr: ":8080"})
			if len(tt.want) == 0 && out.Len() > 0 {
				t.Errorf("got %q, want nothing", out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("got:\n%s\nwant a line with %q", out.String(), w)
				}
			}
			if strings.Contains(out.String(), "0123456789abcdef") {
				t.Error("doctor printed the token")
			}
		})
	}
}
