package alertmanager

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/alertmanager/amtest"
)

// TestSilencesContract runs the same silence scenario against the real
// Alertmanager and against the console stand-in, so that the stand-in
// cannot drift from the real wire format.
func TestSilencesContract(t *testing.T) {
	targets := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"real alertmanager", func(t *testing.T) string {
			return amtest.New(t, amtest.Config{WebhookURL: "http://127.0.0.1:9/unused"}).URL
		}},
		{"stand-in", func(t *testing.T) string {
			srv := httptest.NewServer(NewStandIn(nil))
			t.Cleanup(srv.Close)
			return srv.URL
		}},
	}
	for _, target := range targets {
		t.Run(target.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			c, err := New(Config{URL: target.url(t)})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Ready(ctx); err != nil {
				t.Fatalf("ready: %v", err)
			}
			now := time.Now().UTC()
			id, err := c.CreateSilence(ctx, bot.Silence{
				Matchers: []bot.SilenceMatcher{{Name: "alertname", Value: "Disk <full>", IsEqual: true}, {Name: "team", Value: "ops", IsEqual: true}},
				StartsAt: now, EndsAt: now.Add(time.Hour),
				CreatedBy: "alice (Slack U0ALICE)", Comment: "from https://fake.slack.com/archives/C1/p1",
			})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			got := find(t, ctx, c, id)
			if got.State != "active" || got.CreatedBy != "alice (Slack U0ALICE)" || !strings.Contains(got.Comment, "archives/C1") {
				t.Errorf("got %+v, want an active silence with createdBy and comment", got)
			}
			if len(got.Matchers) != 2 || !got.Matchers[0].IsEqual || got.Matchers[0].IsRegex {
				t.Errorf("got matchers %+v, want two equality matchers", got.Matchers)
			}
			if d := got.EndsAt.Sub(now.Add(time.Hour)); d > time.Second || d < -time.Second {
				t.Errorf("got endsAt %v, want about %v", got.EndsAt, now.Add(time.Hour))
			}

			if err := c.ExpireSilence(ctx, id); err != nil {
				t.Fatalf("expire: %v", err)
			}
			if got := find(t, ctx, c, id); got.State != "expired" {
				t.Errorf("got state %q after expiring, want expired", got.State)
			}
			if err := c.ExpireSilence(ctx, id); err != nil {
				t.Errorf("expiring twice: %v, want nil", err)
			}
			if err := c.ExpireSilence(ctx, "0b7a5d4e-1111-4222-8333-944455556666"); !errors.Is(err, bot.ErrNotFound) {
				t.Errorf("expire unknown: got %v, want bot.ErrNotFound", err)
			}

			bad := []struct {
				name string
				s    bot.Silence
				want string
			}{
				{"matches every alert", bot.Silence{Matchers: []bot.SilenceMatcher{{Name: "alertname", Value: "", IsEqual: true}},
					StartsAt: now, EndsAt: now.Add(time.Hour), CreatedBy: "x", Comment: "x"}, "must not match the empty string"},
				{"ends in the past", bot.Silence{Matchers: []bot.SilenceMatcher{{Name: "a", Value: "b", IsEqual: true}},
					StartsAt: now.Add(-2 * time.Hour), EndsAt: now.Add(-time.Hour), CreatedBy: "x", Comment: "x"}, "in the past"},
			}
			for _, b := range bad {
				_, err := c.CreateSilence(ctx, b.s)
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), b.want) {
					t.Errorf("%s: got %v, want ErrInvalid saying %q", b.name, err, b.want)
				}
			}
		})
	}
}

func find(t *testing.T, ctx context.Context, c *Client, id string) bot.Silence {
	t.Helper()
	all, err := c.Silences(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, s := range all {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("silence %s not listed in %+v", id, all)
	return bot.Silence{}
}

func TestClientErrors(t *testing.T) {
	var gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		switch r.URL.Path {
		case "/prefix/api/v2/silences":
			http.Error(w, `"boom"`, http.StatusInternalServerError)
		default:
			w.Write([]byte("not json"))
		}
	}))
	defer srv.Close()
	c, err := New(Config{URL: strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1) + "/prefix/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Silences(ctx); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("got %v, want ErrUnavailable with Alertmanager's message", err)
	}
	if gotUser != "ops" || gotPass != "s3cret" {
		t.Errorf("got basic auth %q/%q, want the URL's credentials", gotUser, gotPass)
	}
	if strings.Contains(c.URL(), "s3cret") {
		t.Errorf("URL() %q shows the password", c.URL())
	}

	down, err := New(Config{URL: "http://ops:s3cret@127.0.0.1:9", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = down.ExpireSilence(ctx, "x")
	if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got %v, want ErrUnavailable without the password", err)
	}
	if err := down.ExpireSilence(ctx, "../x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v, want ErrInvalid for a path in the ID", err)
	}
	if _, err := down.CreateSilence(ctx, bot.Silence{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v, want ErrInvalid for no matchers", err)
	}

	for _, u := range []string{"", "alertmanager:9093", "ftp://x", "http://", "http://x/?a=1"} {
		if _, err := New(Config{URL: u}); err == nil {
			t.Errorf("New(%q): got nil error", u)
		}
	}
}

// TestHeldAlerts asks the real Alertmanager which alerts it holds: firing
// ones whether silenced or not, by label, and not those that resolved.
func TestHeldAlerts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	am := amtest.New(t, amtest.Config{WebhookURL: "http://127.0.0.1:9/unused"})
	c, err := New(Config{URL: am.URL})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := c.CreateSilence(ctx, bot.Silence{Matchers: []bot.SilenceMatcher{{Name: "instance", Value: "db-2", IsEqual: true}},
		StartsAt: now, EndsAt: now.Add(time.Hour), CreatedBy: "test", Comment: "muted"}); err != nil {
		t.Fatal(err)
	}
	post := func(instance, alertname string, ends time.Time) {
		t.Helper()
		if err := am.PostAlerts(ctx, amtest.PostableAlert{Labels: map[string]string{"alertname": alertname, "team": `d"b`, "instance": instance},
			StartsAt: now.Add(-time.Hour), EndsAt: ends}); err != nil {
			t.Fatal(err)
		}
	}
	post("db-1", "DiskFull", time.Time{})
	post("db-2", "DiskFull", time.Time{})           // silenced, still held
	post("db-3", "DiskFull", now.Add(-time.Minute)) // resolved
	post("db-4", "OtherAlert", time.Time{})         // another group
	all, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fp := map[string]string{}
	for _, a := range all {
		fp[a.Labels["instance"]] = a.Fingerprint
	}
	held, err := c.HeldAlerts(ctx, map[string]string{"alertname": "DiskFull", "team": `d"b`})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{fp["db-1"]: true, fp["db-2"]: true}
	if len(held) != 2 || !held[fp["db-1"]] || !held[fp["db-2"]] || len(want) != 2 {
		t.Errorf("held %v, want the fingerprints of db-1 and db-2 %v", held, want)
	}
	started, err := c.StartedAt(ctx)
	if err != nil || time.Since(started) > time.Minute || time.Since(started) < 0 {
		t.Errorf("started at %v (%v), want within the last minute", started, err)
	}
}
