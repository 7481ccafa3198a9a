package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// incidentWorld is the test workspace with a broadcast channel the bot is
// in, and a config that invites the SRE group to every incident.
func incidentWorld(t *testing.T) (*world, string, string) {
	t.Helper()
	return incidentWorldOn(t, redistest.KindSingle)
}

// incidentWorldOn is incidentWorld with Redis as the kind of deployment
// given.
func incidentWorldOn(t *testing.T, kind redistest.Kind) (*world, string, string) {
	t.Helper()
	w := newWorldOn(t, kind)
	announce := w.Slack.AddChannel("inc-announce", fakeslack.BotUserID, alice, bob, carol, dana)
	cfg := fmt.Sprintf(`admins: [%s]
incidents:
  broadcast_channel: %s
  responders: {users: [%s], usergroups: [%s]}
  roles:
    comms: "Post an update in the broadcast channel at least every 30 minutes."
    scribe: "Pin key messages with :pushpin:."
  update_reminders: {sev1: 15m, sev2: 30m, sev3: 60m, sev4: none}
  timezone: Europe/Berlin
`, alice, announce, dana, w.SRE)
	return w, announce, cfg
}

func channelNamed(t *testing.T, w *world, name string) fakeslack.Channel {
	t.Helper()
	var ch fakeslack.Channel
	w.waitFor(t, "channel "+name, func() bool {
		c, ok := w.Slack.ChannelByName(name)
		ch = c
		return ok
	})
	return ch
}

func methods(calls []fakeslack.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Method
	}
	return out
}

// TestE2EIncidentWalkthrough walks one incident from declaration to
// post-mortem through the fake Slack, the real Socket Mode client, the
// engine and a real Redis, checking the Web API calls and the export, on
// each Redis deployment.
func TestE2EIncidentWalkthrough(t *testing.T) { onEveryTopology(t, testIncidentWalkthrough) }

func testIncidentWalkthrough(t *testing.T, kind redistest.Kind) {
	w, announce, cfg := incidentWorldOn(t, kind)
	b := w.startBot(t, botOptions{ConfigYAML: cfg})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	// Declare by command.
	before := len(w.Slack.Calls())
	w.slash(t, alice, w.General, "/incident", "declare sev2 Checkout errors in EU")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	ch := channelNamed(t, w, "inc-1-checkout-errors-in-eu")
	declareCalls := methods(w.Slack.Calls()[before:])
	for _, m := range []string{"conversations.create", "usergroups.users.list", "conversations.invite",
		"conversations.setTopic", "conversations.setPurpose", "chat.postMessage", "pins.add"} {
		if !slices.Contains(declareCalls, m) {
			t.Errorf("declare made no %s call; calls: %v", m, declareCalls)
		}
	}
	if n := len(w.Slack.Calls("conversations.create")); n != 1 {
		t.Errorf("%d conversations.create calls, want 1", n)
	}
	members := w.Slack.Members(ch.ID)
	for _, u := range []string{alice, bob, dana} { // declarer, SRE group member, responder
		if !slices.Contains(members, u) {
			t.Errorf("%s not invited; members %v", u, members)
		}
	}
	if topic := w.Slack.Topic(ch.ID); !strings.Contains(topic, "SEV2 | investigating | commander <@"+alice+">") {
		t.Errorf("topic = %q", topic)
	}
	pins := w.Slack.Pins(ch.ID)
	if len(pins) != 1 {
		t.Fatalf("pins = %v, want the summary", pins)
	}
	summaryTS := pins[0]
	summary, _ := w.Slack.Message(ch.ID, summaryTS)
	for _, want := range []string{"INC-1: Checkout errors in EU", "Take command", "Update status", "Resolve"} {
		if !strings.Contains(summary.Rendered(), want) {
			t.Errorf("summary lacks %q:\n%s", want, summary.Rendered())
		}
	}
	announcement := w.messageContaining(t, announce, "INC-1 declared: Checkout errors in EU")

	// Declare by modal.
	w.slash(t, bob, w.General, "/incident", "")
	w.waitFor(t, "declare modal", func() bool { return len(w.Slack.Views()) == 1 })
	sub, err := w.Slack.SendViewSubmission(fakeslack.ViewSubmission{UserID: bob, CallbackID: "incident.declare",
		Values: map[string]string{"title": "Search latency", "severity": "sev3", "description": "p99 above 2s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Slack.WaitAck(testCtx(t), sub.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	ch2 := channelNamed(t, w, "inc-2-search-latency")
	w.messageContaining(t, ch2.ID, "p99 above 2s")
	// Slack redelivers the submission: still one incident.
	again, err := w.Slack.Redeliver(sub.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Slack.WaitAck(testCtx(t), again.EnvelopeID); err != nil {
		t.Fatal(err)
	}

	// Commander and role: invited, DM'd, topic and summary updated.
	w.slash(t, alice, ch.ID, "/incident", "commander <@"+carol+"|carol>")
	w.messageContaining(t, ch.ID, "<@"+carol+"> is now the commander of INC-1")
	if dm, ok := w.Slack.DMChannel(carol); !ok {
		t.Error("no DM to the new commander")
	} else {
		w.messageContaining(t, dm, "You are the commander of INC-1")
	}
	w.waitFor(t, "topic with the new commander", func() bool {
		return strings.Contains(w.Slack.Topic(ch.ID), "commander <@"+carol+">")
	})
	w.slash(t, carol, ch.ID, "/incident", "role comms <@"+bob+"|bob>")
	w.messageContaining(t, ch.ID, "<@"+bob+"> is now the comms of INC-1")
	if dm, ok := w.Slack.DMChannel(bob); ok {
		w.messageContaining(t, dm, "at least every 30 minutes")
	} else {
		t.Error("no DM to the comms lead")
	}

	// Severity: raised, announcement kept current with chat.update.
	w.slash(t, carol, ch.ID, "/incident", "sev sev1")
	w.messageContaining(t, ch.ID, "raised INC-1 from sev2 to sev1")
	w.waitFor(t, "announcement updated to sev1", func() bool {
		m, _ := w.Slack.Message(announce, announcement.TS)
		return strings.Contains(m.Rendered(), "sev1")
	})
	w.waitFor(t, "summary updated", func() bool {
		m, _ := w.Slack.Message(ch.ID, summaryTS)
		return strings.Contains(m.Rendered(), "sev1") && strings.Contains(m.Rendered(), "<@"+bob+">")
	})

	// Update goes to both channels.
	w.slash(t, bob, ch.ID, "/incident", "update Rolled back release 42; error rate falling.")
	w.messageContaining(t, ch.ID, "Rolled back release 42")
	w.messageContaining(t, announce, "Rolled back release 42")

	// A pinned message lands in the timeline with its own time.
	said := w.Slack.AddMessage(ch.ID, dana, "LB shows 502s since 09:57", "")
	if _, err := w.Slack.SendReaction(true, bob, "pushpin", ch.ID, said); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "pinned message captured", func() bool {
		return len(w.Slack.Calls("chat.getPermalink")) > 0
	})

	w.slash(t, carol, ch.ID, "/incident", "note customer support informed")
	w.ephemeralContaining(t, ch.ID, carol, "Added to the INC-1 timeline")
	w.slash(t, carol, ch.ID, "/incident", "status monitoring")
	w.messageContaining(t, ch.ID, "to *monitoring*")
	w.slash(t, carol, ch.ID, "/incident", "resolve rollback of release 42")
	w.messageContaining(t, ch.ID, "INC-1 resolved by <@"+carol+">")
	w.waitFor(t, "announcement shows resolved", func() bool {
		m, _ := w.Slack.Message(announce, announcement.TS)
		return strings.Contains(m.Rendered(), "INC-1 resolved")
	})

	w.slash(t, carol, ch.ID, "/incident", "timeline")
	w.ephemeralContaining(t, ch.ID, carol, "LB shows 502s since 09:57")

	// Export, uploaded into the channel by the external upload flow.
	w.slash(t, carol, ch.ID, "/incident", "export")
	var file fakeslack.File
	w.waitFor(t, "post-mortem upload", func() bool {
		for _, f := range w.Slack.Files() {
			if f.Channel == ch.ID && f.Shared {
				file = f
				return true
			}
		}
		return false
	})
	if file.Name != "inc-1-postmortem.md" {
		t.Errorf("uploaded %q, want inc-1-postmortem.md", file.Name)
	}
	md := string(file.Content)
	for _, want := range []string{
		"# INC-1: Checkout errors in EU",
		"| Severity | sev1 (highest: sev1) |",
		"| sev2 |", "| sev1 |",
		"| commander | @Alice Example |", "| commander | @Carol Example |", "| comms | @Bob Example |",
		"@Dana Lead said: LB shows 502s since 09:57 (pinned by @Bob Example)",
		"@Bob Example posted an update: Rolled back release 42",
		"@Carol Example noted: customer support informed",
		"changed status investigating → monitoring",
		"resolved the incident: rollback of release 42",
		" CET", // times in the configured zone
		"## Root cause", "## Action items",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("post-mortem lacks %q\n---\n%s", want, md)
		}
	}
	// opsbot export prints the same document.
	out, err := b.App.incidents.Export(testCtx(t), "INC-1", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"type": "pinned"`) || !strings.Contains(string(out), `"time_to_resolve_seconds"`) {
		t.Errorf("JSON export lacks the pin or the metrics:\n%s", out)
	}

	if n := len(w.Slack.Calls("conversations.create")); n != 2 {
		t.Errorf("%d conversations.create calls for two declarations (one redelivered), want 2", n)
	}

	// Bad input outside an incident: a hint, nothing changed.
	calls := len(w.Slack.Calls("conversations.setTopic", "chat.update"))
	w.slash(t, alice, w.General, "/incident", "sev sev1")
	w.ephemeralContaining(t, w.General, alice, "only works in an incident channel")
	if n := len(w.Slack.Calls("conversations.setTopic", "chat.update")); n != calls {
		t.Errorf("bad input made %d topic/update calls", n-calls)
	}
}

// TestE2EDeclareRoundTrips measures how many sequential Web API round trips
// a declaration costs, with the fake Slack answering every call after a
// fixed latency: elapsed time divided by the latency. It reports the ratio
// rather than asserting on time.
func TestE2EDeclareRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("latency measurement")
	}
	w, announce, cfg := incidentWorld(t)
	w.startBot(t, botOptions{ConfigYAML: cfg})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	const latency = 100 * time.Millisecond
	w.Slack.SetLatency(latency)
	before := len(w.Slack.Calls())
	w.slash(t, alice, w.General, "/incident", "declare sev2 latency probe")
	w.waitFor(t, "summary pinned and announcement posted", func() bool {
		c, ok := w.Slack.ChannelByName("inc-1-latency-probe")
		if !ok || len(c.Pins) == 0 {
			return false
		}
		for _, m := range w.Slack.Messages(announce) {
			if strings.Contains(m.Rendered(), "INC-1") {
				return true
			}
		}
		return false
	})
	calls := w.Slack.Calls()[before:]
	// Sequential depth from the call log: a call starting at least one
	// latency after the first began cannot have overlapped it.
	start := calls[0].Time
	var last time.Time
	for _, c := range calls {
		if c.Method != "response_url" && c.Time.After(last) {
			last = c.Time
		}
	}
	rounds := int((last.Sub(start)+latency/2)/latency) + 1
	t.Logf("declare: %d Web API calls in %d sequential round trips (latency %s per call): %v",
		len(calls), rounds, latency, methods(calls))
}

// Slack's name_taken and invalid_name answers lead to another name, not to
// a failed declaration.
func TestE2EDeclareChannelNameClashes(t *testing.T) {
	w, _, cfg := incidentWorld(t)
	w.Slack.AddChannel("inc-1-db-down", alice)
	w.startBot(t, botOptions{ConfigYAML: cfg})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev2 db down")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	channelNamed(t, w, "inc-1-db-down-2")

	w.Slack.FailNext("conversations.create", "invalid_name_specials")
	w.slash(t, alice, w.General, "/incident", "declare sev3 cache misses")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-2")
	channelNamed(t, w, "inc-2")

	var names []string
	for _, c := range w.Slack.Calls("conversations.create") {
		names = append(names, c.Params.Get("name"))
	}
	want := []string{"inc-1-db-down", "inc-1-db-down-2", "inc-2-cache-misses", "inc-2"}
	if !slices.Equal(names, want) {
		t.Errorf("conversations.create names = %v, want %v", names, want)
	}
}
