package config

import (
	"strings"
	"testing"
)

func TestLoadAlerts(t *testing.T) {
	const key = "R0UT1NGKEY0123456789abcdefghijkl"
	good := "pagerduty:\n  from_email: opsbot@example.com\n  services: {db: PSVCDB}\n  routing_keys: {checkout: " + key + "}\n" +
		"alerts:\n  default_channel: C0ALERTS\n  routes:\n    - match: {team: payments}\n      escalate: {after: 10m, service: checkout}\n" +
		"    - match: {team: db}\n      escalate: {after: 5m, service: db}\n"
	tests := []struct {
		name    string
		env     map[string]string
		file    string
		wantErr []string
		check   func(t *testing.T, c Config)
	}{
		{name: "alerts and routing keys", env: map[string]string{"OPSBOT_ALERTS_TOKEN": "a-long-enough-token"}, file: good,
			check: func(t *testing.T, c Config) {
				if !c.File.AlertsEnabled() || len(c.File.Alerts.Routes) != 2 || c.File.PagerDuty.RoutingKeys["checkout"] != key {
					t.Errorf("file %+v", c.File)
				}
				if c.AlertsToken.Reveal() != "a-long-enough-token" || c.PagerDutyEventsURL != "https://events.pagerduty.com" {
					t.Errorf("token or events URL: %v %q", c.AlertsToken, c.PagerDutyEventsURL)
				}
			}},
		{name: "no alerts section", file: "admins: [U0ADMIN]\n", check: func(t *testing.T, c Config) {
			if c.File.AlertsEnabled() {
				t.Error("alerts enabled without a section")
			}
		}},
		{name: "escalation to an unknown service", file: strings.Replace(good, "service: db}", "service: search}", 1),
			wantErr: []string{`ops.yaml:10: alerts.routes[1].escalate.service: "search" is in neither pagerduty.services nor pagerduty.routing_keys`}},
		{name: "bad routing key, not repeated", file: strings.Replace(good, key, "short-key-"+"s3cr3t", 1),
			wantErr: []string{"ops.yaml:4: pagerduty.routing_keys.checkout: is not an Events API v2 integration key"}},
		{name: "short token", env: map[string]string{"OPSBOT_ALERTS_TOKEN": "short"}, file: good,
			wantErr: []string{"OPSBOT_ALERTS_TOKEN must be at least 16 characters"}},
		{name: "bad events URL", env: map[string]string{"PAGERDUTY_EVENTS_URL": "events.pagerduty.com"}, file: good,
			wantErr: []string{"PAGERDUTY_EVENTS_URL must use http or https"}},
		{name: "alerts section without default channel", file: "alerts:\n  routes: []\n",
			wantErr: []string{"ops.yaml:2: alerts.default_channel: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"OPSBOT_CONFIG": "ops.yaml"}
			for k, v := range tt.env {
				env[k] = v
			}
			c, _, err := Load(nil, envOf(env), files(map[string]string{"ops.yaml": tt.file}))
			if len(tt.wantErr) > 0 {
				for _, w := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("got %v, want %q", err, w)
					}
				}
				if err != nil && (strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "short\n")) {
					t.Errorf("a secret is in the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// A problem the alerts: section finds in itself is reported once, at its
// line: the cross-section check of escalation services runs only on a
// section that is otherwise valid.
func TestLoadAlertsReportsEachProblemOnce(t *testing.T) {
	file := "alerts:\n  default_channel: nope\n  alertmanager_url: ftp://x\n"
	_, _, err := Load(nil, envOf(map[string]string{"OPSBOT_CONFIG": "ops.yaml"}), files(map[string]string{"ops.yaml": file}))
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{
		`ops.yaml:2: alerts.default_channel: "nope" is not a channel ID`,
		`ops.yaml:3: alerts.alertmanager_url: "ftp://x" is not an http(s) URL`,
	} {
		if n := strings.Count(err.Error(), want); n != 1 {
			t.Errorf("%q appears %d times, want once:\n%v", want, n, err)
		}
	}
	if n := strings.Count(err.Error(), "ops.yaml:"); n != 2 {
		t.Errorf("got %d problems, want 2:\n%v", n, err)
	}
}
