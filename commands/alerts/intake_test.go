package alerts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// bigNotification has n alerts in one group.
func bigNotification(n int, starts time.Time) amNotification {
	g := diskGroup()
	for i := 0; i < n; i++ {
		a := disk(fmt.Sprintf("db-%05d", i), starts)
		g.Alerts = append(g.Alerts, a)
	}
	return g
}

// TestIntakeRefusesBadInput: every bad request gets its answer, nothing is
// recorded or posted, and the token never reaches the logs.
func TestIntakeRefusesBadInput(t *testing.T) {
	w := newWorld(t)
	core, logs := observer.New(zap.DebugLevel)
	r := w.replica(func(c *Config) { c.Logger = zap.New(core) })
	now := time.Now().UTC()
	valid := diskGroup(disk("db-1", now.Add(-time.Minute))).JSON()
	tenK := bigNotification(10000, now.Add(-time.Minute)).JSON()
	grafanaFixture, err := os.ReadFile("../../integrations/alertmanager/testdata/grafana/firing.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		body   string
		header map[string]string
		code   int
		want   string
	}{
		{"no token", PathAlertmanager, valid, map[string]string{"Authorization": ""}, 401, "missing or wrong bearer token"},
		{"wrong token", PathAlertmanager, valid, map[string]string{"Authorization": "Bearer nope"}, 401, "missing or wrong bearer token"},
		{"token with another scheme", PathAlertmanager, valid, map[string]string{"Authorization": "Basic " + token}, 401, "bearer"},
		{"token as a prefix", PathAlertmanager, valid, map[string]string{"Authorization": "Bearer " + token + "x"}, 401, "bearer"},
		{"form content type", PathAlertmanager, valid, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type must be application/json"},
		{"no content type", PathAlertmanager, valid, map[string]string{"Content-Type": ""}, 415, "application/json"},
		{"invalid JSON", PathAlertmanager, `{"version": "4", "alerts": [`, nil, 400, "invalid JSON"},
		{"unknown version", PathAlertmanager, strings.Replace(valid, `"version":"4"`, `"version":"5"`, 1), nil, 400, `version: "5" is not supported`},
		{"missing groupKey", PathAlertmanager, strings.Replace(valid, `"groupKey"`, `"group_key"`, 1), nil, 400, "groupKey: missing"},
		{"zero startsAt", PathAlertmanager, diskGroup(disk("db-1", time.Time{})).JSON(), nil, 400, "alerts[0].startsAt: missing"},
		{"Grafana payload on the Alertmanager hook", PathAlertmanager, string(grafanaFixture), nil, 400, `version: "1" is not supported`},
		{"Alertmanager payload on the Grafana hook", PathGrafana, valid, nil, 400, `version: "4" is not supported`},
		{"10,000 alerts in one notification", PathAlertmanager, tenK, nil, 413, "set max_alerts"},
		{"over 1 MiB", PathAlertmanager, `{"pad":"` + strings.Repeat("x", MaxBody) + `"}`, nil, 413, "over 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := r.post(tt.path, tt.body, tt.header)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %q, want %d with %q", code, clip(body, 200), tt.code, tt.want)
			}
			if len(body) > 300 {
				t.Errorf("answer is %d bytes; keep it short", len(body))
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(r.hook.URL + PathAlertmanager)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("got %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("chunked body over 1 MiB", func(t *testing.T) {
		// No Content-Length: the limit applies while reading.
		pr, pw := io.Pipe()
		go func() {
			// Writes fail once the server has answered and the client
			// closed the body; that is the point.
			_, _ = pw.Write([]byte(`{"pad":"`))
			for i := 0; i < 1100; i++ {
				if _, err := pw.Write([]byte(strings.Repeat("y", 1024))); err != nil {
					return
				}
			}
			_ = pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, r.hook.URL+PathAlertmanager, pr)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d, want 413", resp.StatusCode)
		}
	})

	r.svc.Flush(context.Background())
	if n := len(w.fs.Calls("chat.postMessage", "chat.update")); n != 0 {
		t.Errorf("%d messages posted or edited for refused requests", n)
	}
	if ids, _ := r.store.Firing(context.Background()); len(ids) != 0 {
		t.Errorf("refused requests recorded groups %v", ids)
	}
	for _, e := range logs.All() {
		for _, v := range e.ContextMap() {
			if strings.Contains(fmt.Sprint(v), token) {
				t.Errorf("the token is in a log line: %q %v", e.Message, e.ContextMap())
			}
		}
		if strings.Contains(e.Message, token) {
			t.Errorf("the token is in a log message: %q", e.Message)
		}
	}

	// The bot is alive: a valid notification is accepted and posted.
	r.notify(diskGroup(disk("db-1", now.Add(-time.Minute))))
	r.svc.Flush(context.Background())
	if m := w.only(w.alerts); !strings.Contains(m.Rendered(), "DiskFull") {
		t.Errorf("message %q", m.Rendered())
	}
}

func TestIntakeNotConfigured(t *testing.T) {
	w := newWorld(t)
	r := w.replica(func(c *Config) { c.Token = "" })
	code, body := r.post(PathAlertmanager, diskGroup(disk("db-1", time.Now().Add(-time.Minute))).JSON(), nil)
	if code != http.StatusNotFound || body != "alert intake is not configured" {
		t.Errorf("got %d %q", code, body)
	}
	rec := httptest.NewRecorder()
	NotConfigured.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathGrafana, nil))
	if rec.Code != http.StatusNotFound || strings.TrimSpace(rec.Body.String()) != "alert intake is not configured" {
		t.Errorf("NotConfigured: %d %q", rec.Code, rec.Body.String())
	}
}

// failingStore cannot record anything, as when both Redis and the spool
// fail.
type failingStore struct{ bot.AlertStore }

func (failingStore) Record(context.Context, string, bot.AlertNotification) error {
	return errors.New("disk full")
}

func TestIntakeAnswers5xxOnlyWhenNotRecorded(t *testing.T) {
	w := newWorld(t)
	r := w.replica(func(c *Config) { c.Store = failingStore{c.Store} })
	code, body := r.post(PathAlertmanager, diskGroup(disk("db-1", time.Now().Add(-time.Minute))).JSON(), nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "retry") {
		t.Errorf("got %d %q, want 503 asking to retry", code, body)
	}
}

// TestIntakeSenderClockAhead: an alert whose sender's clock runs an hour
// ahead is accepted (Alertmanager does not retry a 400, so refusing would
// lose it), posted, and the operator is told in the log, with the group.
func TestIntakeSenderClockAhead(t *testing.T) {
	w := newWorld(t)
	core, logs := observer.New(zap.InfoLevel)
	r := w.replica(func(c *Config) { c.Logger = zap.New(core) })
	if code, body := r.post(PathAlertmanager, diskGroup(disk("db-1", time.Now().Add(time.Hour))).JSON(), nil); code != http.StatusOK || !strings.Contains(body, "check the sender's clock") {
		t.Fatalf("got %d %q, want 200 saying to check the sender's clock", code, body)
	}
	r.run()
	w.waitFor("the message", func() bool { return len(w.messages(w.alerts)) == 1 })
	warned := logs.FilterMessageSnippet("clock is ahead").All()
	if len(warned) != 1 {
		t.Fatalf("%d clock warnings, want 1", len(warned))
	}
	f := warned[0].ContextMap()
	if ahead, _ := f["ahead"].(time.Duration); ahead < 59*time.Minute || ahead > time.Hour || f["alert_group"] == "" {
		t.Errorf("warning fields %v, want ahead ≈ 1h and the alert group", f)
	}
}

// TestIntakeWhileRedisIsDown: a notification arriving during a Redis outage
// is answered 200 (it is in the spool) and its message is posted once Redis
// is back: nothing lost.
func TestIntakeWhileRedisIsDown(t *testing.T) {
	w := newWorld(t)
	srv := redistest.NewServer(t)
	r := w.replica(func(c *Config) {
		store, err := redis.NewAlerts(redis.AlertsConfig{Client: srv.Client(), SpoolDir: t.TempDir(), RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close() })
		c.Store = store
		c.Locker = redis.NewLocker(srv.Client())
	})
	r.store = r.svc.store.(*redis.Alerts)
	srv.Stop()
	if code, body := r.post(PathAlertmanager, diskGroup(disk("db-1", time.Now().Add(-time.Minute))).JSON(), nil); code != http.StatusOK {
		t.Fatalf("during the outage: %d %q, want 200 (held in the spool)", code, body)
	}
	if r.store.Pending() != 1 {
		t.Fatalf("held %d, want 1", r.store.Pending())
	}
	srv.Start()
	r.run()
	w.waitFor("the message after Redis came back", func() bool { return len(w.messages(w.alerts)) == 1 })
}

// TestGrafanaNotificationFlow: Grafana's webhook (the fixtures follow its
// documented shape) on /hooks/grafana becomes one message with Grafana's
// links, values and no Silence buttons (Grafana's alerts are silenced in
// Grafana); its resolution edits the same message.
func TestGrafanaNotificationFlow(t *testing.T) {
	w := newWorld(t)
	r := w.replica()
	for _, f := range []string{"firing.json", "resolved.json"} {
		body, err := os.ReadFile("../../integrations/alertmanager/testdata/grafana/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if code, answer := r.post(PathGrafana, string(body), nil); code != http.StatusOK {
			t.Fatalf("%s: %d %q, want 200", f, code, answer)
		}
		r.svc.Settle(context.Background(), time.Second)
		m := w.only(w.alerts)
		text := m.Rendered()
		if f == "firing.json" {
			for _, want := range []string{"FIRING: High memory usage", "*2 firing*", "Memory above 90% in zone us-1", "B=94.2394, C=1",
				"|Silence in Grafana>", "<https://grafana.example.com/d/mem01?orgId=1|Dashboard>",
				"<https://grafana.example.com/d/mem01?orgId=1&amp;viewPanel=3|Panel>", "<https://grafana.example.com/|Grafana>"} {
				if !strings.Contains(text, want) {
					t.Errorf("firing message lacks %q:\n%s", want, text)
				}
			}
			if _, ok := buttonIn(t, m, ActionSilence1h); ok {
				t.Error("Silence buttons on a Grafana group")
			}
			if _, ok := buttonIn(t, m, ActionAck); !ok {
				t.Error("no Acknowledge on a Grafana group")
			}
		} else if !strings.Contains(text, "*1 firing*, 1 resolved") || !m.Edited {
			t.Errorf("after the resolution:\n%s", text)
		}
	}
	if n := len(w.fs.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}
}

// TestIntakeSenderClockAheadResolves: a sender whose clock runs 8 minutes
// ahead (past the skew) sends an alert that started 3 minutes ago (its
// startsAt within the skew, kept) and then its resolution (its endsAt
// past the skew, taken as the time of receipt). The resolution must be
// accepted and must resolve the group: a 400 is never retried, and a
// resolution ordered before the firing it ends is ignored, so either way
// the group would show firing for ever.
func TestIntakeSenderClockAheadResolves(t *testing.T) {
	w := newWorld(t)
	r := w.replica()
	ahead := 8 * time.Minute
	a := disk("db-1", time.Now().Add(-3*time.Minute+ahead))
	n := diskGroup(a)
	if code, body := r.post(PathAlertmanager, n.JSON(), nil); code != http.StatusOK {
		t.Fatalf("firing: got %d %q, want 200", code, body)
	}
	if g := r.group(n.id()); g.Firing != 1 {
		t.Fatalf("firing: group has %d firing, want 1", g.Firing)
	}
	if code, body := r.post(PathAlertmanager, diskGroup(a.resolvedAt(time.Now().Add(ahead))).JSON(), nil); code != http.StatusOK {
		t.Fatalf("resolution: got %d %q, want 200", code, body)
	}
	if g := r.group(n.id()); g.Firing != 0 {
		t.Errorf("resolution: group has %d firing, want 0", g.Firing)
	}
}

// TestIntakeSenderClockAheadKeepsStarts: a sender whose clock runs 10
// minutes ahead sends the same firing alert again (Alertmanager repeats a
// group, and resends it whole when another alert joins), then a late copy
// of it after its resolution (an HA pair's), then the alert fires anew.
// The start taken at the first receipt stays the alert's start, so that
// a repeat changes nothing (no edit, no second timeline entry) and the
// late copy does not fire the group again; a new start at the sender is a
// new episode.
func TestIntakeSenderClockAheadKeepsStarts(t *testing.T) {
	w := newWorld(t)
	r := w.replica()
	ahead := 10 * time.Minute
	started := time.Now().Add(-time.Minute + ahead)
	n := diskGroup(disk("db-1", started))
	post := func(step string, n amNotification) bot.AlertGroup {
		t.Helper()
		time.Sleep(2 * time.Millisecond) // a later time of receipt
		if code, body := r.post(PathAlertmanager, n.JSON(), nil); code != http.StatusOK {
			t.Fatalf("%s: got %d %q, want 200", step, code, body)
		}
		return r.group(n.id())
	}
	first := post("first", n)
	again := post("repeat", n)
	if !again.Alerts[0].StartsAt.Equal(first.Alerts[0].StartsAt) || again.Version != first.Version {
		t.Errorf("repeat: start %v version %d, want %v and %d unchanged", again.Alerts[0].StartsAt, again.Version,
			first.Alerts[0].StartsAt, first.Version)
	}
	resolved := post("resolution", diskGroup(disk("db-1", started).resolvedAt(time.Now().Add(ahead))))
	if resolved.Firing != 0 || !resolved.Alerts[0].StartsAt.Equal(first.Alerts[0].StartsAt) {
		t.Fatalf("resolution: %d firing, start %v; want 0, %v", resolved.Firing, resolved.Alerts[0].StartsAt, first.Alerts[0].StartsAt)
	}
	if late := post("late copy", n); late.Firing != 0 || late.Episode != 1 {
		t.Errorf("late copy of the firing: %d firing, episode %d; want 0, 1", late.Firing, late.Episode)
	}
	if anew := post("new start", diskGroup(disk("db-1", time.Now().Add(ahead)))); anew.Firing != 1 || anew.Episode != 2 {
		t.Errorf("fired anew: %d firing, episode %d; want 1, 2", anew.Firing, anew.Episode)
	}
}
