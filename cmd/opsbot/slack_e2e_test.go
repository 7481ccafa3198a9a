package main

import (
	"strings"
	"testing"
	"time"
)

// These tests run the whole bot (config, Redis, Slack client, Socket Mode
// listener, engine, command families) against the fake Slack over the real
// protocol and a real redis-server.

func TestE2ESlashCommandIsAckedThenAnswered(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	// Help, usage and argument errors need no I/O: they travel in the ack,
	// shown from it, with no Web API call.
	for _, cmd := range []string{"/incident", "/oncall", "/runbook"} {
		sent := w.slash(t, alice, w.General, cmd, "help")
		if e := w.ephemeralContaining(t, w.General, alice, cmd+" help"); e.Via != "ack" {
			t.Errorf("%s help shown via %s, want the ack", cmd, e.Via)
		}
		if a, _ := w.Slack.WaitAck(testCtx(t), sent.EnvelopeID); !strings.Contains(string(a.Payload), `"response_type":"ephemeral"`) {
			t.Errorf("%s help ack = %s, want the ephemeral answer in it", cmd, a.Payload)
		}
	}
	// Unknown input answers with usage, ephemerally, and changes nothing.
	w.slash(t, bob, w.General, "/incident", "frobnicate now")
	w.ephemeralContaining(t, w.General, bob, "I do not know `/incident frobnicate`")
	for _, c := range []struct{ cmd, text, want string }{
		{"/incident", "sev sev9", "Unknown severity `sev9`"},
		{"/incident", "commander bob", "I need a mention of a person"},
		{"/runbook", "run", "Usage: `/runbook run NAME"},
		{"/runbook", "show", "Usage: `/runbook show NAME`"},
	} {
		w.slash(t, carol, w.General, c.cmd, c.text)
		if e := w.ephemeralContaining(t, w.General, carol, c.want); e.Via != "ack" {
			t.Errorf("%s %s answered via %s, want the ack", c.cmd, c.text, e.Via)
		}
	}
	if calls := w.Slack.Calls("chat.postEphemeral", "chat.postMessage", "conversations.create"); len(calls) != 0 {
		t.Errorf("Web API calls for answers without I/O: %+v", calls)
	}
	// A command that needs I/O is acknowledged plainly and answered by a
	// worker. (The ack is queued before the work starts; which reaches the
	// fake first is up to the scheduler. integrations/slack's
	// TestIOCommandAcksFirstThenReplies holds the handler to show the ack
	// never waits for it.)
	sent := w.slash(t, alice, w.General, "/incident", "list")
	ack, err := w.Slack.WaitAck(testCtx(t), sent.EnvelopeID)
	if err != nil || ack.Payload != nil {
		t.Errorf("ack of /incident list = %s, %v; want a plain ack", ack.Payload, err)
	}
	if e := w.ephemeralContaining(t, w.General, alice, "No open incidents"); e.Via != "chat.postEphemeral" {
		t.Errorf("/incident list answered via %s, want chat.postEphemeral", e.Via)
	}
}

// A declaration delivered three times (the same envelope redelivered, and a
// copy under a new envelope ID with the same trigger_id, as Slack does when
// it delivers to another connection) creates one incident. Two replicas
// share Redis, so it holds whichever replica gets which copy.
func TestE2ERedeliveryHandledOnceAcrossReplicas(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	sent := w.slash(t, alice, w.General, "/incident", "declare sev2 checkout errors")
	again, err := w.Slack.Redeliver(sent.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	copy1, err := w.Slack.Resend(sent.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{again.EnvelopeID, copy1.EnvelopeID} {
		if _, err := w.Slack.WaitAck(testCtx(t), id); err != nil {
			t.Fatalf("ack %s: %v", id, err)
		}
	}
	w.messageContaining(t, w.Incidents, "INC-1")
	// Give a wrongly admitted duplicate the time to show itself: a later
	// command on the same path is handled after the duplicates were.
	w.slash(t, alice, w.General, "/incident", "list")
	w.ephemeralContaining(t, w.General, alice, "INC-1")
	if got := len(w.Slack.Calls("conversations.create")); got != 1 {
		t.Errorf("got %d conversations.create calls, want 1", got)
	}
	for _, c := range w.Slack.Channels() {
		if strings.HasPrefix(c.Name, "inc-2") {
			t.Errorf("a second incident channel %s was created", c.Name)
		}
	}
}

func TestE2EReconnectsAfterDroppedWebsocket(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	ctx := testCtx(t)
	if err := w.Slack.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	before := w.Slack.TotalConnections()
	w.Slack.DropConnections()
	w.waitFor(t, "a new connection", func() bool {
		return w.Slack.TotalConnections() > before && w.Slack.OpenConnections() == 1
	})
	w.slash(t, bob, w.General, "/incident", "help")
	w.ephemeralContaining(t, w.General, bob, "/incident declare")

	before = w.Slack.TotalConnections()
	w.Slack.Disconnect("refresh_requested")
	// A new connection opened and the old one gone: the fake delivers on an
	// open connection, and the one being refreshed may still be closing.
	w.waitFor(t, "a reconnection after disconnect", func() bool {
		return w.Slack.TotalConnections() > before && w.Slack.OpenConnections() == 1
	})
	w.slash(t, carol, w.General, "/runbook", "help")
	w.ephemeralContaining(t, w.General, carol, "/runbook")
}

// A 429 on chat.postMessage is waited out (Retry-After) and the message is
// posted exactly once.
func TestE2ERateLimitedPostIsPostedOnceAfterRetryAfter(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev3 search latency")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	inc := w.channelNamed(t, "inc-1-search-latency")
	w.Slack.RateLimitNext("chat.postMessage", time.Second)
	w.slash(t, alice, inc, "/incident", "update rolled back the search deploy")

	// The update goes to the channel and the broadcast channel at once;
	// whichever post met the 429 must be retried and land once.
	updates := func() (limited int, posted map[string]int) {
		posted = map[string]int{}
		for _, c := range w.Slack.Calls("chat.postMessage") {
			if !strings.Contains(c.Params.Get("text")+c.Params.Get("blocks"), "rolled back the search deploy") {
				continue
			}
			switch c.Status {
			case 429:
				limited++
			case 200:
				posted[c.Params.Get("channel")]++
			}
		}
		return limited, posted
	}
	w.waitFor(t, "the update posted in both channels", func() bool {
		_, p := updates()
		return p[inc] > 0 && p[w.Incidents] > 0
	})
	// A later command on the same path shows any second post would have happened.
	w.slash(t, alice, inc, "/incident", "note checked")
	w.ephemeralContaining(t, inc, alice, "timeline")
	limited, posted := updates()
	if limited != 1 || posted[inc] != 1 || posted[w.Incidents] != 1 {
		t.Errorf("got %d rate-limited posts and %v posted, want 1 and one per channel", limited, posted)
	}
	// The pinned summary quotes the latest update; count the posts only.
	pinned := map[string]bool{}
	for _, ts := range w.Slack.Pins(inc) {
		pinned[ts] = true
	}
	var count int
	for _, m := range w.Slack.Messages(inc) {
		if !pinned[m.TS] && strings.Contains(m.Rendered(), "rolled back the search deploy") {
			count++
		}
	}
	if count != 1 {
		t.Errorf("the update appears %d times in the channel, want once", count)
	}
}

// Identity comes from the payload's IDs: a forged mention label does not
// change who is assigned.
func TestE2EMentionLabelsAreNotIdentity(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev3 queue backlog")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	inc := w.channelNamed(t, "inc-1-queue-backlog")
	w.slash(t, alice, inc, "/incident", "commander <@"+bob+"|alice>")
	w.waitFor(t, "topic naming bob", func() bool { return strings.Contains(w.Slack.Topic(inc), bob) })
	w.slash(t, alice, inc, "/incident", "commander @carol")
	w.ephemeralContaining(t, inc, alice, "real mention")
}

func (w *world) channelNamed(t *testing.T, name string) string {
	t.Helper()
	var id string
	w.waitFor(t, "channel #"+name, func() bool {
		c, ok := w.Slack.ChannelByName(name)
		id = c.ID
		return ok
	})
	return id
}
