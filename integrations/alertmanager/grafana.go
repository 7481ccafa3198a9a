package alertmanager

import (
	"time"

	"github.com/opsbot/opsbot/bot"
)

// GrafanaVersion is the payload version of Grafana's webhook contact point
// (unified alerting).
const GrafanaVersion = "1"

// grafanaMessage is Grafana's webhook payload (alerting's receivers/webhook
// webhookMessage): Alertmanager's plus orgId, title, state and message.
type grafanaMessage struct {
	header
	OrgID   int64          `json:"orgId"`
	Title   string         `json:"title"`
	State   string         `json:"state"`
	Message string         `json:"message"`
	Alerts  []grafanaAlert `json:"alerts"`
}

// grafanaAlert is Alertmanager's alert plus Grafana's links and the values
// of the rule's queries.
type grafanaAlert struct {
	alert
	SilenceURL   string             `json:"silenceURL"`
	DashboardURL string             `json:"dashboardURL"`
	PanelURL     string             `json:"panelURL"`
	Values       map[string]float64 `json:"values"`
}

// DecodeGrafana reads one notification of Grafana's webhook contact point
// and checks it as Decode does (a group key, known statuses, at least one
// alert, each with a fingerprint and sane times), with payload version "1"
// and an orgId that is not negative. now is when it was received. Unknown
// fields are ignored. Every error is a *PayloadError. Silences of Grafana
// alerts are made in Grafana (each alert's silenceURL); opsbot links to
// them.
func DecodeGrafana(body []byte, now time.Time) (bot.AlertNotification, error) {
	var m grafanaMessage
	if err := decodeJSON(body, &m); err != nil {
		return bot.AlertNotification{}, err
	}
	if err := m.check(GrafanaVersion, "Grafana"); err != nil {
		return bot.AlertNotification{}, err
	}
	if m.OrgID < 0 {
		return bot.AlertNotification{}, invalid("orgId", "negative")
	}
	base := make([]alert, len(m.Alerts))
	for i, a := range m.Alerts {
		base[i] = a.alert
	}
	n, err := m.notification(bot.AlertSourceGrafana, base, now)
	if err != nil {
		return bot.AlertNotification{}, err
	}
	n.OrgID, n.Title = m.OrgID, m.Title
	for i, a := range m.Alerts {
		n.Alerts[i].SilenceURL, n.Alerts[i].DashboardURL, n.Alerts[i].PanelURL, n.Alerts[i].Values =
			a.SilenceURL, a.DashboardURL, a.PanelURL, a.Values
	}
	return n, nil
}
