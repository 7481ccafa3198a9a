package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/alerts"
	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/console"
)

// startSilenceStandIn serves the in-process stand-in for Alertmanager's
// silence API on a loopback port, for console mode: the Silence buttons and
// /alerts silence work against it, and :alert leaves out what its silences
// match, as Alertmanager would. It is not Alertmanager, and console mode
// says so.
func startSilenceStandIn(clock bot.Clock) (standIn *alertmanager.StandIn, url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, fmt.Errorf("alertmanager stand-in: %w", err)
	}
	standIn = alertmanager.NewStandIn(clock.Now)
	srv := &http.Server{Handler: standIn, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return standIn, "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// muter says whether a silence matches an alert's labels.
type muter interface {
	Mutes(labels map[string]string) bool
}

// consoleAlerts is the console's ":alert" command: it plays Alertmanager,
// sending the notifications Alertmanager would for a sample alert group
// through the real webhook handler (token, validation, store), then renders
// what is due so that a script shows the message right away.
type consoleAlerts struct {
	hooks http.Handler
	token string
	svc   *alerts.Service
	clock bot.Clock
	// silences mutes alerts as Alertmanager's silences would; nil when the
	// config names a real Alertmanager (whose silences the console cannot
	// apply to what it sends).
	silences muter

	mu     sync.Mutex
	alerts map[string]*consoleAlert // by instance
	order  []string
}

type consoleAlert struct {
	labels     map[string]string
	starts     time.Time
	ends       time.Time
	annotation map[string]string
}

// consoleAlertUsage is the :alert line of the console's :help.
const consoleAlertUsage = ":alert fire|resolve [k=v …]  play Alertmanager: fire (or resolve) CheckoutLatencyHigh " +
	"(team=payments; k=v adds or changes labels, e.g. instance=checkout-2 severity=critical)"

func newConsoleAlerts(svc *alerts.Service, hooks http.Handler, token string, clock bot.Clock, silences muter) *consoleAlerts {
	return &consoleAlerts{hooks: hooks, token: token, svc: svc, clock: clock, silences: silences, alerts: map[string]*consoleAlert{}}
}

// command is the console.Command for the REPL.
func (c *consoleAlerts) command() console.Command {
	return console.Command{Usage: consoleAlertUsage, Run: c.run}
}

func (c *consoleAlerts) run(ctx context.Context, arg string, out io.Writer) {
	words := strings.Fields(arg)
	if len(words) == 0 || (words[0] != "fire" && words[0] != "resolve") {
		fmt.Fprintln(out, "  ! usage: "+consoleAlertUsage)
		return
	}
	labels := map[string]string{"alertname": "CheckoutLatencyHigh", "team": "payments", "severity": "warning", "instance": "checkout-1"}
	for _, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" || k == "alertname" {
			fmt.Fprintf(out, "  ! %q is not LABEL=VALUE (the alert name stays CheckoutLatencyHigh)\n", w)
			return
		}
		labels[k] = v
	}
	now := c.clock.Now().UTC()
	c.mu.Lock()
	key := labels["instance"]
	a, known := c.alerts[key]
	switch {
	case words[0] == "fire" && (!known || !a.ends.IsZero()):
		a = &consoleAlert{labels: labels, starts: now, annotation: map[string]string{
			"summary":     "Checkout p99 latency above 2s on " + labels["instance"],
			"description": "The p99 of checkout requests has been above 2s for 5 minutes.",
			"runbook_url": "https://runbooks.example.com/checkout-latency"}}
		if !known {
			c.order = append(c.order, key)
		}
		c.alerts[key] = a
	case words[0] == "fire":
		a.labels = labels
	case !known || !a.ends.IsZero():
		c.mu.Unlock()
		fmt.Fprintf(out, "  ! no firing alert on instance %s (:alert fire first)\n", key)
		return
	default:
		a.ends = now
	}
	body, muted := c.notificationLocked()
	c.mu.Unlock()

	if body == "" {
		fmt.Fprintln(out, "  ⚙ Alertmanager sent nothing: a silence matches every alert of the group (Expire silence, or /alerts silences)")
		return
	}
	if muted > 0 {
		fmt.Fprintf(out, "  ⚙ Alertmanager left out the silenced alerts (%d)\n", muted)
	}
	req := httptest.NewRequest(http.MethodPost, alerts.PathAlertmanager, strings.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	rec := httptest.NewRecorder()
	c.hooks.ServeHTTP(rec, req)
	fmt.Fprintf(out, "  ⚙ Alertmanager posted %s → %d %s\n", alerts.PathAlertmanager, rec.Code, strings.TrimSpace(rec.Body.String()))
	if rec.Code == http.StatusOK {
		// Show the message now, and an edit the edit interval holds back
		// once it is due, so that a script reads in order.
		c.svc.Settle(ctx, 2*time.Second)
	}
}

// notificationLocked is the webhook payload Alertmanager sends for the
// group: every alert of it, firing and recently resolved, less those a
// silence matches ("" when that is all of them), and how many it left out.
func (c *consoleAlerts) notificationLocked() (string, int) {
	status := "resolved"
	var list []map[string]any
	common := map[string]string{}
	muted := 0
	for _, key := range c.order {
		a := c.alerts[key]
		if c.silences != nil && c.silences.Mutes(a.labels) {
			muted++
			continue
		}
		st, ends := "firing", "0001-01-01T00:00:00Z"
		if !a.ends.IsZero() {
			st, ends = "resolved", a.ends.Format(time.RFC3339Nano)
		} else {
			status = "firing"
		}
		list = append(list, map[string]any{"status": st, "labels": a.labels, "annotations": a.annotation,
			"startsAt": a.starts.Format(time.RFC3339Nano), "endsAt": ends,
			"generatorURL": "http://prometheus.example.com/graph?g0.expr=checkout_latency_p99",
			"fingerprint":  fingerprint(a.labels)})
		if len(list) == 1 {
			for k, v := range a.labels {
				common[k] = v
			}
		} else {
			for k, v := range common {
				if a.labels[k] != v {
					delete(common, k)
				}
			}
		}
	}
	b, _ := json.Marshal(map[string]any{
		"version": "4", "groupKey": `{}/{team="payments"}:{alertname="CheckoutLatencyHigh"}`, "truncatedAlerts": 0,
		"receiver": "opsbot", "status": status, "alerts": list,
		"groupLabels": map[string]string{"alertname": "CheckoutLatencyHigh"}, "commonLabels": common,
		"commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager.example.com:9093",
	})
	if len(list) == 0 {
		return "", muted
	}
	return string(b), muted
}

// fingerprint stands in for Alertmanager's label hash.
func fingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "severity" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\x00", k, labels[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// randomToken makes the intake token of console mode when none is set:
// the console's own ":alert" is the only sender.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
