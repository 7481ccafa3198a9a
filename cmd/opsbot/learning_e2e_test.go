package main

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/integrations/github/fakegh"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// learningWorld is the incident test workspace plus a fake GitHub with the
// repository follow-ups go to, and two replicas of the bot on one Redis and
// one injected clock (their schedulers are driven by the test).
func learningWorld(t *testing.T, start time.Time) (*world, string, *fakegh.Server, *bottest.Clock, *testBot, *testBot) {
	t.Helper()
	w, announce, fg, clk, b1, b2, _ := learningWorldWith(t, start, false)
	return w, announce, fg, clk, b1, b2
}

// learningWorldWith is learningWorld, with PagerDuty (the fake, where
// /incident page checkout pages the service PSVC001) when withPD is set.
func learningWorldWith(t *testing.T, start time.Time, withPD bool) (*world, string, *fakegh.Server, *bottest.Clock, *testBot, *testBot, *fakepd.Server) {
	t.Helper()
	w, announce, cfg := incidentWorld(t)
	clk := bottest.NewClock(start)
	fg := fakegh.New(t, fakegh.WithClock(clk.Now))
	fg.AddRepo("acme/ops")
	cfg += fmt.Sprintf("followups:\n  github_repo: acme/ops\n  github_api_url: %s\n  github_labels: [incident-follow-up]\n", fg.URL())
	env := map[string]string{"GITHUB_TOKEN": fg.Token()}
	var pd *fakepd.Server
	if withPD {
		const token = "pd-learning-token"
		pd = fakepd.New(t, token)
		pd.AddUser(fakepd.User{ID: "PBOT", Name: "opsbot", Email: "opsbot@example.com"})
		pd.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP1", Name: "checkout"})
		pd.AddService(fakepd.Service{ID: "PSVC001", Name: "Checkout", EscalationPolicyID: "PEP1"})
		cfg += "pagerduty:\n  from_email: opsbot@example.com\n  services: {checkout: PSVC001}\n"
		env["PAGERDUTY_TOKEN"], env["PAGERDUTY_API_URL"] = token, pd.URL
	}
	opts := botOptions{ConfigYAML: cfg, Env: env, Clock: clk, NoBackground: true}
	b1 := w.startBot(t, opts)
	b2 := w.startBot(t, opts)
	if err := w.Slack.WaitConnections(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	return w, announce, fg, clk, b1, b2, pd
}

// dmsTo returns the bot's messages in its DM with user.
func dmsTo(w *world, user string) []fakeslack.Message {
	dm, ok := w.Slack.DMChannel(user)
	if !ok {
		return nil
	}
	return w.Slack.Messages(dm)
}

// TestE2EFollowupToGitHubAndBack walks a follow-up through fake Slack, a
// real Redis and the fake GitHub: added with an owner and a due date, an
// issue opened, in the export's action items, one reminder DM when due
// although two replicas tick, Done in Slack closing the issue, an issue
// closed on GitHub marking its follow-up done, and a GitHub outage that
// keeps the follow-up and opens the issue later.
func TestE2EFollowupToGitHubAndBack(t *testing.T) {
	// Sunday 2026-03-01 10:00 UTC; incidents.timezone is Europe/Berlin.
	w, _, fg, clk, b1, b2 := learningWorld(t, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ctx := testCtx(t)

	w.slash(t, alice, w.General, "/incident", "declare sev2 Checkout errors")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	ch := channelNamed(t, w, "inc-1-checkout-errors")

	// A follow-up with owner and due date; its text tries to ping.
	w.slash(t, alice, ch.ID, "/incident", "followup add retries to <!channel> the checkout client <@"+bob+"|bob> due 2026-03-03")
	fu := w.messageContaining(t, ch.ID, "Follow-up #1 of INC-1")
	for _, want := range []string{"add retries to @channel the checkout client", "<@" + bob + ">", "2026-03-03", "#1"} {
		if !strings.Contains(fu.Rendered(), want) {
			t.Errorf("follow-up message lacks %q:\n%s", want, fu.Rendered())
		}
	}
	if strings.Contains(fu.Rendered(), "<!channel>") {
		t.Errorf("follow-up message repeats a broadcast mention:\n%s", fu.Rendered())
	}
	issues := fg.Issues("acme/ops")
	if len(issues) != 1 || !strings.HasPrefix(issues[0].Title, "INC-1 follow-up #1: add retries to @channel") ||
		!strings.Contains(issues[0].Body, "<!-- opsbot:followup INC-1/1 -->") || !strings.Contains(issues[0].Body, "Bob Example") ||
		strings.Join(issues[0].Labels, ",") != "incident-follow-up" {
		t.Fatalf("issues = %+v, want one for the follow-up", issues)
	}

	// The export's action items.
	doc, err := b1.App.incidents.Export(ctx, "INC-1", "md")
	if err != nil {
		t.Fatal(err)
	}
	row := "| 1 | add retries to @channel the checkout client | @Bob Example | 2026-03-03 | open | [\\#1](" + fg.URL()
	if !strings.Contains(string(doc), strings.TrimSuffix(row, "/")) {
		t.Errorf("export lacks the action item %q:\n%s", row, doc)
	}

	// Due: 09:00 in Berlin on the 3rd is 08:00 UTC. Both replicas tick at
	// once, twice: one DM.
	tickBoth := func() {
		var wg sync.WaitGroup
		for _, b := range []*testBot{b1, b2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := b.App.incidents.FollowupTick(ctx); err != nil {
					t.Errorf("tick: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	clk.Set(time.Date(2026, 3, 3, 7, 59, 0, 0, time.UTC))
	tickBoth()
	if n := len(dmsTo(w, bob)); n != 0 {
		t.Fatalf("%d DMs before the reminder time", n)
	}
	clk.Set(time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC))
	tickBoth()
	tickBoth()
	var reminders []fakeslack.Message
	for _, m := range dmsTo(w, bob) {
		if strings.Contains(m.Rendered(), "Follow-up due: INC-1 #1") {
			reminders = append(reminders, m)
		}
	}
	if len(reminders) != 1 {
		t.Fatalf("%d reminder DMs to bob, want exactly 1 across two replicas", len(reminders))
	}
	if !strings.Contains(reminders[0].Rendered(), "is due today") {
		t.Errorf("reminder = %s", reminders[0].Rendered())
	}

	// Done from the reminder's button: done here, closed on GitHub.
	dm, _ := w.Slack.DMChannel(bob)
	sent, err := w.Slack.SendBlockAction(fakeslack.BlockAction{UserID: bob, ChannelID: dm, MessageTS: reminders[0].TS,
		ActionID: incident.ActionFollowupDone, Value: buttonValue(reminders[0].Blocks, incident.ActionFollowupDone)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Slack.WaitAck(ctx, sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "issue #1 closed", func() bool { is, _ := fg.Issue("acme/ops", 1); return is.State == "closed" })
	w.waitFor(t, "follow-up message shown done", func() bool {
		m, _ := w.Slack.Message(ch.ID, fu.TS)
		return strings.Contains(m.Rendered(), "Follow-up #1 of INC-1 (done)")
	})
	doc, _ = b2.App.incidents.Export(ctx, "INC-1", "md")
	if !strings.Contains(string(doc), "| done 2026-03-03 by @Bob Example |") {
		t.Errorf("export does not show the follow-up done:\n%s", doc)
	}

	// Closed on GitHub: done in opsbot on the next sync.
	w.slash(t, alice, ch.ID, "/incident", "followup write the post-mortem <@"+carol+"|carol>")
	w.messageContaining(t, ch.ID, "Follow-up #2 of INC-1")
	fg.SetState("acme/ops", 2, "closed")
	clk.Add(6 * time.Minute)
	tickBoth()
	w.messageContaining(t, ch.ID, "Follow-up #2 of INC-1 was closed on GitHub")

	// GitHub down: the follow-up is kept, the person told, the issue opened
	// by a later sync, once.
	fg.Fail(fakegh.Fault{Kind: fakegh.ServerError, Status: 503, Method: "POST"})
	w.slash(t, alice, ch.ID, "/incident", "followup alert on checkout latency")
	w.ephemeralContaining(t, ch.ID, alice, "Follow-up #3 is saved, but GitHub acme/ops did not answer")
	if n := len(fg.Issues("acme/ops")); n != 2 {
		t.Fatalf("%d issues while GitHub failed, want 2", n)
	}
	clk.Add(30 * time.Second)
	tickBoth()
	if n := len(fg.Issues("acme/ops")); n != 2 {
		t.Fatalf("%d issues before the back-off, want 2", n)
	}
	clk.Add(2 * time.Minute)
	tickBoth()
	tickBoth()
	if is := fg.Issues("acme/ops"); len(is) != 3 || !strings.Contains(is[2].Title, "INC-1 follow-up #3") {
		t.Fatalf("issues after GitHub is back = %+v, want #3 for follow-up 3", is)
	}
	w.slash(t, alice, ch.ID, "/incident", "followups")
	list := w.ephemeralContaining(t, ch.ID, alice, "Follow-ups of INC-1: 1 open of 3")
	if !strings.Contains(list.Rendered(), "issue #3") {
		t.Errorf("listing = %s", list.Rendered())
	}
}

// TestE2EDrillPagesNobodyAndStaysOutOfStats declares a drill and a real
// incident through fake Slack: the drill's channel, messages and topic say
// it is a drill, /incident page pages nobody, nothing is broadcast, and it
// is left out of /incident list and /incident stats, whose chart arrives
// as a PNG in the asker's DMs.
func TestE2EDrillPagesNobodyAndStaysOutOfStats(t *testing.T) {
	w, announce, _, clk, b1, _, pd := learningWorldWith(t, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), true)
	before := len(w.Slack.Messages(announce))
	w.slash(t, alice, w.General, "/incident", "declare --drill sev1 Region failover")
	w.ephemeralContaining(t, w.General, alice, "DRILL")
	ch := channelNamed(t, w, "drill-1-region-failover")
	if topic := w.Slack.Topic(ch.ID); !strings.HasPrefix(topic, "DRILL (not a real incident)") {
		t.Errorf("topic = %q", topic)
	}
	summary, _ := w.Slack.Message(ch.ID, w.Slack.Pins(ch.ID)[0])
	if !strings.Contains(summary.Rendered(), ":test_tube: DRILL") {
		t.Errorf("summary not marked as a drill:\n%s", summary.Rendered())
	}
	w.slash(t, alice, ch.ID, "/incident", "page checkout database is down")
	w.messageContaining(t, ch.ID, "nobody was paged: INC-1 is a drill")
	w.slash(t, alice, ch.ID, "/incident", "update failing over to eu-central")
	w.messageContaining(t, ch.ID, "failing over to eu-central")
	for _, m := range w.Slack.Messages(ch.ID) {
		if m.BotID != "" && !strings.Contains(m.Rendered(), "DRILL") {
			t.Errorf("a bot message in the drill channel is not marked:\n%s", m.Rendered())
		}
	}
	if n := pd.Requests("POST /incidents"); n != 0 {
		t.Errorf("a drill's /incident page reached PagerDuty %d time(s): %+v", n, pd.Incidents())
	}
	clk.Add(30 * time.Minute)
	w.slash(t, alice, ch.ID, "/incident", "resolve failover worked")
	w.messageContaining(t, ch.ID, "INC-1 resolved")
	if after := len(w.Slack.Messages(announce)); after != before {
		t.Errorf("%d messages in the broadcast channel for a drill", after-before)
	}

	// A real incident for comparison: the same page reaches PagerDuty.
	w.slash(t, bob, w.General, "/incident", "declare sev2 Search latency")
	w.messageContaining(t, announce, "INC-2 declared: Search latency")
	w.slash(t, bob, channelNamed(t, w, "inc-2-search-latency").ID, "/incident", "page checkout search is slow")
	w.waitFor(t, "the real incident's page at PagerDuty", func() bool { return len(pd.Incidents()) == 1 })

	w.slash(t, carol, w.General, "/incident", "list")
	list := w.ephemeralContaining(t, w.General, carol, "open incident")
	if strings.Contains(list.Rendered(), "INC-1") || !strings.Contains(list.Rendered(), "INC-2") {
		t.Errorf("list = %s, want INC-2 only", list.Rendered())
	}

	st, err := b1.App.incidents.Stats(testCtx(t), 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 1 || st.Drills != 1 || st.BySeverity[0].Count != 0 || st.BySeverity[1].Count != 1 {
		t.Errorf("stats total %d drills %d sev1 %d sev2 %d, want the drill left out", st.Total, st.Drills,
			st.BySeverity[0].Count, st.BySeverity[1].Count)
	}
	w.slash(t, carol, w.General, "/incident", "stats 7d")
	reply := w.ephemeralContaining(t, w.General, carol, "Incidents, last 7 days")
	if !strings.Contains(reply.Rendered(), "1 drill(s) left out") || !strings.Contains(reply.Rendered(), "in your direct messages") {
		t.Errorf("stats reply = %s", reply.Rendered())
	}
	var chart []byte
	w.waitFor(t, "stats chart in carol's DMs", func() bool {
		dm, _ := w.Slack.DMChannel(carol)
		for _, f := range w.Slack.Files() {
			if f.Channel == dm && f.Name == "incident-stats-7d.png" {
				chart = f.Content
				return true
			}
		}
		return false
	})
	img, err := png.Decode(bytes.NewReader(chart))
	if err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != incident.ChartWidth || b.Dy() != incident.ChartHeight {
		t.Errorf("chart %dx%d, want %dx%d", b.Dx(), b.Dy(), incident.ChartWidth, incident.ChartHeight)
	}
	w.slash(t, carol, w.General, "/incident", "stats 14d")
	w.ephemeralContaining(t, w.General, carol, "`14d` is not a window I report on: use 7d, 30d or 90d.")
}

// `opsbot stats` prints the /incident stats report from Redis for scripts.
func TestStatsSubcommand(t *testing.T) {
	w := newWorld(t)
	w.startBot(t, botOptions{})
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	w.slash(t, alice, w.General, "/incident", "declare sev2 disk full on db-3")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	w.slash(t, alice, w.General, "/incident", "declare --drill sev1 tabletop")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-2")
	opts := w.Redis.(*goredis.Client).Options()
	env := map[string]string{"REDIS_URL": fmt.Sprintf("redis://%s/%d", opts.Addr, opts.DB)}
	chart := filepath.Join(t.TempDir(), "stats.png")
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     []string
	}{
		{"text", []string{"stats"}, env, 0, []string{"Incidents, last 30 days", "1 incident(s), 1 still open. 1 drill(s) left out.", "sev2         1"}},
		{"json with a chart", []string{"stats", "--since", "7d", "--format", "json", "--chart", chart}, env, 0,
			[]string{`"incidents": 1`, `"drills_left_out": 1`, `"severity": "sev2"`}},
		{"csv", []string{"stats", "--since=90d", "--format=csv"}, env, 0, []string{"severity,count,open,detect_n", "sev2,1,1,0,,"}},
		{"window not allowed", []string{"stats", "--since", "1y"}, env, 2, []string{"--since \"1y\": use 7d, 30d or 90d"}},
		{"format not allowed", []string{"stats", "--format", "xml"}, env, 2, []string{"text, json or csv"}},
		{"no redis", []string{"stats"}, map[string]string{}, 1, []string{"set REDIS_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run(tt.args, func(k string) string { return tt.env[k] }, strings.NewReader(""), &out, &errOut)
			for _, want := range tt.want {
				if code != tt.wantCode || !strings.Contains(out.String()+errOut.String(), want) {
					t.Errorf("exit %d, output %q / %q; want exit %d containing %q", code, out.String(), errOut.String(), tt.wantCode, want)
				}
			}
		})
	}
	raw, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Errorf("--chart wrote no PNG: %v", err)
	}
}
