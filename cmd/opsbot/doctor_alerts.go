package main

import (
	"context"
	"errors"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/integrations/alertmanager"
)

// checkAlerts checks the alert intake: that senders have a token to present
// and that Alertmanager's API (for silences from Slack) answers.
func (d *doctor) checkAlerts(ctx context.Context, cfg config.Config) {
	if !cfg.File.AlertsEnabled() {
		if cfg.AlertsToken != "" {
			d.warn("alerts: OPSBOT_ALERTS_TOKEN is set but the config file has no alerts: section; the hooks answer 404")
		}
		return
	}
	if cfg.AlertsToken == "" {
		d.fail("alerts: OPSBOT_ALERTS_TOKEN is not set: /hooks/alertmanager and /hooks/grafana answer 404 and no alert reaches Slack")
	} else {
		d.pass("alerts: OPSBOT_ALERTS_TOKEN is set; point Alertmanager's webhook http_config.authorization (or Grafana's Authorization header) at it")
	}
	if cfg.HTTPAddr == "" {
		d.fail("alerts: OPSBOT_HTTP_ADDR is empty: the alert hooks are not served")
	}
	u := cfg.File.Alerts.AlertmanagerURL
	if u == "" {
		d.warn("alerts: alerts.alertmanager_url is not set: no Silence buttons and no /alerts silence")
		return
	}
	am, err := alertmanager.New(alertmanager.Config{URL: u, HTTPClient: d.http, Timeout: doctorTimeout})
	if err != nil {
		d.fail("alerts: alerts.alertmanager_url: %v", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	if err := am.Ready(cctx); err != nil {
		d.fail("alerts: Alertmanager at %s does not answer /-/ready: %v", am.URL(), err)
		return
	}
	if _, err := am.Silences(cctx); err != nil {
		if errors.Is(err, bot.ErrRequestRefused) {
			d.fail("alerts: Alertmanager at %s refuses API v2 (GET /api/v2/silences): %v", am.URL(), err)
		} else {
			d.fail("alerts: Alertmanager at %s: API v2 silences not readable: %v", am.URL(), err)
		}
		return
	}
	d.pass("alerts: Alertmanager at %s answers (API v2 silences readable)", am.URL())
}
