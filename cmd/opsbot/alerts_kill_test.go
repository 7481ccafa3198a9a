package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/alerts"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// TestBinaryKilledAfterAlertPost: the real binary posts an alert group's
// message and is killed (SIGKILL) after Slack took the post but before it
// learnt so, let alone recorded it. A second process, once the first's
// lease on the group has ended, finds the message by its metadata and
// keeps it: the channel has one message, which later notifications edit.
func TestBinaryKilledAfterAlertPost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	rs := redistest.NewServer(t)
	fs := fakeslack.New(t)
	channel := fs.AddChannel("alerts")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "opsbot.yaml")
	cfg := fmt.Sprintf("admins: [%s]\nredis: {spool_dir: %s}\nalerts:\n  default_channel: %s\n  edit_interval: 1s\n",
		alice, filepath.Join(dir, "spool"), channel)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(httpAddr string) []string {
		return []string{"SLACK_APP_TOKEN=" + fs.AppToken(), "SLACK_BOT_TOKEN=" + fs.BotToken(), "SLACK_API_URL=" + fs.APIURL(),
			"REDIS_URL=" + rs.URL(), "OPSBOT_HTTP_ADDR=" + httpAddr, "OPSBOT_CONFIG=" + cfgFile,
			"OPSBOT_ALERTS_TOKEN=" + e2eAlertsToken, "OPSBOT_LOG_LEVEL=debug"}
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	addr1 := freeAddr(t)
	first := startProcess(t, bin, env(addr1))
	waitReady(ctx, t, addr1, first)
	landed, release := fs.HoldAnswerNext("chat.postMessage")
	defer release()
	starts := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	notify(ctx, t, addr1, killGroup(starts, "db-1"))
	var post fakeslack.Call
	select {
	case post = <-landed:
	case <-ctx.Done():
		t.Fatalf("the first process never posted\n%s", first.logs.String())
	}
	if err := first.cmd.Process.Kill(); err != nil { // SIGKILL: nothing after the post runs
		t.Fatal(err)
	}
	<-first.done
	if post.Params.Get("channel") != channel {
		t.Fatalf("the held post went to %s, want %s", post.Params.Get("channel"), channel)
	}
	msgs := botMessages(fs, channel)
	if len(msgs) != 1 || msgs[0].Metadata == nil || !strings.Contains(string(msgs[0].Metadata.Payload), `"episode":"1"`) {
		t.Fatalf("after the kill: %+v, want one message carrying its metadata", msgs)
	}
	posted := msgs[0]

	// The dead process's lease on the group would end within a minute;
	// ending it here is what its expiry does, sooner.
	id := alerts.GroupID(bot.AlertNotification{Source: bot.AlertSourceAlertmanager, Receiver: "opsbot", GroupKey: killGroupKey})
	if err := rs.Client().Del(ctx, redis.LockPrefix+"alerts:render:"+id).Err(); err != nil {
		t.Fatal(err)
	}
	addr2 := freeAddr(t)
	second := startProcess(t, bin, env(addr2))
	// It waits for the attempt to settle (it might still land), then
	// finds the message, records it and brings it up to date.
	if err := fs.WaitUntil(ctx, func() bool { m, _ := fs.Message(channel, posted.TS); return m.Edited }); err != nil {
		t.Fatalf("the second process did not take the message over: %v\n%s", err, second.logs.String())
	}
	poll(t, "the second process's log of the message kept", func() bool {
		return strings.Contains(second.logs.String(), "found in the channel and kept")
	})
	waitReady(ctx, t, addr2, second)
	notify(ctx, t, addr2, killGroup(starts, "db-1", "db-2"))
	if err := fs.WaitUntil(ctx, func() bool {
		m, _ := fs.Message(channel, posted.TS)
		return strings.Contains(m.Rendered(), "2 firing")
	}); err != nil {
		t.Fatalf("the message was not edited: %v\n%s", err, second.logs.String())
	}
	if msgs := botMessages(fs, channel); len(msgs) != 1 || msgs[0].TS != posted.TS {
		t.Errorf("%d messages in the channel, want only %s", len(msgs), posted.TS)
	}
	if n := len(fs.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d chat.postMessage calls, want 1", n)
	}
}

const killGroupKey = `{}:{alertname="DiskFull"}`

// killGroup is an Alertmanager notification of a DiskFull group firing on
// the instances.
func killGroup(starts time.Time, instances ...string) string {
	var alerts []string
	for _, in := range instances {
		alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"DiskFull","instance":%q},"annotations":{},`+
			`"startsAt":%q,"endsAt":"0001-01-01T00:00:00Z","fingerprint":"fp-%s"}`, in, starts.Format(time.RFC3339), in))
	}
	return fmt.Sprintf(`{"version":"4","groupKey":%q,"receiver":"opsbot","status":"firing","groupLabels":{"alertname":"DiskFull"},`+
		`"commonLabels":{"alertname":"DiskFull"},"alerts":[%s]}`, killGroupKey, strings.Join(alerts, ","))
}

func notify(ctx context.Context, t *testing.T, addr, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+alerts.PathAlertmanager, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e2eAlertsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("notification answered %d", resp.StatusCode)
	}
}

// waitReady waits for the process's /readyz to answer 200.
func waitReady(ctx context.Context, t *testing.T, addr string, p *opsbotProcess) {
	t.Helper()
	for {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/readyz on %s never answered 200\n%s", addr, p.logs.String())
		case <-p.done:
			t.Fatalf("the process exited\n%s", p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func botMessages(fs *fakeslack.Server, channel string) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range fs.Messages(channel) {
		if m.BotID != "" {
			out = append(out, m)
		}
	}
	return out
}
