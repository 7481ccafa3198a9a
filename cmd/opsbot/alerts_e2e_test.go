package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

const (
	e2eAlertsToken = "e2e-alerts-token-0123456789"
	e2eRoutingKey  = "R0UT1NGKEY0123456789abcdefghijkl"
)

// tee delivers every webhook to each replica, as an Alertmanager HA pair
// (or a retry landing on another replica) does, and answers with the first
// replica's answer. It counts deliveries by answer.
type tee struct {
	srv *httptest.Server

	mu      sync.Mutex
	targets []string
	codes   map[int]int
}

func newTee(t *testing.T) *tee {
	tp := &tee{codes: map[int]int{}}
	tp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tp.mu.Lock()
		targets := append([]string(nil), tp.targets...)
		tp.mu.Unlock()
		first := true
		for _, base := range targets {
			req, _ := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.Path, bytes.NewReader(body))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if first {
					http.Error(w, err.Error(), http.StatusBadGateway)
					first = false
				}
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tp.mu.Lock()
			tp.codes[resp.StatusCode]++
			tp.mu.Unlock()
			if first {
				w.WriteHeader(resp.StatusCode)
				w.Write(b)
				first = false
			}
		}
		if first {
			http.Error(w, "no replica", http.StatusBadGateway)
		}
	}))
	t.Cleanup(tp.srv.Close)
	return tp
}

func (tp *tee) add(base string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.targets = append(tp.targets, base)
}

func (tp *tee) delivered(code int) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.codes[code]
}

// alertsWorld is the world plus a real Alertmanager notifying two opsbot
// replicas (through the tee), the fake PagerDuty REST and Events APIs.
type alertsWorld struct {
	*world
	am     *amtest.Alertmanager
	tee    *tee
	pd     *fakepd.Server
	events *fakepd.EventsServer
	bots   []*testBot
}

func newAlertsWorld(t *testing.T, clock bot.Clock) *alertsWorld {
	t.Helper()
	aw := &alertsWorld{world: newWorld(t), tee: newTee(t)}
	aw.pd = fakepd.New(t, "pd-e2e-token")
	aw.pd.AddUser(fakepd.User{ID: "PBOT", Name: "opsbot", Email: "opsbot@example.com"})
	aw.pd.AddService(fakepd.Service{ID: "PSVCDB", Name: "db"})
	aw.events = fakepd.NewEvents(t)
	aw.events.AddRoutingKey(e2eRoutingKey, "checkout")
	aw.am = amtest.New(t, amtest.Config{WebhookURL: aw.tee.srv.URL + "/hooks/alertmanager", Token: e2eAlertsToken,
		GroupWait: 100 * time.Millisecond, GroupInterval: 500 * time.Millisecond})
	cfg := fmt.Sprintf(`admins: [%s]
incidents:
  broadcast_channel: %s
pagerduty:
  from_email: opsbot@example.com
  services: {db: PSVCDB}
  routing_keys: {checkout: %s}
alerts:
  alertmanager_url: %s
  default_channel: %s
  edit_interval: 1s
  routes:
    - match: {team: payments}
      channel: %s
      mention: %s
      declare: {when: {severity: critical}, severity: sev2}
      escalate: {after: 10m, service: checkout}
    - match: {team: db}
      escalate: {after: 10m, service: db}
`, alice, aw.Incidents, e2eRoutingKey, aw.am.URL, aw.Ops, aw.Payments, aw.OnCallPay)
	env := map[string]string{"PAGERDUTY_TOKEN": "pd-e2e-token", "PAGERDUTY_API_URL": aw.pd.URL,
		"PAGERDUTY_EVENTS_URL": aw.events.URL, "OPSBOT_ALERTS_TOKEN": e2eAlertsToken}
	for i := 0; i < 2; i++ {
		b := aw.startBot(t, botOptions{ConfigYAML: cfg, Env: env, Clock: clock})
		ctx, cancel := context.WithCancel(context.Background())
		addr, _, err := serveHTTP(ctx, "127.0.0.1:0", prometheus.NewRegistry(), nil, b.App.hooks(), zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cancel)
		aw.tee.add("http://" + addr.String())
		aw.bots = append(aw.bots, b)
	}
	if err := aw.Slack.WaitConnections(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	return aw
}

func (aw *alertsWorld) post(t *testing.T, alerts ...amtest.PostableAlert) {
	t.Helper()
	if err := aw.am.PostAlerts(testCtx(t), alerts...); err != nil {
		t.Fatal(err)
	}
}

func alertFor(name, team, instance, severity string, starts time.Time) amtest.PostableAlert {
	return amtest.PostableAlert{Labels: map[string]string{"alertname": name, "team": team, "instance": instance, "severity": severity},
		Annotations: map[string]string{"summary": name + " on " + instance}, StartsAt: starts,
		GeneratorURL: "http://prometheus.example.com/graph?g0.expr=up"}
}

// alertMessages are the bot's alert messages (those with a FIRING or
// RESOLVED header) in channel.
func (aw *alertsWorld) alertMessages(channel, name string) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range aw.Slack.Messages(channel) {
		r := m.Rendered()
		if m.BotID != "" && (strings.Contains(r, "FIRING") || strings.Contains(r, "RESOLVED")) && strings.Contains(r, name) {
			out = append(out, m)
		}
	}
	return out
}

func (aw *alertsWorld) click(t *testing.T, user string, m fakeslack.Message, action string) {
	t.Helper()
	v := buttonValue(m.Blocks, action)
	if v == "" {
		t.Fatalf("no %s button on %q", action, m.Rendered())
	}
	sent, err := aw.Slack.SendBlockAction(fakeslack.BlockAction{UserID: user, ChannelID: m.Channel, MessageTS: m.TS, ActionID: action, Value: v})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aw.Slack.WaitAck(testCtx(t), sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
}

// current is the latest content of a message.
func (aw *alertsWorld) current(m fakeslack.Message) string {
	cur, _ := aw.Slack.Message(m.Channel, m.TS)
	return bot.DateFallbacks(cur.Rendered())
}

// TestE2EAlertsWithAlertmanager: the real Alertmanager notifies two full
// opsbot replicas, every notification delivered to both. Each group gets one
// message, edited as alerts join and resolve; Silence creates the silence
// in Alertmanager, which then sends nothing more; Declare and auto-declare
// each make one incident with the alerts in its timeline and time to
// detect in the export; bad requests on the bot's HTTP server are refused.
func TestE2EAlertsWithAlertmanager(t *testing.T) {
	aw := newAlertsWorld(t, nil)
	start := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second)

	// Fire: one message in the route's channel, mentioning its group.
	aw.post(t, alertFor("CheckoutLatency", "payments", "c1", "warning", start))
	aw.waitFor(t, "the CheckoutLatency message", func() bool { return len(aw.alertMessages(aw.Payments, "CheckoutLatency")) == 1 })
	checkout := aw.alertMessages(aw.Payments, "CheckoutLatency")[0]
	if !strings.Contains(checkout.Text+checkout.Rendered(), "<!subteam^"+aw.OnCallPay+">") {
		t.Errorf("no mention of the route's user group:\n%s", checkout.Rendered())
	}

	// More alerts, then a resolution: the same message, edited.
	aw.post(t, alertFor("CheckoutLatency", "payments", "c1", "warning", start), alertFor("CheckoutLatency", "payments", "c2", "warning", start))
	aw.waitFor(t, "c2 on the message", func() bool { return strings.Contains(aw.current(checkout), "*2 firing*") })
	c1 := alertFor("CheckoutLatency", "payments", "c1", "warning", start)
	c1.EndsAt = time.Now().UTC()
	aw.post(t, c1, alertFor("CheckoutLatency", "payments", "c2", "warning", start))
	aw.waitFor(t, "c1 resolved on the message", func() bool { return strings.Contains(aw.current(checkout), "*1 firing*, 1 resolved") })

	// Declare on a second group: one incident, alerts in its timeline.
	aw.post(t, alertFor("DiskFull", "db", "db-1", "warning", start))
	aw.waitFor(t, "the DiskFull message", func() bool { return len(aw.alertMessages(aw.Ops, "DiskFull")) == 1 })
	disk := aw.alertMessages(aw.Ops, "DiskFull")[0]
	aw.click(t, bob, disk, "alerts.declare")
	aw.waitFor(t, "the incident on the DiskFull message", func() bool { return strings.Contains(aw.current(disk), "INC-1 in") })
	app := aw.bots[0].App
	doc, err := app.incidents.Export(testCtx(t), "INC-1", "json")
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Incident struct {
			Commander  string    `json:"commander"`
			DetectedAt time.Time `json:"detected_at"`
		} `json:"incident"`
		Metrics struct {
			TimeToDetect *int64 `json:"time_to_detect_seconds"`
		} `json:"metrics"`
		Alerts []struct {
			Name    string    `json:"name"`
			FiredAt time.Time `json:"fired_at"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(doc, &exp); err != nil {
		t.Fatal(err)
	}
	if exp.Incident.Commander != bob || !exp.Incident.DetectedAt.Equal(start) || exp.Metrics.TimeToDetect == nil ||
		*exp.Metrics.TimeToDetect < 100 || len(exp.Alerts) != 1 || exp.Alerts[0].Name != "DiskFull" || !exp.Alerts[0].FiredAt.Equal(start) {
		t.Errorf("export of INC-1: %+v", exp)
	}

	// Auto-declare: a critical payments alert declares one incident, sev2.
	aw.post(t, alertFor("PaymentsDown", "payments", "p1", "critical", start))
	aw.waitFor(t, "the auto-declared incident", func() bool {
		ms := aw.alertMessages(aw.Payments, "PaymentsDown")
		return len(ms) == 1 && strings.Contains(aw.current(ms[0]), "INC-2 in")
	})
	inc2, err := app.incidents.Export(testCtx(t), "INC-2", "md")
	if err != nil || !strings.Contains(string(inc2), "sev2") || !strings.Contains(string(inc2), "PaymentsDown on p1") ||
		!strings.Contains(string(inc2), "time to detect") {
		t.Errorf("export of INC-2: %v\n%s", err, inc2)
	}

	// Silence the DiskFull group: a silence in Alertmanager; another alert
	// for it is muted there and never reaches opsbot.
	aw.click(t, alice, disk, "alerts.silence.1h")
	aw.waitFor(t, "the silence on the message", func() bool { return strings.Contains(aw.current(disk), "FIRING (silenced)") })
	am, _ := alertmanager.New(alertmanager.Config{URL: aw.am.URL})
	sils, err := am.Silences(testCtx(t))
	if err != nil || len(sils) != 1 || sils[0].State != "active" || !strings.Contains(sils[0].CreatedBy, alice) ||
		!strings.Contains(sils[0].Comment, "/archives/"+aw.Ops+"/") {
		t.Fatalf("silences: %+v, %v", sils, err)
	}
	aw.post(t, alertFor("DiskFull", "db", "db-1", "warning", start), alertFor("DiskFull", "db", "db-2", "warning", start))
	ctx := testCtx(t)
	for {
		n, err := aw.am.Metric(ctx, "alertmanager_notifications_suppressed_total", map[string]string{"reason": "silence"})
		if err != nil {
			t.Fatal(err)
		}
		if n >= 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("Alertmanager never muted the silenced group")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if strings.Contains(aw.current(disk), "db-2") {
		t.Errorf("a muted alert reached the message:\n%s", aw.current(disk))
	}

	// Everything was delivered twice, yet each group has one message.
	if n := aw.tee.delivered(http.StatusOK); n < 10 { // five notifications, each to both replicas
		t.Errorf("only %d deliveries accepted", n)
	}
	for _, c := range []struct{ channel, name string }{{aw.Payments, "CheckoutLatency"}, {aw.Ops, "DiskFull"}, {aw.Payments, "PaymentsDown"}} {
		if n := len(aw.alertMessages(c.channel, c.name)); n != 1 {
			t.Errorf("%d messages for %s", n, c.name)
		}
	}
	incs, _ := app.incidents.OpenIncidentSummaries(testCtx(t))
	if len(incs) != 2 {
		t.Errorf("%d incidents, want 2: %+v", len(incs), incs)
	}

	// Bad requests on the bot's own HTTP server.
	base := aw.tee.srv.URL
	for _, c := range []struct {
		name, ct, auth, body string
		code                 int
	}{
		{"no token", "application/json", "", `{}`, 401},
		{"wrong content type", "text/plain", "Bearer " + e2eAlertsToken, `{}`, 415},
		{"unknown version", "application/json", "Bearer " + e2eAlertsToken, `{"version":"9","groupKey":"k","status":"firing","alerts":[]}`, 400},
	} {
		req, _ := http.NewRequest(http.MethodPost, base+"/hooks/alertmanager", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ct)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s: got %d, want %d", c.name, resp.StatusCode, c.code)
		}
	}
}

// poll waits until cond holds, for conditions outside the fake Slack (which
// WaitUntil re-checks only when Slack's state changes). The limit is a hang
// guard, not a speed requirement.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: still not true after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// skipClock runs with real time and jumps forward when the test says, so
// that ten minutes of escalation delay pass at once while everything else
// keeps its pace.
type skipClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *skipClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.offset)
}

func (c *skipClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// TestE2EAlertEscalation: with the real Alertmanager and two replicas, an
// acknowledged group does not escalate and an unacknowledged one pages its
// service exactly once through the Events API, resolved when the group
// resolves. The bots' clock jumps forward past escalate.after.
func TestE2EAlertEscalation(t *testing.T) {
	clock := &skipClock{}
	aw := newAlertsWorld(t, clock)
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)

	// DiskFull first: acknowledged at once.
	aw.post(t, alertFor("DiskFull", "db", "db-1", "warning", start))
	aw.waitFor(t, "the DiskFull message", func() bool { return len(aw.alertMessages(aw.Ops, "DiskFull")) == 1 })
	disk := aw.alertMessages(aw.Ops, "DiskFull")[0]
	aw.click(t, bob, disk, "alerts.ack")
	aw.waitFor(t, "the acknowledgement", func() bool { return strings.Contains(aw.current(disk), "*Acknowledged*\n<@"+bob+">") })

	// Then CheckoutLatency, left alone.
	checkout := alertFor("CheckoutLatency", "payments", "c1", "warning", start)
	aw.post(t, checkout)
	aw.waitFor(t, "the CheckoutLatency message", func() bool { return len(aw.alertMessages(aw.Payments, "CheckoutLatency")) == 1 })

	// Past escalate.after: one page for CheckoutLatency; DiskFull's timer
	// came first and was cancelled by the acknowledgement.
	clock.Advance(11 * time.Minute)
	pages := func() int {
		n := 0
		for _, ev := range aw.events.Events() {
			if ev.Action == "trigger" {
				n++
			}
		}
		return n
	}
	msg := aw.alertMessages(aw.Payments, "CheckoutLatency")[0]
	aw.waitFor(t, "the page on the message", func() bool { return strings.Contains(aw.current(msg), "checkout on-call") })
	clock.Advance(time.Hour)
	checkout.EndsAt = time.Now().UTC()
	aw.post(t, checkout)
	aw.waitFor(t, "the group resolved", func() bool { return strings.Contains(aw.current(msg), "RESOLVED") })
	poll(t, "the page resolved", func() bool {
		as := aw.events.Alerts()
		return len(as) == 1 && as[0].Status == "resolved"
	})
	if n := pages(); n != 1 {
		t.Errorf("%d triggers, want 1", n)
	}
	if incs := aw.pd.Incidents(); len(incs) != 0 {
		t.Errorf("the acknowledged group paged: %+v", incs)
	}
}

// TestE2EAlertEscalationRESTResolved: with the real Alertmanager and two
// replicas, a group whose service has no routing key pages a REST incident,
// and when the group resolves that incident is resolved at PagerDuty, once.
func TestE2EAlertEscalationRESTResolved(t *testing.T) {
	clock := &skipClock{}
	aw := newAlertsWorld(t, clock)
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	disk := alertFor("DiskFull", "db", "db-1", "warning", start)
	aw.post(t, disk)
	aw.waitFor(t, "the DiskFull message", func() bool { return len(aw.alertMessages(aw.Ops, "DiskFull")) == 1 })
	msg := aw.alertMessages(aw.Ops, "DiskFull")[0]

	clock.Advance(11 * time.Minute)
	aw.waitFor(t, "the page on the message", func() bool { return strings.Contains(aw.current(msg), "db on-call") })
	incs := aw.pd.Incidents()
	if len(incs) != 1 || incs[0].Status != "triggered" {
		t.Fatalf("PagerDuty incidents %+v, want one open", incs)
	}
	disk.EndsAt = time.Now().UTC()
	aw.post(t, disk)
	aw.waitFor(t, "the group resolved", func() bool { return strings.Contains(aw.current(msg), "RESOLVED") })
	poll(t, "the incident resolved at PagerDuty", func() bool {
		incs := aw.pd.Incidents()
		return len(incs) == 1 && incs[0].Status == "resolved"
	})
	if got := aw.pd.Incidents()[0]; got.ResolvedBy != "opsbot@example.com" {
		t.Errorf("incident %+v, want it resolved as opsbot@example.com", got)
	}
	if n := aw.pd.Requests("PUT /incidents"); n != 1 {
		t.Errorf("%d PUT /incidents, want 1", n)
	}
}

// TestE2EAlertsResolvedWhileSilenced: Alertmanager sends nothing about
// silenced alerts, not even that they resolved, and then forgets them. Two
// groups are silenced from their messages; one's alert resolves during the
// silence. Once Alertmanager has said nothing about them for a while, opsbot
// checks what it holds: the resolved group is shown resolved, the one still
// firing (muted) stays firing.
func TestE2EAlertsResolvedWhileSilenced(t *testing.T) {
	clock := &skipClock{}
	aw := newAlertsWorld(t, clock)
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	disk := alertFor("DiskFull", "db", "db-1", "warning", start)
	aw.post(t, disk, alertFor("CheckoutLatency", "payments", "c1", "warning", start))
	var msgs [2]fakeslack.Message
	for i, c := range []struct{ channel, name string }{{aw.Ops, "DiskFull"}, {aw.Payments, "CheckoutLatency"}} {
		aw.waitFor(t, "the "+c.name+" message", func() bool { return len(aw.alertMessages(c.channel, c.name)) == 1 })
		msgs[i] = aw.alertMessages(c.channel, c.name)[0]
		aw.click(t, alice, msgs[i], "alerts.silence.1h")
		aw.waitFor(t, "the silence on "+c.name, func() bool { return strings.Contains(aw.current(msgs[i]), "FIRING (silenced)") })
	}
	// DiskFull resolves during the silence: Alertmanager mutes the news.
	disk.EndsAt = time.Now().UTC()
	aw.post(t, disk)
	ctx := testCtx(t)
	for {
		held, err := aw.am.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stillFiring := false
		for _, a := range held {
			if a.Labels["alertname"] == "DiskFull" && a.EndsAt.After(time.Now()) {
				stillFiring = true
			}
		}
		if !stillFiring {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("Alertmanager never took the resolution")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if strings.Contains(aw.current(msgs[0]), "RESOLVED") {
		t.Fatal("resolved before Alertmanager went quiet: the test proves nothing")
	}
	// Ten quiet minutes later: checked against Alertmanager.
	clock.Advance(11 * time.Minute)
	aw.waitFor(t, "DiskFull resolved", func() bool { return strings.Contains(aw.current(msgs[0]), "RESOLVED: DiskFull") })
	if cur := aw.current(msgs[1]); !strings.Contains(cur, "FIRING (silenced): CheckoutLatency") {
		t.Errorf("the silenced group that still fires changed:\n%s", cur)
	}
	for _, b := range aw.bots {
		groups, err := b.App.alerts.FiringAlertGroups(ctx)
		if err != nil || len(groups) != 1 || groups[0].Name != "CheckoutLatency" {
			t.Errorf("firing groups %+v, %v; want CheckoutLatency only", groups, err)
		}
	}
}
