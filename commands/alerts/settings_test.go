package alerts

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
)

func TestSettingsYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		check   func(t *testing.T, s Settings)
		wantErr string
	}{
		{name: "spec sketch", yaml: `
alertmanager_url: http://alertmanager:9093
default_channel: C0ALERTS
routes:
  - match: {team: payments}
    match_re: {alertname: "^Checkout.*"}
    channel: C0PAYALERTS
    mention: S0ONCALLPAY
    declare: {when: {severity: critical}, severity: sev2}
    escalate: {after: 10m, service: checkout}
  - match_re: {service: "db|cache"}
    mention: U0DBA
`, check: func(t *testing.T, s Settings) {
			if s.AlertmanagerURL != "http://alertmanager:9093" || s.DefaultChannel != "C0ALERTS" || len(s.Routes) != 2 {
				t.Fatalf("got %+v", s)
			}
			r := s.Routes[0]
			if r.Channel != "C0PAYALERTS" || r.Mention != "S0ONCALLPAY" || r.Declare.Severity != bot.Sev2 ||
				r.Declare.When["severity"] != "critical" || r.Escalate.After != 10*time.Minute || r.Escalate.Service != "checkout" || r.Line != 5 {
				t.Errorf("route 0 = %+v", r)
			}
			if !r.Matches(map[string]string{"team": "payments", "alertname": "CheckoutLatency"}) ||
				r.Matches(map[string]string{"team": "payments", "alertname": "XCheckout"}) ||
				r.Matches(map[string]string{"team": "search", "alertname": "CheckoutLatency"}) {
				t.Error("route 0 matches the wrong labels (match_re is anchored, match is equality)")
			}
			if !s.Routes[1].Matches(map[string]string{"service": "cache"}) || s.Routes[1].Matches(map[string]string{"service": "cache2"}) {
				t.Error("route 1: alternation is anchored as a whole")
			}
			// The escalation service is checked once the pagerduty section
			// is known.
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "line 5: alerts.routes[0].escalate.service") {
				t.Errorf("Validate without PagerDuty services = %v", err)
			}
			s.PageServices = []string{"checkout"}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate with the service: %v", err)
			}
			s.PageServices, s.RoutingKeys = nil, []string{"checkout"}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate with a routing key: %v", err)
			}
		}},
		{name: "edit interval", yaml: "default_channel: C0ALERTS\nedit_interval: 30s\n", check: func(t *testing.T, s Settings) {
			if s.EditInterval != 30*time.Second {
				t.Errorf("got %s", s.EditInterval)
			}
		}},
		{name: "no default channel", yaml: "routes: []\n", wantErr: "line 1: alerts.default_channel: required"},
		{name: "channel by name", yaml: "default_channel: \"#alerts\"\n", wantErr: `line 1: alerts.default_channel: "#alerts" is not a channel ID`},
		{name: "unknown key", yaml: "default_channel: C0ALERTS\nchannel: C1\n", wantErr: `line 2: alerts: unknown key "channel"`},
		{name: "unknown route key", yaml: "default_channel: C0ALERTS\nroutes:\n  - matchers: {a: b}\n", wantErr: `line 3: alerts.routes: unknown key "matchers"`},
		{name: "bad regexp", yaml: "default_channel: C0ALERTS\nroutes:\n  - match_re: {a: \"(\"}\n", wantErr: `line 3: alerts.routes.match_re.a: "(" is not a regular expression`},
		{name: "bad label name", yaml: "default_channel: C0ALERTS\nroutes:\n  - match: {\"a-b\": c}\n", wantErr: `line 3: alerts.routes[0].match: "a-b" is not a label name`},
		{name: "mention by handle", yaml: "default_channel: C0ALERTS\nroutes:\n  - mention: \"@oncall\"\n", wantErr: `line 3: alerts.routes[0].mention: "@oncall" is not a user group ID`},
		{name: "route channel by name", yaml: "default_channel: C0ALERTS\nroutes:\n  - channel: alerts\n", wantErr: `line 3: alerts.routes[0].channel: "alerts" is not a channel ID`},
		{name: "declare without when", yaml: "default_channel: C0ALERTS\nroutes:\n  - declare: {severity: sev1}\n", wantErr: "line 3: alerts.routes[0].declare.when: give at least one label"},
		{name: "declare bad severity", yaml: "default_channel: C0ALERTS\nroutes:\n  - declare: {when: {a: b}, severity: sev5}\n", wantErr: `line 3: alerts.routes[0].declare.severity: "sev5" is not sev1..sev4`},
		{name: "declare unknown key", yaml: "default_channel: C0ALERTS\nroutes:\n  - declare: {if: {a: b}}\n", wantErr: `line 3: alerts.routes.declare: unknown key "if"`},
		{name: "escalate bad duration", yaml: "default_channel: C0ALERTS\nroutes:\n  - escalate: {after: soon, service: x}\n", wantErr: `line 3: alerts.routes.escalate.after: expected a duration`},
		{name: "escalate without service", yaml: "default_channel: C0ALERTS\nroutes:\n  - escalate: {after: 5m}\n", wantErr: `line 3: alerts.routes[0].escalate.service: "" is not a service name`},
		{name: "repeated key", yaml: "default_channel: C0ALERTS\ndefault_channel: C1\n", wantErr: `line 2: alerts: key "default_channel" is given twice`},
		{name: "declare severity in any case", yaml: "default_channel: C0ALERTS\nroutes:\n  - declare: {when: {a: b}, severity: SEV1}\n", check: func(t *testing.T, s Settings) {
			if s.Routes[0].Declare.Severity != bot.Sev1 {
				t.Errorf("got %q", s.Routes[0].Declare.Severity)
			}
		}},
		{name: "bad alertmanager url", yaml: "default_channel: C0ALERTS\nalertmanager_url: \"alertmanager:9093\"\n", wantErr: "alerts.alertmanager_url"},
		{name: "password not echoed", yaml: "default_channel: C0ALERTS\nalertmanager_url: \"ftp://u:s3cret@x\"\n", wantErr: "xxxxx"},
		{name: "edit interval too short", yaml: "default_channel: C0ALERTS\nedit_interval: 10ms\n", wantErr: "line 2: alerts.edit_interval"},
		{name: "routes not a list", yaml: "default_channel: C0ALERTS\nroutes: {a: b}\n", wantErr: "line 2: alerts.routes: expected a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Settings
			err := yaml.Unmarshal([]byte(tt.yaml), &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			tt.check(t, s)
		})
	}
}

func TestRouting(t *testing.T) {
	var s Settings
	if err := yaml.Unmarshal([]byte(`
default_channel: C0ALERTS
routes:
  - match: {team: payments}
    channel: C0PAY
    declare: {when: {severity: critical}}
  - match: {team: payments, severity: warning}
    channel: C0NEVER
  - match_re: {alertname: "Disk.*"}
`), &s); err != nil {
		t.Fatal(err)
	}
	group := func(common map[string]string, alerts ...bot.Alert) *bot.AlertGroup {
		return &bot.AlertGroup{CommonLabels: common, Alerts: alerts}
	}
	tests := []struct {
		name    string
		g       *bot.AlertGroup
		channel string
		declare bool
	}{
		{"first match wins", group(map[string]string{"team": "payments", "severity": "warning"}), "C0PAY", false},
		{"route without channel uses the default", group(map[string]string{"alertname": "DiskFull"}), "C0ALERTS", false},
		{"no route", group(map[string]string{"team": "search"}), "C0ALERTS", false},
		{"declare on a firing alert's labels", group(map[string]string{"team": "payments"},
			bot.Alert{Status: bot.AlertFiring, Labels: map[string]string{"severity": "critical"}}), "C0PAY", true},
		{"a resolved critical alert does not declare", group(map[string]string{"team": "payments"},
			bot.Alert{Status: bot.AlertResolved, Labels: map[string]string{"severity": "critical"}},
			bot.Alert{Status: bot.AlertFiring, Labels: map[string]string{"severity": "warning"}}), "C0PAY", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.route(tt.g)
			if r.Channel != tt.channel {
				t.Errorf("channel %q, want %q", r.Channel, tt.channel)
			}
			if got := r.Declare != nil && r.Declare.declares(tt.g); got != tt.declare {
				t.Errorf("declares = %v, want %v", got, tt.declare)
			}
		})
	}
}
