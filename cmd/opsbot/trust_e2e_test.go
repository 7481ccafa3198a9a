package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"

	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// Trust, end to end: everything below goes through the fake Slack's
// envelopes and Web API, the real slack-go clients, the engine and a real
// Redis, as in production.

// victim is a person nobody should be pinged about; hostile text mentions
// them, and the bot itself never has a reason to.
const victim = "U0VICTIM"

// evilTitle and evil are what people type, as a slash command delivers it
// (Slack turns @here into <!here> and so on).
const (
	evilTitle = "db <!here> <!subteam^S0SRE|@sre> <@U0VICTIM|victim> <https://evil.example/x|https://good.example>"
	evil      = "<!here> <!channel> <!everyone> <!subteam^S0SRE|@sre> <@U0VICTIM|victim> <#C0SECRET|secret> " +
		"<https://evil.example/x|https://good.example>"
	// evilRaw is the same typed into a form or printed by a process, where
	// nothing is escaped.
	evilRaw = "<!channel> <@U0VICTIM> <https://evil.example/y|https://good.example> & done"
)

// forbidden are the traces of hostile markup reaching Slack as markup: a
// broadcast, a group or victim mention, a link to the secret channel, a
// masked link hiding its target (which starts "<https://evil…|"). Quoted,
// the same text reads "&lt;!here&gt;" or "@here" and matches none.
var forbidden = []string{"<!here", "<!channel", "<!everyone", "<!subteam", "<@" + victim, "<#C0SECRET", "<https://evil"}

// markdownMarkup is the same in the Markdown post-mortem, where an escaped
// "\<" is text.
var markdownMarkup = regexp.MustCompile(`(^|[^\\])<(!|@` + victim + `|#C0SECRET|https://evil)`)

// scanSlack fails on any forbidden markup in anything the bot sent to
// Slack: every Web API call's parameters (messages and their blocks,
// updates, ephemerals, topics, purposes, views, file titles and comments),
// every message and ephemeral as the fake holds it (response URL posts
// included), and the post-mortem files. It also fails on link_names or
// parse=full, which would turn plain @words back into pings.
func scanSlack(t *testing.T, w *world) {
	t.Helper()
	check := func(where, s string) {
		for _, f := range forbidden {
			if strings.Contains(s, f) {
				t.Errorf("%s carries %q:\n%s", where, f, s)
			}
		}
	}
	for _, c := range w.Slack.Calls() {
		for k, vs := range c.Params {
			for _, v := range vs {
				check(c.Method+" "+k, v)
				// Blocks and views are JSON, where < is written \u003c:
				// check the strings inside.
				for _, s := range jsonStrings(v) {
					check(c.Method+" "+k+" (decoded)", s)
				}
				if (k == "link_names" && v != "false" && v != "0") || (k == "parse" && v == "full") {
					t.Errorf("%s sent %s=%s", c.Method, k, v)
				}
			}
		}
	}
	for _, ch := range w.Slack.Channels() {
		for _, m := range w.Slack.Messages(ch.ID) {
			if m.BotID != "" {
				check("message in "+ch.Name+ch.ID, m.Text+"\n"+strings.Join(jsonStrings(string(m.Blocks)), "\n"))
			}
		}
		check("topic of "+ch.Name, ch.Topic)
		check("purpose of "+ch.Name, ch.Purpose)
		for _, u := range []string{alice, bob, carol, dana, guest, victim} {
			for _, e := range w.Slack.Ephemerals(ch.ID, u) {
				check("ephemeral to "+u+" in "+ch.Name, e.Text+"\n"+strings.Join(jsonStrings(string(e.Blocks)), "\n"))
			}
		}
	}
	for _, f := range w.Slack.Files() {
		check("file title "+f.Name, f.Title)
		check("file comment "+f.Name, f.Comment)
		if strings.HasSuffix(f.Name, "-postmortem.md") {
			if m := markdownMarkup.Find(f.Content); m != nil {
				t.Errorf("file %s carries Slack markup %q", f.Name, m)
			}
		}
	}
}

// acked returns a function that waits for the ack of an envelope just
// sent: w.acked(t)(w.Slack.SendEvent(…)).
// jsonStrings returns every string in a JSON document (nil when s is not
// JSON).
func jsonStrings(s string) []string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return out
}

func (w *world) acked(t *testing.T) func(fakeslack.Sent, error) {
	return func(sent fakeslack.Sent, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Slack.WaitAck(testCtx(t), sent.EnvelopeID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestE2ERepeatedTextNeverPings (class 1) puts hostile text into every
// field a person controls — titles and descriptions (command and form),
// updates, notes, resolutions, pinned and edited messages, role DMs, the
// welcome, the list and the timeline, a page's message and PagerDuty's
// names, runbook arguments and output, the post-mortem — and checks that
// none of it reaches Slack as markup, while all of it is shown as text.
func TestE2ERepeatedTextNeverPings(t *testing.T) {
	w := newWorld(t)
	w.Slack.AddUser(fakeslack.User{ID: victim, Name: "victim", RealName: "Vic Tim"})
	announce := w.Slack.AddChannel("inc-announce", fakeslack.BotUserID, alice, bob, carol, dana)

	const pdToken = "pd-trust-token"
	pd := fakepd.New(t, pdToken)
	now := time.Now().UTC()
	pd.AddUser(fakepd.User{ID: "PZED", Name: "<!channel> Zed <@U0VICTIM>", Email: "zed@contractor.example"})
	pd.AddUser(fakepd.User{ID: "PDANA", Name: "Dana", Email: "dana@example.com"})
	pd.AddUser(fakepd.User{ID: "PBOT", Name: "opsbot", Email: "opsbot@example.com"})
	pd.SetSchedule(fakepd.Schedule{ID: "PSCHED01", Name: "payments", Layers: [][]fakepd.Entry{{
		{UserID: "PZED", Start: now.Add(-24 * time.Hour), End: now.Add(24 * time.Hour)}}}})
	pd.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP1", Name: "payments", Rules: []fakepd.Rule{{Level: 1, ScheduleID: "PSCHED01"}}})
	pd.AddService(fakepd.Service{ID: "PSVC001", Name: "Checkout", EscalationPolicyID: "PEP1"})

	dir := t.TempDir()
	rb := "name: say\ndescription: repeat a message\n" +
		"command: [/bin/sh, -c, 'echo \"$1\"; echo \"" + strings.ReplaceAll(evilRaw, "&", "and") + "\"', say, \"{{msg}}\"]\n" +
		"params: {msg: {pattern: \"^[^ ]{1,300}$\", max_length: 300, required: true}}\ntimeout: 1m\n" +
		"allow: {users: [" + alice + "]}\n" +
		"approval: {approvers: {users: [" + carol + "]}}\n"
	if err := os.WriteFile(filepath.Join(dir, "say.yaml"), []byte(rb), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`admins: [%s]
incidents:
  broadcast_channel: %s
  roles: {comms: "Post updates.", scribe: "Pin messages."}
oncall:
  schedules:
    - {id: PSCHED01, name: payments}
pagerduty:
  from_email: opsbot@example.com
  services: {checkout: PSVC001}
`, alice, announce)
	b := w.startBot(t, botOptions{ConfigYAML: cfg, RunbooksDir: dir,
		Env: map[string]string{"PAGERDUTY_TOKEN": pdToken, "PAGERDUTY_API_URL": pd.URL}})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	// Declared by command, and by form.
	w.slash(t, alice, w.General, "/incident", "declare sev2 "+evilTitle)
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	inc := channelNamed(t, w, "inc-1-db-here-sre-victim-https-good-example").ID
	w.slash(t, alice, w.General, "/incident", "")
	w.waitFor(t, "the declare form", func() bool { return len(w.Slack.Views()) == 1 })
	w.acked(t)(w.Slack.SendViewSubmission(fakeslack.ViewSubmission{UserID: alice, CallbackID: "incident.declare",
		Values: map[string]string{"title": "form " + evilRaw, "severity": "sev3", "description": evilRaw + "\n" + evil}}))
	w.ephemeralContaining(t, w.General, alice, "Declared INC-2")

	// Everything people type into an incident.
	// Commands run concurrently once acknowledged: each step waits for
	// its effect.
	w.slash(t, alice, inc, "/incident", "update "+evil)
	w.messageContaining(t, announce, "Follow along in")
	w.slash(t, alice, inc, "/incident", "note "+evil)
	w.ephemeralContaining(t, inc, alice, "Added to the INC-1 timeline")
	w.slash(t, alice, inc, "/incident", "role comms <@"+bob+"|bob>")
	w.messageContaining(t, inc, "is now the comms of INC-1")
	w.slash(t, alice, inc, "/incident", "commander <@"+dana+"|dana>")
	w.messageContaining(t, inc, "is now the commander of INC-1")
	ts := w.Slack.AddMessage(inc, bob, "pinned "+evil, "")
	w.acked(t)(w.Slack.SendReaction(true, bob, "pushpin", inc, ts))
	w.ephemeralContaining(t, inc, bob, "Added to the INC-1 timeline")
	w.acked(t)(w.Slack.EditMessage(inc, ts, "edited "+evil))
	pollRedis(t, "the edit in the timeline", func() bool {
		evs, err := b.App.timeline.Events(testCtx(t), "INC-1")
		return err == nil && len(evs) > 0 && evs[len(evs)-1].Text == "edited "+evil
	})
	w.slash(t, dana, inc, "/incident", "page checkout "+evil)
	w.messageContaining(t, inc, "paged the on-call of *checkout*")
	w.acked(t)(w.Slack.SendEvent(map[string]any{"type": "member_joined_channel", "user": carol, "channel": inc,
		"channel_type": "C", "event_ts": fmt.Sprintf("%d.000100", time.Now().Unix())}))
	w.ephemeralContaining(t, inc, carol, "Welcome to INC-1")

	// A runbook with hostile arguments and output, approved.
	w.slash(t, alice, inc, "/runbook", "run say msg="+strings.ReplaceAll(evil, " ", ""))
	req := w.messageContaining(t, inc, "Approval needed: say")
	w.acked(t)(w.Slack.SendBlockAction(fakeslack.BlockAction{UserID: carol, ChannelID: inc, MessageTS: req.TS,
		ActionID: "runbook.approve", Value: approveValue(t, req.Blocks)}))
	w.messageContaining(t, inc, "finished: exit code 0")

	w.slash(t, alice, inc, "/incident", "timeline")
	w.ephemeralContaining(t, inc, alice, "INC-1 timeline")
	w.slash(t, alice, inc, "/incident", "list")
	w.ephemeralContaining(t, inc, alice, "open incident")
	w.slash(t, dana, inc, "/incident", "resolve "+evil)
	w.messageContaining(t, inc, "INC-1 resolved by")
	w.slash(t, dana, inc, "/incident", "export")
	w.waitFor(t, "the post-mortem", func() bool {
		for _, f := range w.Slack.Files() {
			if strings.HasSuffix(f.Name, "-postmortem.md") && f.Shared {
				return true
			}
		}
		return false
	})

	scanSlack(t, w)

	// Shown as text where the bot repeated it: the broadcast announcement
	// and update, the summary, the DM, the runbook's code blocks.
	w.messageContaining(t, announce, "db @here @sre @victim https://good.example (https://evil.example/x)")
	w.messageContaining(t, announce, "@here @channel @everyone @sre @victim #secret https://good.example (https://evil.example/x)")
	if dm, ok := w.Slack.DMChannel(bob); !ok || len(w.Slack.Messages(dm)) == 0 ||
		!strings.Contains(w.Slack.Messages(dm)[0].Rendered(), "db @here @sre") {
		t.Errorf("role DM to bob missing or without the quoted title")
	}
	w.messageContaining(t, inc, `&lt;!here&gt;&lt;!channel&gt;`) // the argv in a code block
	w.messageContaining(t, inc, `&lt;!channel&gt; &lt;@U0VICTIM&gt;`)
	w.messageContaining(t, inc, `&lt;!channel&gt; Zed`) // PagerDuty's name
}

// TestE2EAuthorization (class 2): envelopes from another workspace are
// refused by every family, guests may follow and add notes but not change
// an incident, and roles go only to active people of this workspace.
func TestE2EAuthorization(t *testing.T) {
	w := newWorld(t)
	w.Slack.AddUser(fakeslack.User{ID: "U0GONE", Name: "gone", Deleted: true})
	w.Slack.AddUser(fakeslack.User{ID: "U0DEPLOY", Name: "deploybot", IsBot: true})
	w.Slack.AddUser(fakeslack.User{ID: "U0OTHER", Name: "otto", TeamID: "T0OTHER"})
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev3 queue backlog")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	inc := channelNamed(t, w, "inc-1-queue-backlog").ID
	summary := w.Slack.Pins(inc)[0]

	foreign := func(command, text string) {
		t.Helper()
		w.acked(t)(w.Slack.SendSlashCommand(fakeslack.SlashCommand{Command: command, Text: text, UserID: alice,
			ChannelID: inc, TeamID: "T0EVIL"}))
		w.ephemeralContaining(t, inc, alice, "serves another Slack workspace")
	}
	before := len(w.Slack.Calls("chat.postMessage", "chat.update", "conversations.create", "conversations.setTopic"))
	for _, c := range [][2]string{{"/incident", "declare sev1 fake outage"}, {"/incident", "sev sev1"},
		{"/incident", "note from elsewhere"}, {"/incident", "timeline"}, {"/oncall", ""}, {"/runbook", "list"}} {
		foreign(c[0], c[1])
	}
	w.acked(t)(w.Slack.SendBlockAction(fakeslack.BlockAction{UserID: alice, ChannelID: inc, MessageTS: summary,
		ActionID: "incident.take_command", Value: "INC-1", TeamID: "T0EVIL"}))
	if got := len(w.Slack.Calls("chat.postMessage", "chat.update", "conversations.create", "conversations.setTopic")); got != before {
		t.Errorf("requests from another workspace changed Slack: %d calls", got-before)
	}

	// A guest follows and notes, and changes nothing else.
	w.slash(t, alice, inc, "/incident", "role scribe <@"+guest+"|gus>")
	w.messageContaining(t, inc, "is now the scribe of INC-1")
	w.slash(t, guest, inc, "/incident", "note customer reports from the partner side")
	w.ephemeralContaining(t, inc, guest, "Added to the INC-1 timeline")
	for _, text := range []string{"sev sev1", "commander <@" + guest + "|gus>", "resolve done", "update all good", "declare sev1 another"} {
		w.slash(t, guest, inc, "/incident", text)
	}
	w.acked(t)(w.Slack.SendBlockAction(fakeslack.BlockAction{UserID: guest, ChannelID: inc, MessageTS: summary,
		ActionID: "incident.resolve", Value: "INC-1"}))
	w.waitFor(t, "six guest refusals", func() bool {
		n := 0
		for _, e := range w.Slack.Ephemerals(inc, guest) {
			if strings.Contains(e.Rendered(), "needs a full member") {
				n++
			}
		}
		return n == 6
	})
	if !strings.Contains(w.Slack.Topic(inc), "SEV3 | investigating | commander <@"+alice+">") {
		t.Errorf("topic %q changed after the guest's attempts", w.Slack.Topic(inc))
	}
	if len(w.Slack.Views()) != 0 {
		t.Errorf("the guest opened a form")
	}

	for _, tt := range []struct{ who, want string }{
		{"U0GONE", "deactivated"}, {"U0DEPLOY", "is a bot"}, {"U0OTHER", "another workspace"},
	} {
		w.slash(t, alice, inc, "/incident", "role comms <@"+tt.who+">")
		w.ephemeralContaining(t, inc, alice, tt.want)
	}
}

// TestE2ECraftedInteractions (class 3): a click carrying another incident,
// or on a message that is not the incident's summary, and a form whose
// metadata names another incident change nothing; resolving through the
// form posts exactly what /incident resolve posts.
func TestE2ECraftedInteractions(t *testing.T) {
	w := newWorld(t)
	clock := bottest.NewClock(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	w.startBot(t, botOptions{Clock: clock})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev3 first thing")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	one := channelNamed(t, w, "inc-1-first-thing").ID
	w.slash(t, alice, w.General, "/incident", "declare sev3 other thing")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-2")
	two := channelNamed(t, w, "inc-2-other-thing").ID
	sumOne, sumTwo := w.Slack.Pins(one)[0], w.Slack.Pins(two)[0]
	bobsMessage := w.Slack.AddMessage(one, bob, "just chatting", "")

	for _, a := range []fakeslack.BlockAction{
		{UserID: bob, ChannelID: one, MessageTS: sumOne, ActionID: "incident.take_command", Value: "INC-2"},
		{UserID: bob, ChannelID: one, MessageTS: bobsMessage, ActionID: "incident.take_command", Value: "INC-1"},
		{UserID: bob, ChannelID: w.General, MessageTS: sumOne, ActionID: "incident.take_command", Value: "INC-1"},
		{UserID: bob, ChannelID: two, MessageTS: sumTwo, ActionID: "incident.resolve", Value: "INC-1"},
	} {
		w.acked(t)(w.Slack.SendBlockAction(a))
	}
	w.waitFor(t, "four refusals", func() bool {
		n := 0
		for _, ch := range []string{one, two, w.General} {
			for _, e := range w.Slack.Ephemerals(ch, bob) {
				if strings.Contains(e.Rendered(), "not on this incident's pinned summary") {
					n++
				}
			}
		}
		return n == 4
	})
	for _, ch := range []string{one, two} {
		if topic := w.Slack.Topic(ch); !strings.Contains(topic, "commander <@"+alice+">") {
			t.Errorf("topic of %s = %q; the commander changed", ch, topic)
		}
	}
	if len(w.Slack.Views()) != 0 {
		t.Errorf("a crafted click opened a form")
	}

	// A genuine Resolve form for INC-2, submitted with INC-1's key instead.
	w.acked(t)(w.Slack.SendBlockAction(fakeslack.BlockAction{UserID: bob, ChannelID: two, MessageTS: sumTwo,
		ActionID: "incident.resolve", Value: "INC-2"}))
	w.waitFor(t, "the resolve form", func() bool { return len(w.Slack.Views()) == 1 })
	genuine := w.Slack.Views()[0].PrivateMetadata
	for _, md := range []string{"INC-1", strings.Replace(genuine, "INC-2|"+two, "INC-1|"+one, 1)} {
		w.acked(t)(w.Slack.SendViewSubmission(fakeslack.ViewSubmission{UserID: bob, CallbackID: "incident.resolve",
			PrivateMetadata: md, Values: map[string]string{"summary": "forged"}}))
	}
	dm := ""
	w.waitFor(t, "two form refusals", func() bool {
		dm, _ = w.Slack.DMChannel(bob)
		n := 0
		for _, m := range w.Slack.Messages(dm) {
			if strings.Contains(m.Rendered(), "not opened by this bot for you") {
				n++
			}
		}
		return n == 2
	})
	for _, ch := range []string{one, two} {
		for _, m := range w.Slack.Messages(ch) {
			if strings.Contains(m.Rendered(), "resolved by") {
				t.Fatalf("a forged form resolved an incident: %q", m.Rendered())
			}
		}
	}

	// The same resolution, by command in INC-1 and by the form in INC-2,
	// posts the same message.
	w.slash(t, bob, one, "/incident", "resolve rolled back the deploy")
	w.acked(t)(w.Slack.SendViewSubmission(fakeslack.ViewSubmission{UserID: bob, CallbackID: "incident.resolve",
		Values: map[string]string{"summary": "rolled back the deploy"}}))
	byCommand := w.messageContaining(t, one, "INC-1 resolved by")
	byForm := w.messageContaining(t, two, "INC-2 resolved by")
	norm := func(m fakeslack.Message) string {
		return strings.ReplaceAll(m.Text+"\n"+string(m.Blocks), "INC-2", "INC-1")
	}
	if a, b := norm(byCommand), norm(byForm); a != b {
		t.Errorf("the form posted\n%s\nthe command posted\n%s", b, a)
	}
}

// TestE2EExportSafeToRender (class 4): hostile Markdown, HTML, links and
// control characters recorded through Slack come out of the uploaded
// post-mortem as text, and out of `opsbot export` without control
// characters; a title cannot carry a line break or an escape sequence.
func TestE2EExportSafeToRender(t *testing.T) {
	w := newWorld(t)
	w.Slack.AddUser(fakeslack.User{ID: "U0EVE", Name: "eve", RealName: "<img src=x onerror=alert(1)> | Eve"})
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev2 title \x1b[2J\a")
	w.ephemeralContaining(t, w.General, alice, "one line of text")
	w.slash(t, alice, w.General, "/incident", "declare sev2 <javascript:alert(1)|checkout> # down")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	inc := channelNamed(t, w, "inc-1-checkout-down").ID
	// As Slack delivers it: what people type is entity-escaped.
	w.slash(t, alice, inc, "/incident", "note # Owned\n&lt;script&gt;alert(1)&lt;/script&gt;\n[x](javascript:alert(2))\n| a | b |")
	w.ephemeralContaining(t, inc, alice, "Added to the INC-1 timeline")
	w.slash(t, alice, inc, "/incident", "note red \x1b[31m bell \a")
	w.ephemeralContaining(t, inc, alice, "control characters")
	ts := w.Slack.AddMessage(inc, "U0EVE", "line one\r# heading from a CR \x1b]0;title\a <javascript:alert(3)|docs>", "")
	w.acked(t)(w.Slack.SendReaction(true, alice, "pushpin", inc, ts))
	w.ephemeralContaining(t, inc, alice, "at the message's own time")
	w.slash(t, alice, inc, "/incident", "resolve ## done\n&lt;iframe src=javascript:alert(4)&gt;")
	w.messageContaining(t, inc, "INC-1 resolved by")
	w.slash(t, alice, inc, "/incident", "export")
	var md []byte
	w.waitFor(t, "the post-mortem", func() bool {
		for _, f := range w.Slack.Files() {
			if f.Name == "inc-1-postmortem.md" && f.Shared {
				md = f.Content
				return true
			}
		}
		return false
	})
	checkMarkdown(t, md)
	for _, want := range []string{`\# Owned`, `\<script\>`, `checkout (javascript\:alert(1))`, `\<img src=x onerror=alert(1)\> \| Eve`} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("export lacks %q (the text, escaped)", want)
		}
	}

	opts := w.Redis.(*goredis.Client).Options()
	env := map[string]string{"REDIS_URL": fmt.Sprintf("redis://%s/%d", opts.Addr, opts.DB),
		"SLACK_APP_TOKEN": w.Slack.AppToken(), "SLACK_BOT_TOKEN": w.Slack.BotToken(), "SLACK_API_URL": w.Slack.APIURL()}
	for _, format := range []string{"md", "json"} {
		var out, errOut strings.Builder
		if code := run([]string{"export", "INC-1", "--format", format}, func(k string) string { return env[k] },
			strings.NewReader(""), &out, &errOut); code != 0 {
			t.Fatalf("opsbot export --format %s: exit %d: %s", format, code, errOut.String())
		}
		if i := strings.IndexAny(out.String(), "\x1b\a\x00\r\x7f"); i >= 0 {
			t.Errorf("opsbot export --format %s prints control character %q", format, out.String()[i])
		}
		if format == "md" {
			checkMarkdown(t, []byte(out.String()))
		}
	}
}

// checkMarkdown parses md as GitHub-flavoured CommonMark: no raw HTML, no
// link or image to a scheme other than http(s) and mailto, and only the
// template's headings.
func checkMarkdown(t *testing.T, md []byte) {
	t.Helper()
	doc := goldmark.New(goldmark.WithExtensions(extension.GFM)).Parser().Parse(text.NewReader(md))
	headings := 0
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.HTMLBlock, *ast.RawHTML, *ast.Image:
			t.Errorf("export has a %s node", n.Kind())
		case *ast.Link:
			if u, err := url.Parse(string(n.Destination)); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
				t.Errorf("export links to %q", n.Destination)
			}
		case *ast.AutoLink:
			if u := string(n.URL(md)); n.AutoLinkType == ast.AutoLinkURL && !regexp.MustCompile(`^(?i)(https?://|www\.)`).MatchString(u) {
				t.Errorf("export autolinks %q", u)
			}
		case *ast.Heading:
			headings++
		}
		return ast.WalkContinue, nil
	})
	if headings != 16 {
		t.Errorf("export has %d headings, want the template's 16\n---\n%s", headings, md)
	}
}

// TestE2ELimits (class 9): one person's declarations are limited across
// replicas, with a clear refusal; texts over the byte cap are refused.
func TestE2ELimits(t *testing.T) {
	w := newWorld(t)
	cfg := w.defaultConfig() + "  limits: {declarations: 3 per 10m, text_bytes: 512}\n"
	w.startBot(t, botOptions{ConfigYAML: cfg})
	w.startBot(t, botOptions{ConfigYAML: cfg})
	if err := w.Slack.WaitConnections(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		w.slash(t, alice, w.General, "/incident", fmt.Sprintf("declare sev1 outage %d", i))
		w.ephemeralContaining(t, w.General, alice, fmt.Sprintf("Declared INC-%d", i))
	}
	w.slash(t, alice, w.General, "/incident", "declare sev1 outage 4")
	w.ephemeralContaining(t, w.General, alice, "You have declared 3 incidents in the last 10m")
	if n := len(w.Slack.Calls("conversations.create")); n != 3 {
		t.Errorf("%d channels created, want 3", n)
	}
	w.slash(t, bob, w.General, "/incident", "declare sev3 something else")
	w.ephemeralContaining(t, w.General, bob, "Declared INC-4")

	inc := channelNamed(t, w, "inc-1-outage-1").ID
	w.slash(t, alice, inc, "/incident", "note "+strings.Repeat("x", 513))
	w.ephemeralContaining(t, inc, alice, "513 bytes; keep it to 512")
}

// TestE2ERepeatedTextNeverPingsInFollowupsAndCover (class 1, for the
// families built since): hostile markup in a follow-up (its message, both
// listings, the timeline, the Done confirmation, the post-mortem) and in a
// cover request's reason (the request, what taking it posts, the handoff
// and the read-in that list the incident and the follow-up due) reaches
// Slack only as text.
func TestE2ERepeatedTextNeverPingsInFollowupsAndCover(t *testing.T) {
	cw := newCoverWorld(t)
	cw.Slack.AddUser(fakeslack.User{ID: victim, Name: "victim", RealName: "Vic Tim"})

	cw.slash(t, alice, cw.General, "/incident", "declare sev2 "+evilTitle)
	cw.ephemeralContaining(t, cw.General, alice, "Declared INC-1")
	inc := channelNamed(t, cw.world, "inc-1-db-here-sre-victim-https-good-example").ID
	cw.slash(t, alice, inc, "/incident", "followup "+evil+" <@"+bob+"|bob> due 2026-12-01")
	fu := cw.messageContaining(t, inc, "Follow-up #1 of INC-1")
	if !strings.Contains(fu.Rendered(), "@here @channel @everyone @sre @victim #secret https://good.example (https://evil.example/x)") {
		t.Errorf("follow-up message does not show the text as text:\n%s", fu.Rendered())
	}
	cw.slash(t, alice, inc, "/incident", "followups")
	cw.ephemeralContaining(t, inc, alice, "Follow-ups of INC-1")
	cw.slash(t, bob, cw.General, "/incident", "followups mine")
	cw.ephemeralContaining(t, cw.General, bob, "Your open follow-ups")
	cw.slash(t, alice, inc, "/incident", "timeline")
	cw.ephemeralContaining(t, inc, alice, "INC-1 timeline")
	// Refusals repeat what was typed as text too.
	cw.slash(t, alice, inc, "/incident", "followup fix it due 1<!here>")
	cw.ephemeralContaining(t, inc, alice, "`1@here` is not a date")
	cw.slash(t, alice, inc, "/incident", "stats <!channel>")
	cw.ephemeralContaining(t, inc, alice, "`@channel` is not a window I report on")
	cw.slash(t, alice, cw.General, "/oncall", "cover <!everyone> today 19:00 +1h")
	cw.ephemeralContaining(t, cw.General, alice, "I do not follow a schedule called `@everyone`")
	for _, c := range [][3]string{
		{"/incident", "sev <!here>", "Unknown severity `@here`"},
		{"/incident", "status <!channel>", "Unknown status `@channel`"},
		{"/incident", "role <!subteam^S0SRE|@sre> <@" + bob + "|bob>", "Unknown role `@sre`"},
		{"/incident", "page <@U0VICTIM|victim>", "Unknown service `@victim`"},
		{"/incident", "export <https://evil.example/x|https://good.example>", "Unknown format `https://good.example (https://evil.example/x)`"},
		{"/runbook", "run <!everyone>", "There is no runbook called `@everyone`"},
	} {
		cw.slash(t, alice, inc, c[0], c[1])
		cw.ephemeralContaining(t, inc, alice, c[2])
	}

	cw.slash(t, alice, cw.General, "/oncall", "cover payments today 19:00 +4h "+evil)
	req := cw.messageContaining(t, cw.Handoff, "needs someone on call")
	if !strings.Contains(req.Rendered(), "Reason: @here @channel @everyone @sre @victim #secret https://good.example (https://evil.example/x)") {
		t.Errorf("cover request does not show the reason as text:\n%s", req.Rendered())
	}
	cw.click(t, bob, req, "oncall.cover.take")
	cw.messageContaining(t, cw.Handoff, "took the cover")
	// The cover starts: the handoff and the read-in list the incident and
	// the follow-up due.
	cw.Clock.Set(time.Date(2026, 12, 1, 18, 0, 30, 0, time.UTC))
	cw.syncAll(t)
	handoff := cw.messageContaining(t, cw.Handoff, "hands over to <@"+bob+">")
	for _, want := range []string{"INC-1 db @here @sre @victim", "Follow-ups due this shift", "#1 @here @channel"} {
		if !strings.Contains(handoff.Rendered(), want) {
			t.Errorf("handoff lacks %q:\n%s", want, handoff.Rendered())
		}
	}

	cw.slash(t, bob, inc, "/incident", "followup done 1")
	cw.messageContaining(t, inc, "marked follow-up #1 of INC-1 done")
	cw.slash(t, alice, inc, "/incident", "export")
	cw.waitFor(t, "the post-mortem", func() bool {
		for _, f := range cw.Slack.Files() {
			if strings.HasSuffix(f.Name, "-postmortem.md") && f.Shared {
				return true
			}
		}
		return false
	})
	scanSlack(t, cw.world)
}
