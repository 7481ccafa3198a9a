package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// Someone who joins an incident channel by themselves is briefed, only to
// them; people invited by someone are not.
func TestE2EWelcomeOnSelfJoin(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev2 card payments failing")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	inc := w.channelNamed(t, "inc-1-card-payments-failing")

	join := func(user, inviter string) {
		t.Helper()
		ev := map[string]any{"type": "member_joined_channel", "user": user, "channel": inc,
			"channel_type": "C", "team": "T0F000001", "event_ts": fmt.Sprintf("%d.000100", time.Now().Unix())}
		if inviter != "" {
			ev["inviter"] = inviter
		}
		sent, err := w.Slack.SendEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Slack.WaitAck(testCtx(t), sent.EnvelopeID); err != nil {
			t.Fatal(err)
		}
	}
	join(dana, alice) // invited: no welcome
	join(carol, "")   // joined by herself: welcome
	e := w.ephemeralContaining(t, inc, carol, "Welcome to INC-1")
	if !strings.Contains(e.Rendered(), "sev2") {
		t.Errorf("welcome lacks the severity: %q", e.Rendered())
	}
	// dana's event was handled before carol's, so a welcome would be there.
	for _, e := range w.Slack.Ephemerals(inc, dana) {
		if strings.Contains(e.Rendered(), "Welcome") {
			t.Errorf("an invited member was welcomed: %q", e.Rendered())
		}
	}
}

// A broadcast mention in a title (typed in the command, where Slack sends
// <!channel>, or in the modal, where it arrives raw) never reaches Slack as
// markup in what the bot posts on its own.
func TestE2ETitleCannotPingChannels(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev2 db down <!channel> <!subteam^S0X|@everyone-eng>")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	for _, c := range w.Slack.Calls("chat.postMessage", "chat.update", "conversations.setTopic", "conversations.setPurpose") {
		for k, v := range c.Params {
			for _, s := range v {
				if strings.Contains(s, "<!channel>") || strings.Contains(s, "<!subteam^") {
					t.Errorf("%s %s carries a broadcast mention: %q", c.Method, k, s)
				}
			}
		}
	}
	w.messageContaining(t, w.Incidents, "db down @channel @everyone-eng")
}

// The summary's "Assign roles" button opens a modal with Slack's user picker
// (users_select); the picked ID gets the role.
func TestE2EAssignRoleWithUserPicker(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev3 cache misses")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	inc := w.channelNamed(t, "inc-1-cache-misses")
	summary := w.Slack.Pins(inc)[0]
	sent, err := w.Slack.SendBlockAction(fakeslack.BlockAction{UserID: alice, ChannelID: inc, MessageTS: summary,
		ActionID: "incident.assign", Value: "INC-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Slack.WaitAck(testCtx(t), sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "the assign modal", func() bool {
		for _, v := range w.Slack.Views() {
			if v.CallbackID == "incident.assign" && strings.Contains(string(v.JSON), `"users_select"`) {
				return true
			}
		}
		return false
	})
	sub, err := w.Slack.SendViewSubmission(fakeslack.ViewSubmission{UserID: alice, CallbackID: "incident.assign",
		Values: map[string]string{"role": "scribe", "person": carol}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Slack.WaitAck(testCtx(t), sub.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	w.messageContaining(t, inc, "is now the scribe of INC-1")
	w.waitFor(t, "carol invited", func() bool { return slices.Contains(w.Slack.Members(inc), carol) })
}

// `opsbot export INC-N` prints the post-mortem from Redis, naming people
// through Slack when the tokens are set.
func TestExportSubcommand(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev2 disk full on db-3")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	env := map[string]string{
		"REDIS_URL":       w.Target.URL,
		"SLACK_APP_TOKEN": w.Slack.AppToken(), "SLACK_BOT_TOKEN": w.Slack.BotToken(), "SLACK_API_URL": w.Slack.APIURL(),
	}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     string
	}{
		{"markdown with names", []string{"export", "INC-1"}, env, 0, "Alice Example"},
		{"json", []string{"export", "inc-1", "--format", "json"}, env, 0, `"title": "disk full on db-3"`},
		{"unknown incident", []string{"export", "INC-9"}, env, 1, "INC-9"},
		{"bad format", []string{"export", "INC-1", "--format", "pdf"}, env, 2, "md or json"},
		{"no redis", []string{"export", "INC-1"}, map[string]string{}, 1, "set REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run(tt.args, func(k string) string { return tt.env[k] }, strings.NewReader(""), &out, &errOut)
			if code != tt.wantCode || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Errorf("exit %d, output %q / %q; want exit %d containing %q", code, out.String(), errOut.String(), tt.wantCode, tt.want)
			}
		})
	}
}
