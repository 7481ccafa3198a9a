package alerts

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/alertmanager"
)

func TestAlertsCommand(t *testing.T) {
	w := newWorld(t)
	r := w.replica()
	resp, err := r.command("U0ALICE", w.general, "")
	if err != nil || !strings.Contains(resp.Message.Text, "No alert groups are firing") {
		t.Errorf("empty list: %+v, %v", resp, err)
	}
	id := r.notify(diskGroup(disk("db-1", time.Now().Add(-20*time.Minute)), disk("db-2", time.Now().Add(-10*time.Minute))))
	flush(r)
	g := r.group(id)
	if _, err := r.click("U0BOB", g.State.Message, ActionAck, buttonValue(id, 1)); err != nil {
		t.Fatal(err)
	}
	resp, err = r.command("U0ALICE", w.general, "")
	if err != nil || resp.Message.Title != "1 alert group firing" ||
		!strings.Contains(resp.Message.Text, "*DiskFull* — 2 firing for 20m in <#"+w.alerts+"> · acknowledged by <@U0BOB>") {
		t.Errorf("list: %+v, %v", resp, err)
	}
	if resp.Visibility != bot.Ephemeral {
		t.Error("the list is not ephemeral")
	}

	refusals := []struct{ text, want string }{
		{"silence for 2h", "at least one LABEL=VALUE"},
		{"silence", "at least one LABEL=VALUE"},
		{"silence alertname=DiskFull", "for how long"},
		{"silence alertname=DiskFull for", "for how long"},
		{"silence alertname=DiskFull for ever", "not a duration"},
		{"silence alertname=DiskFull for 10s", "between 1m and 30d"},
		{"silence alertname=DiskFull for 90d", "between 1m and 30d"},
		{"silence alertname= for 1h", "empty value"},
		{"silence alertname for 1h", "is not LABEL=VALUE"},
		{"silence my-label=x for 1h", "not a label name"},
		{"silence <!channel>=x for 1h", "not a label name"},
		{"silence alertname=DiskFull for 1h \x1b]0;pwned\x07", "The comment contains control characters"},
		{"silence alertname=Disk\x00Full for 1h", "The value of `alertname` contains control characters"},
	}
	for _, tt := range refusals {
		t.Run(tt.text, func(t *testing.T) {
			_, err := r.command("U0ALICE", w.general, tt.text)
			if got := userError(err); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if strings.Contains(userError(err), "<!channel>") {
				t.Errorf("the refusal repeats live markup: %q", userError(err))
			}
		})
	}
	if _, err := r.command("U0GUEST", w.general, "silence a=b for 1h"); !strings.Contains(userError(err), "Guest") {
		t.Errorf("guest: %v", err)
	}
	am, _ := alertmanager.New(alertmanager.Config{URL: w.silences})
	if sils, _ := am.Silences(context.Background()); len(sils) != 0 {
		t.Fatalf("refused commands created silences: %+v", sils)
	}

	// Slack delivers the text escaped (&lt;) and quoted values with
	// spaces; the silence gets raw text.
	resp, err = r.command("U0ALICE", w.general, `silence alertname=DiskFull instance="db 1&lt;2" for 1d2h disk &amp; cache replaced`)
	if err != nil || resp.Visibility != bot.InChannel || !strings.Contains(resp.Message.Text, `silenced alertname="DiskFull", instance="db 1&lt;2" for 1d 2h`) {
		t.Fatalf("silence: %+v, %v", resp, err)
	}
	sils, _ := am.Silences(context.Background())
	if len(sils) != 1 || sils[0].Matchers[1].Value != "db 1<2" || sils[0].Comment != "disk & cache replaced" ||
		sils[0].CreatedBy != "Alice Adams (Slack U0ALICE)" {
		t.Fatalf("silence %+v", sils)
	}
	// A comment that tries to ping is repeated as text, here and in the
	// list of silences.
	resp, err = r.command("U0ALICE", w.general, `silence alertname=Other for 1h <!channel> ask <@U0BOB|bob> <https://evil.example|https://good.example>`)
	if err != nil || !strings.Contains(resp.Message.Text, "@channel ask @bob https://good.example (https://evil.example)") {
		t.Errorf("silence with a hostile comment: %+v, %v", resp, err)
	}
	for _, bad := range []string{"<!channel>", "<@U0BOB", "<https://evil"} {
		if strings.Contains(resp.Message.Text, bad) {
			t.Errorf("silence confirmation repeats %q as markup: %s", bad, resp.Message.Text)
		}
	}
	resp, err = r.command("U0BOB", w.general, "silences")
	for _, bad := range []string{"<!channel>", "<@U0BOB", "<https://evil"} {
		if strings.Contains(resp.Message.Text, bad) {
			t.Errorf("list of silences repeats %q as markup: %s", bad, resp.Message.Text)
		}
	}
	if err != nil || resp.Message.Title != "2 active silences" || !strings.Contains(resp.Message.Text, "Alice Adams (Slack U0ALICE)") ||
		!strings.Contains(resp.Message.Text, "disk &amp; cache replaced") {
		t.Errorf("silences: %+v, %v", resp, err)
	}
	if resp, _ := r.command("U0BOB", w.general, "help"); !strings.Contains(resp.Message.Text, "silence LABEL=VALUE… for DURATION") {
		t.Errorf("help: %+v", resp)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30m", 30 * time.Minute, true}, {"2h", 2 * time.Hour, true}, {"1d", 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true}, {"1D", 24 * time.Hour, true}, {"d", 0, false}, {"1x", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestSilencesNotConfigured(t *testing.T) {
	w := newWorld(t)
	r := w.replica(func(c *Config) { c.Silencer = nil })
	for _, text := range []string{"silences", "silence a=b for 1h"} {
		if _, err := r.command("U0ALICE", w.general, text); !strings.Contains(userError(err), "alertmanager_url") {
			t.Errorf("%s: %v", text, err)
		}
	}
}
