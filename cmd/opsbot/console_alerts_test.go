package main

import (
	"strings"
	"testing"
)

// TestConsoleAlerts plays Alertmanager from console mode: an alert fires
// (one message, with the route's user group), a second joins (the same
// message, edited), Acknowledge and Silence work against the in-process
// stand-in, whose silences mute what :alert sends until Expire, a critical
// alert declares an incident with the alerts in its timeline, and
// everything resolves.
func TestConsoleAlerts(t *testing.T) {
	got := consoleScript(t,
		":help",
		":alert fire",
		":alert fire instance=checkout-2",
		"/alerts",
		":in payments",
		":click 6",
		":click 8",
		"/alerts silences",
		"/alerts silence alertname=DiskFull for 2h replacing disks",
		":alert fire instance=checkout-3",
		":click 15",
		"/alerts silence instance=checkout-3 for 1h",
		":alert fire severity=critical",
		":in inc-1-checkout-p99-latency-above-2s-on-checkout-1",
		"/incident timeline",
		":alert resolve",
		":alert resolve instance=checkout-2",
		":alert resolve instance=checkout-2",
		":alert page",
		"/alerts",
	)
	consoleShows(t, got,
		":alert fire|resolve [k=v …]",
		"Alertmanager posted /hooks/alertmanager → 200 ok",
		"→ #payments:\n  ▌:red_circle: FIRING: CheckoutLatencyHigh\n  *1 firing* · since",
		"@oncall-payments",
		"→ #payments (edited",
		"*2 firing*",
		"1 alert group firing",
		"Acknowledged: @alice",
		"Silenced: by @alice until",
		"1 active silence",
		"Alice Example (Slack U0ALICE)",
		"@alice silenced alertname=\"DiskFull\" for 2h (until",
		":alert fire instance=checkout-3\n  ⚙ Alertmanager sent nothing: a silence matches every alert of the group",
		"Silence expired: Alertmanager notifies about this group again.",
		":alert fire severity=critical\n  ⚙ Alertmanager left out the silenced alerts (1)\n  ⚙ Alertmanager posted",
		"created channel #inc-1-checkout-p99-latency-above-2s-on-checkout-1",
		"opsbot declared this incident automatically from an alert",
		"Incident: INC-1 in #inc-1-checkout-p99-latency-above-2s-on-checkout-1",
		"alert fired: Checkout p99 latency above 2s on checkout-1",
		"RESOLVED: CheckoutLatencyHigh",
		"All 2 alerts resolved",
		"no firing alert on instance checkout-2",
		"! usage: :alert fire|resolve",
		"No alert groups are firing",
	)
	if n := strings.Count(got, "→ #payments:\n  ▌"); n != 1 {
		t.Errorf("posted %d alert messages in #payments, want 1", n)
	}
}
