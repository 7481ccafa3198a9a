package incident

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/github"
	"github.com/opsbot/opsbot/integrations/github/fakegh"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// learnHarness is the harness with the follow-up store on the same Redis,
// and optionally a GitHub tracker against a fake GitHub.
type learnHarness struct {
	*harness
	fups *redis.Followups
	gh   *fakegh.Server
	reg  *prometheus.Registry
}

const ghRepoName = "acme/ops"

func newLearnHarness(t *testing.T, withGitHub bool, labels ...string) *learnHarness {
	t.Helper()
	rdb := redistest.New(t)
	fups, err := redis.NewFollowups(rdb)
	if err != nil {
		t.Fatal(err)
	}
	clock := bottest.NewClock(t0)
	lh := &learnHarness{fups: fups, reg: prometheus.NewRegistry()}
	var tracker bot.Tracker
	if withGitHub {
		lh.gh = fakegh.New(t, fakegh.WithClock(clock.Now))
		lh.gh.AddRepo(ghRepoName)
		c, err := github.New(github.Config{Token: lh.gh.Token(), Repo: ghRepoName, APIURL: lh.gh.URL(), Labels: labels,
			Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		tracker = c
	}
	lh.harness = newHarnessOn(t, rdb, clock, bottest.NewChat(), func(c *Config) {
		c.Followups, c.Tracker, c.Registerer = fups, tracker, lh.reg
		c.Pager = &fakePager{}
		c.Settings.Timezone = time.UTC
	})
	return lh
}

func (h *learnHarness) followup(key string, n int) bot.Followup {
	h.t.Helper()
	f, err := h.fups.Get(h.ctx(), key, n)
	if err != nil {
		h.t.Fatalf("follow-up %s/%d: %v", key, n, err)
	}
	return f
}

func (h *learnHarness) dms(user string) []bot.Message {
	return h.chat.PostsIn(user)
}

// TestFollowupBadInput: every refusal is a clear message and leaves nothing
// behind: no follow-up, no timeline event, no message.
func TestFollowupBadInput(t *testing.T) {
	h := newLearnHarness(t, false)
	h.chat.AddUser(bot.User{ID: "UGUEST", Name: "gus", IsRestricted: true})
	h.chat.AddUser(bot.User{ID: "UGONE", Name: "gone", Deleted: true})
	inc := h.declare("sev2 checkout errors")
	ch := inc.Channel
	tests := []struct {
		name, channel, text, want string
	}{
		{name: "no text", text: "followup", want: "Please write what should be done"},
		{name: "only an owner", text: "followup <@UBOB|bob>", want: "Please write what should be done"},
		{name: "unknown owner", text: "followup fix it <@UNOBODY|ghost>", want: "I can't find <@UNOBODY> in this workspace"},
		{name: "a bot as owner", text: "followup fix it <@UBOT|deploybot>", want: "is a bot; a follow-up needs a person"},
		{name: "a guest as owner", text: "followup fix it <@UGUEST|gus>", want: "is a guest in this workspace and could not mark the follow-up done"},
		{name: "a deactivated owner", text: "followup fix it <@UGONE|gone>", want: "account is deactivated"},
		{name: "bare name", text: "followup fix it @bob", want: "I need a real mention"},
		{name: "two owners", text: "followup fix it <@UBOB|bob> <@UCAROL|carol>", want: "one owner"},
		{name: "date that does not exist", text: "followup fix it due 2026-02-30", want: "`2026-02-30` is not a date: write the due date as YYYY-MM-DD"},
		{name: "date in another form", text: "followup fix it due 12/01/2026", want: "`12/01/2026` is not a date"},
		{name: "date in the past", text: "followup fix it due 2026-11-21", want: "2026-11-21 is in the past (today is 2026-11-22)"},
		{name: "date years away", text: "followup fix it due 2031-01-01", want: "more than three years away"},
		{name: "two due dates", text: "followup fix it due 2026-12-01 due 2026-12-02", want: "one due date"},
		{name: "too long", text: "followup " + strings.Repeat("x", FollowupTextMax+1), want: "keep it to 500"},
		{name: "control characters", text: "followup fix \x1b[2Jit\x07 <@UBOB|bob>", want: "contains control characters"},
		{name: "a bidirectional override", text: "followup fix \u202eti", want: "contains control characters"},
		{name: "outside an incident channel", channel: "CGENERAL", text: "followup fix it", want: "only works in an incident channel"},
		{name: "done of a missing one", text: "followup done 7", want: "INC-1 has no follow-up #7"},
	}
	posts := len(h.chat.PostsIn(ch))
	events := len(h.events(inc.Key))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.channel
			if c == "" {
				c = ch
			}
			_, err := h.cmd("UALICE", c, tt.text)
			var ue *bot.UserError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.want) {
				t.Fatalf("got %v, want a user error containing %q", err, tt.want)
			}
		})
	}
	if fs, _ := h.fups.ForIncident(h.ctx(), inc.Key); len(fs) != 0 {
		t.Errorf("refused input stored %d follow-ups", len(fs))
	}
	if n := len(h.chat.PostsIn(ch)); n != posts {
		t.Errorf("refused input posted %d messages", n-posts)
	}
	if n := len(h.events(inc.Key)); n != events {
		t.Errorf("refused input recorded %d events", n-events)
	}
}

func TestFollowupLifecycleWithReminders(t *testing.T) {
	h := newLearnHarness(t, false)
	inc := h.declare("sev2 checkout errors")
	// Slack markup in the text: repeated, it pings nobody.
	h.must("UALICE", inc.Channel, "followup tell <!here> and <!subteam^S1|@sre> about <https://x.example|the fix>   <@UBOB|bob>   due 2026-11-24")
	f := h.followup(inc.Key, 1)
	if f.Text != "tell <!here> and <!subteam^S1|@sre> about <https://x.example|the fix>" || f.Owner != "UBOB" || f.Due != "2026-11-24" ||
		!f.DueAt.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)) || !f.RemindAt.Equal(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("stored %+v", f)
	}
	posts := h.chat.PostsIn(inc.Channel)
	msg := posts[len(posts)-1]
	if msg.Text != "tell @here and @sre about the fix (https://x.example)" || len(msg.Buttons) != 1 || msg.Buttons[0].Value != "INC-1/1" {
		t.Errorf("follow-up message = %+v", msg)
	}
	if f.Message.TS == "" {
		t.Error("the follow-up's message is not remembered")
	}
	evs := h.events(inc.Key)
	if last := evs[len(evs)-1]; last.Type != bot.TLFollowup || last.Details["event"] != "added" || last.Details["owner"] != "UBOB" {
		t.Errorf("last event = %+v", last)
	}

	// Listings and the handoff port.
	resp := h.must("UCAROL", inc.Channel, "followups")
	if !strings.Contains(resp.Message.Title, "1 open of 1") || !strings.Contains(resp.Message.Text, "owner <@UBOB>, due 2026-11-24") ||
		strings.Contains(resp.Message.Text, "<!here>") {
		t.Errorf("followups = %+v", resp.Message)
	}
	mine := h.must("UBOB", "CGENERAL", "followups mine")
	if !strings.Contains(mine.Message.Text, "*INC-1* #1") {
		t.Errorf("mine = %+v", mine.Message)
	}
	if none := h.must("UCAROL", "CGENERAL", "followups mine"); !strings.Contains(none.Message.Text, "You own no open follow-ups") {
		t.Errorf("carol's = %+v", none.Message)
	}
	due, err := h.svc.FollowupsDue(h.ctx(), time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	if err != nil || len(due) != 1 || due[0].Incident != "INC-1" || due[0].Number != 1 || due[0].Owner != "UBOB" {
		t.Errorf("FollowupsDue = %+v, %v", due, err)
	}
	if early, _ := h.svc.FollowupsDue(h.ctx(), time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)); len(early) != 0 {
		t.Errorf("due a day early: %+v", early)
	}

	// Reminders at the fixed dates: not before 09:00 on the due date, once,
	// then a week later while still open.
	tick := func(at time.Time) int {
		t.Helper()
		h.clock.Set(at)
		if err := h.svc.FollowupTick(h.ctx()); err != nil {
			t.Fatalf("tick at %s: %v", at, err)
		}
		return len(h.dms("UBOB"))
	}
	steps := []struct {
		at   time.Time
		want int
	}{
		{time.Date(2026, 11, 24, 8, 59, 0, 0, time.UTC), 0},
		{time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 11, 24, 9, 0, 30, 0, time.UTC), 1},
		{time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), 2},
		{time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), 2},
	}
	for _, s := range steps {
		if got := tick(s.at); got != s.want {
			t.Errorf("at %s: %d reminders, want %d", s.at.Format(time.RFC3339), got, s.want)
		}
	}
	dms := h.dms("UBOB")
	if !strings.Contains(dms[0].Text, "is due today") || !strings.Contains(dms[1].Text, "was due on 2026-11-24") ||
		strings.Contains(dms[0].Text, "<!here>") || dms[0].Buttons[0].ID != ActionFollowupDone {
		t.Errorf("reminders = %+v", dms)
	}

	// Done: by command; a second time is refused; no more reminders.
	resp = h.must("UBOB", inc.Channel, "followup done 1")
	if !strings.Contains(resp.Message.Text, "marked follow-up #1 of INC-1 done") {
		t.Errorf("done reply = %+v", resp.Message)
	}
	if m := h.chat.Latest(f.Message.TS); !strings.Contains(m.Title, "(done)") || len(m.Buttons) != 0 {
		t.Errorf("follow-up message after done = %+v", m)
	}
	if _, err := h.cmd("UALICE", inc.Channel, "followup done #1"); err == nil || !strings.Contains(err.Error(), "already done") {
		t.Errorf("second done: %v", err)
	}
	if got := tick(time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)); got != 2 {
		t.Errorf("%d reminders after done, want still 2", got)
	}

	// After resolution, follow-ups still work; the export lists them.
	h.must("UALICE", inc.Channel, "resolve fixed")
	h.must("UALICE", inc.Channel, "followup write the post-mortem")
	doc, err := h.svc.Export(h.ctx(), inc.Key, "md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 1 | tell @here and @sre about the fix (https\\://x.example) | @Bob Brown | 2026-11-24 | done 2026-12-01 by @Bob Brown | — |",
		"| 2 | write the post-mortem | — | — | open | — |",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("export lacks %q:\n%s", want, doc)
		}
	}
}

// TestFollowupReminderOnceAcrossReplicas: two services on one Redis tick at
// the same moment, many times: one DM. A DM that fails gives the claim
// back, and the next tick sends it.
func TestFollowupReminderOnceAcrossReplicas(t *testing.T) {
	h := newLearnHarness(t, false)
	inc := h.declare("sev3 disk full")
	h.must("UALICE", inc.Channel, "followup grow the volume <@UBOB|bob> due 2026-11-23")
	other := newHarnessOn(t, h.rdb, h.clock, bottest.NewChat(), func(c *Config) { c.Followups = h.fups })
	h.clock.Add(24 * time.Hour) // 2026-11-23 09:00
	h.chat.Fail("Post", errors.New("ratelimited"))
	if err := h.svc.FollowupTick(h.ctx()); err == nil {
		t.Fatal("tick with a failing DM reported no error")
	}
	if f := h.followup(inc.Key, 1); f.Reminders != 0 || !f.RemindAt.Equal(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("after a failed DM: reminders %d remind at %s, want the claim given back", f.Reminders, f.RemindAt)
	}
	h.chat.Fail("Post", nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		for _, s := range []*Service{h.svc, other.svc} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.FollowupTick(h.ctx()); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if n := len(h.dms("UBOB")) + len(other.chat.PostsIn("UBOB")); n != 1 {
		t.Errorf("%d reminder DMs across two replicas, want 1", n)
	}
}

func TestFollowupDoneButtonActsOnlyOnItsIncident(t *testing.T) {
	h := newLearnHarness(t, false)
	a := h.declare("sev3 first")
	b := h.declare("sev3 second")
	h.must("UALICE", a.Channel, "followup check the cache <@UCAROL|carol>")
	clicks := 0
	clickAs := func(user, channel, value string) (bot.Response, error) {
		clicks++
		return h.run(&bot.Request{Kind: bot.KindAction, UserID: user, ChannelID: channel, TriggerID: fmt.Sprintf("tr-%d", clicks),
			Action: &bot.Action{ID: ActionFollowupDone, Value: value}})
	}
	click := func(channel, value string) (bot.Response, error) { return clickAs("UCAROL", channel, value) }
	// Outside the incident's channel, the button is shown only to the
	// owner: bob's click with carol's value, in #general, is refused.
	if _, err := clickAs("UBOB", "CGENERAL", "INC-1/1"); err == nil || !strings.Contains(err.Error(), "Only the owner of follow-up #1 of INC-1") {
		t.Errorf("click by someone else outside the incident channel: %v", err)
	}
	if _, err := click(b.Channel, "INC-1/1"); err == nil || !strings.Contains(err.Error(), "belongs to INC-1, not to INC-2") {
		t.Errorf("click in another incident's channel: %v", err)
	}
	if _, err := click(a.Channel, "nonsense"); err == nil || !strings.Contains(err.Error(), "does not name a follow-up") {
		t.Errorf("click with a forged value: %v", err)
	}
	if h.followup(a.Key, 1).State != bot.FollowupOpen {
		t.Fatal("a refused click changed the follow-up")
	}
	resp, err := click("DUCAROL", "INC-1/1") // from the owner's DM (a reminder)
	if err != nil || resp.Visibility != bot.Ephemeral || !strings.Contains(resp.Message.Text, "done") {
		t.Errorf("click in a DM = %+v, %v", resp, err)
	}
	if f := h.followup(a.Key, 1); f.State != bot.FollowupDone || f.DoneBy != "UCAROL" {
		t.Errorf("after the click: %+v", f)
	}
}

// TestFollowupTrackerFailures: each GitHub failure keeps the follow-up,
// tells the person in words (never the token), backs off as GitHub asked,
// and the issue is opened once GitHub works.
func TestFollowupTrackerFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(h *learnHarness)
		labels []string
		want   string
		// minWait is the least back-off expected.
		minWait time.Duration
	}{
		{name: "401", setup: func(h *learnHarness) {}, want: "refused the token", minWait: time.Minute},
		{name: "404 repository", want: "was not found: check followups.github_repo", minWait: time.Minute},
		{name: "422", labels: []string{strings.Repeat("l", 60)}, want: "rejected the issue (Validation Failed: invalid name)", minWait: time.Minute},
		{name: "429 secondary with Retry-After", setup: func(h *learnHarness) {
			h.gh.Fail(fakegh.Fault{Kind: fakegh.SecondaryRateLimit, Status: 429, RetryAfter: 2 * time.Minute})
		}, want: "is rate limiting opsbot, for 2m", minWait: 2 * time.Minute},
		{name: "502", setup: func(h *learnHarness) { h.gh.Fail(fakegh.Fault{Kind: fakegh.ServerError}) },
			want: "did not answer (Server Error)", minWait: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLearnHarness(t, true, tt.labels...)
			switch tt.name {
			case "401":
				h.svc.tracker = mustGitHub(t, h.gh, "ghp_not-the-token", ghRepoName)
			case "404 repository":
				h.svc.tracker = mustGitHub(t, h.gh, h.gh.Token(), "acme/gone")
			}
			if tt.setup != nil {
				tt.setup(h)
			}
			inc := h.declare("sev2 payments down")
			resp := h.must("UALICE", inc.Channel, "followup add a circuit breaker <@UBOB|bob>")
			if !strings.Contains(resp.Message.Text, "Follow-up #1 is saved, but") || !strings.Contains(resp.Message.Text, tt.want) {
				t.Errorf("reply = %q, want the follow-up kept and %q", resp.Message.Text, tt.want)
			}
			f := h.followup(inc.Key, 1)
			if f.State != bot.FollowupOpen || f.Tracker.Number != 0 || f.Tracker.Attempts != 1 || f.SyncAt.Sub(h.clock.Now()) < tt.minWait {
				t.Errorf("follow-up = %+v, want open, no issue, one attempt, retried in at least %s", f.Tracker, tt.minWait)
			}
			for _, m := range append(h.chat.Posts(), h.chat.Ephemerals()...) {
				if strings.Contains(fmt.Sprint(m), h.gh.Token()) {
					t.Errorf("a message shows the token: %+v", m)
				}
			}
			if strings.Contains(resp.Message.Text, h.gh.Token()) {
				t.Error("the reply shows the token")
			}
			if tt.name == "401" || tt.name == "404 repository" || tt.labels != nil {
				return // the operator must fix the configuration first
			}
			h.clock.Add(tt.minWait)
			// go-github keeps its own (real-time) block after a rate limit;
			// the injected clock does not move it, so a new client stands
			// for the minutes that pass.
			h.svc.tracker = mustGitHub(t, h.gh, h.gh.Token(), ghRepoName)
			if err := h.svc.FollowupTick(h.ctx()); err != nil {
				t.Fatal(err)
			}
			if f := h.followup(inc.Key, 1); f.Tracker.Number != 1 || f.Tracker.LastError != "" {
				t.Errorf("after GitHub recovered: %+v", f.Tracker)
			}
			if n := len(h.gh.Issues(ghRepoName)); n != 1 {
				t.Errorf("%d issues, want 1", n)
			}
		})
	}
}

func mustGitHub(t *testing.T, fg *fakegh.Server, token, repo string) *github.Client {
	t.Helper()
	c, err := github.New(github.Config{Token: token, Repo: repo, APIURL: fg.URL(), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFollowupLostCreateAnswerMakesNoSecondIssue: GitHub created the issue
// but the answer was lost; the retry finds it by its marker.
func TestFollowupLostCreateAnswerMakesNoSecondIssue(t *testing.T) {
	h := newLearnHarness(t, true)
	inc := h.declare("sev2 queue backlog")
	h.gh.Fail(fakegh.Fault{Kind: fakegh.AppliedThenFailed, Method: "POST"})
	h.must("UALICE", inc.Channel, "followup autoscale the consumers")
	if f := h.followup(inc.Key, 1); f.Tracker.CreateTriedAt.IsZero() || f.Tracker.Number != 0 {
		t.Fatalf("after the lost answer: %+v", f.Tracker)
	}
	h.clock.Add(time.Minute)
	if err := h.svc.FollowupTick(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.gh.Issues(ghRepoName)); n != 1 {
		t.Fatalf("%d issues, want the one the lost answer created", n)
	}
	f := h.followup(inc.Key, 1)
	if f.Tracker.Number != 1 || !f.Tracker.CreateTriedAt.IsZero() {
		t.Errorf("follow-up = %+v, want linked to #1", f.Tracker)
	}

	// Done here closes it there; closed there marks the next one done here.
	h.must("UALICE", inc.Channel, "followup done 1")
	if is, _ := h.gh.Issue(ghRepoName, 1); is.State != "closed" || is.StateReason != "completed" {
		t.Errorf("issue after done = %+v", is)
	}
	h.must("UALICE", inc.Channel, "followup page less")
	h.gh.SetState(ghRepoName, 2, "closed")
	h.clock.Add(DefaultSyncInterval)
	if err := h.svc.FollowupTick(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if f := h.followup(inc.Key, 2); f.State != bot.FollowupDone || f.DoneBy != actorGitHub {
		t.Errorf("follow-up 2 = %+v, want done on GitHub", f)
	}
}

func TestDrills(t *testing.T) {
	h := newLearnHarness(t, false)
	resp := h.must("UALICE", "CGENERAL", "declare --drill sev1 region failover")
	if !strings.HasPrefix(resp.Message.Text, drillBanner) {
		t.Errorf("declare reply %q not marked", resp.Message.Text)
	}
	incs, _ := h.store.Open(h.ctx())
	d := incs[0]
	if !d.Drill || d.ChannelName != "drill-1-region-failover" {
		t.Fatalf("drill = %+v", d)
	}
	for _, u := range h.chat.Invites(d.Channel) {
		if u == "UONCALL" {
			t.Error("the on-call was pulled into a drill")
		}
	}
	if n := len(h.chat.PostsIn("CBROADCAST")); n != 0 {
		t.Errorf("%d broadcast posts for a drill", n)
	}
	if !strings.HasPrefix(h.chat.Topics()[d.Channel], drillTopic) || !strings.HasPrefix(h.chat.Purposes()[d.Channel], drillTopic) {
		t.Errorf("topic %q purpose %q", h.chat.Topics()[d.Channel], h.chat.Purposes()[d.Channel])
	}
	resp = h.must("UALICE", d.Channel, "page checkout db on fire")
	if !strings.Contains(resp.Message.Text, "nobody was paged") || len(h.svc.pager.(*fakePager).pages) != 0 {
		t.Errorf("page in a drill = %q, pages %v", resp.Message.Text, h.svc.pager.(*fakePager).pages)
	}
	var page *bot.TimelineEvent
	for _, ev := range h.events(d.Key) {
		if ev.Type == bot.TLPage {
			page = &ev
		}
	}
	if page == nil || page.Details["simulated"] != "true" {
		t.Errorf("page event = %+v, want one marked simulated", page)
	}
	h.must("UALICE", d.Channel, "commander <@UBOB|bob>")
	for _, dm := range h.chat.PostsIn("UBOB") {
		if !strings.HasPrefix(dm.Title, drillBanner) {
			t.Errorf("role DM about a drill not marked: %+v", dm)
		}
	}
	if _, err := h.cmd("UALICE", d.Channel, "sev sev4"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cmd("UALICE", d.Channel, "sev sev1"); err != nil {
		t.Fatal(err)
	}
	for _, u := range h.chat.Invites(d.Channel) {
		if u == "UONCALL" {
			t.Error("raising a drill's severity pulled in the on-call")
		}
	}
	h.must("UALICE", d.Channel, "update still failing over")
	if n := len(h.chat.PostsIn("CBROADCAST")); n != 0 {
		t.Errorf("a drill update was broadcast")
	}
	for _, m := range h.chat.PostsIn(d.Channel) {
		if !strings.HasPrefix(m.Title, drillBanner) && !strings.HasPrefix(m.Text, drillBanner) {
			t.Errorf("message in the drill channel not marked: %+v", m)
		}
	}
	if _, err := h.cmd("UALICE", "CGENERAL", "declare sev2 --drill x"); err == nil || !strings.Contains(err.Error(), "Put `--drill` first") {
		t.Errorf("misplaced --drill: %v", err)
	}

	// By modal, ticking the checkbox (the form is opened first: its
	// metadata is sealed for the person who opened it).
	if _, err := h.run(&bot.Request{Kind: bot.KindCommand, Command: "/incident", UserID: "UALICE", ChannelID: "CGENERAL", TriggerID: "to"}); err != nil {
		t.Fatal(err)
	}
	md := h.chat.Modals()[len(h.chat.Modals())-1].PrivateMetadata
	if _, err := h.run(&bot.Request{Kind: bot.KindView, UserID: "UALICE", TriggerID: "tm", DedupeKey: "tm",
		View: &bot.ViewSubmission{CallbackID: ViewDeclare, PrivateMetadata: md, Values: map[string]string{"title": "tabletop", "severity": "sev2", "drill": "true"}}}); err != nil {
		t.Fatal(err)
	}
	h.must("UBOB", "CGENERAL", "declare sev3 real one")

	list := h.must("UCAROL", "CGENERAL", "list")
	if strings.Contains(list.Message.Text, "INC-1") || strings.Contains(list.Message.Text, "INC-2") || !strings.Contains(list.Message.Text, "INC-3") ||
		!strings.Contains(list.Message.Context, "2 drill(s) running") {
		t.Errorf("list = %+v", list.Message)
	}
	all := h.must("UCAROL", "CGENERAL", "list --all")
	if !strings.Contains(all.Message.Text, "INC-1") || !strings.Contains(all.Message.Text, "INC-2") || !strings.Contains(all.Message.Text, "INC-3") {
		t.Errorf("list --all = %+v", all.Message)
	}
	drills := h.must("UCAROL", "CGENERAL", "list drills")
	if !strings.Contains(drills.Message.Text, "INC-2") || strings.Contains(drills.Message.Text, "INC-3") {
		t.Errorf("list drills = %+v", drills.Message)
	}
	if got := testutil.ToFloat64(h.svc.metrics.declared.WithLabelValues("sev2")); got != 0 {
		t.Errorf("drills counted as declared: %v", got)
	}
	if got := testutil.ToFloat64(h.svc.metrics.declared.WithLabelValues("sev3")); got != 1 {
		t.Errorf("declared sev3 = %v, want 1", got)
	}
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(`
# HELP opsbot_incidents_open Open incidents by current severity (drills excluded).
# TYPE opsbot_incidents_open gauge
opsbot_incidents_open{severity="sev1"} 0
opsbot_incidents_open{severity="sev2"} 0
opsbot_incidents_open{severity="sev3"} 1
opsbot_incidents_open{severity="sev4"} 0
`), "opsbot_incidents_open"); err != nil {
		t.Error(err)
	}
	st, err := h.svc.Stats(h.ctx(), 7*24*time.Hour)
	if err != nil || st.Total != 1 || st.Drills != 2 {
		t.Errorf("stats total %d drills %d (%v), want 1 and 2", st.Total, st.Drills, err)
	}
}

func TestAcknowledgedMilestone(t *testing.T) {
	h := newLearnHarness(t, false)
	inc := h.declare("sev2 slow logins")
	if !h.get(inc.Key).AcknowledgedAt.IsZero() {
		t.Fatal("the declaration acknowledged the incident")
	}
	h.clock.Add(3 * time.Minute)
	h.must("UCAROL", inc.Channel, "note someone else looked") // not the commander: not yet
	if !h.get(inc.Key).AcknowledgedAt.IsZero() {
		t.Fatal("a note by someone other than the commander acknowledged the incident")
	}
	h.clock.Add(2 * time.Minute)
	h.must("UCAROL", inc.Channel, "update looking into it") // an update by anyone
	want := t0.Add(5 * time.Minute)
	if got := h.get(inc.Key).AcknowledgedAt; !got.Equal(want) {
		t.Fatalf("AcknowledgedAt = %s, want %s", got, want)
	}
	h.clock.Add(time.Minute)
	h.must("UALICE", inc.Channel, "status identified")
	if got := h.get(inc.Key).AcknowledgedAt; !got.Equal(want) {
		t.Errorf("AcknowledgedAt moved to %s", got)
	}
	n := 0
	for _, ev := range h.events(inc.Key) {
		if ev.Type == bot.TLMilestone && ev.Details["milestone"] == "acknowledged" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d acknowledged milestones recorded, want 1", n)
	}

	// The commander's own first action acknowledges too.
	inc2 := h.declare("sev3 other")
	h.clock.Add(90 * time.Second)
	h.must("UALICE", inc2.Channel, "sev sev2")
	if got := h.get(inc2.Key).AcknowledgedAt; !got.Equal(h.clock.Now()) {
		t.Errorf("commander action: AcknowledgedAt = %s, want %s", got, h.clock.Now())
	}
	doc, _ := h.svc.Export(h.ctx(), inc2.Key, "md")
	if !strings.Contains(string(doc), "(time to acknowledge: 1m 30s)") {
		t.Errorf("export lacks the time to acknowledge:\n%s", doc)
	}
}

func TestLearningSettingsYAML(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
		check               func(t *testing.T, s FollowupSettings)
	}{
		{name: "all keys", yaml: "github_repo: acme/ops\ngithub_api_url: https://ghe.example/api/v3/\ngithub_labels: [follow-up]\n" +
			"remind_at: \"08:30\"\nremind_every: 3d\nsync_interval: 10m\n", check: func(t *testing.T, s FollowupSettings) {
			d := s.withDefaults()
			if d.GitHubRepo != "acme/ops" || d.RemindAt != 8*time.Hour+30*time.Minute || d.RemindEvery != 72*time.Hour || d.SyncInterval != 10*time.Minute {
				t.Errorf("got %+v", d)
			}
		}},
		{name: "defaults", yaml: "{}", check: func(t *testing.T, s FollowupSettings) {
			d := s.withDefaults()
			if d.RemindAt != DefaultRemindAt || d.RemindEvery != DefaultRemindEvery || d.SyncInterval != DefaultSyncInterval {
				t.Errorf("got %+v", d)
			}
		}},
		{name: "remind once", yaml: "remind_every: 0\n", check: func(t *testing.T, s FollowupSettings) {
			if d := s.withDefaults(); d.RemindEvery != 0 {
				t.Errorf("remind_every 0 became %s", d.RemindEvery)
			}
		}},
		{name: "repo as a URL", yaml: "github_repo: https://github.com/acme/ops\n", wantErr: "line 1: followups.github_repo: \"https://github.com/acme/ops\" is not owner/name"},
		{name: "bad time", yaml: "remind_at: 9am\n", wantErr: "line 1: followups.remind_at: \"9am\" is not a time of day"},
		{name: "bad duration", yaml: "sync_interval: often\n", wantErr: "followups.sync_interval: \"often\" is not a duration"},
		{name: "too short", yaml: "sync_interval: 10s\n", wantErr: "followups.sync_interval: 10s is shorter than 1m"},
		{name: "unknown key", yaml: "github_token: x\n", wantErr: "github_token"},
		{name: "bad API URL", yaml: "github_api_url: ghe.example\n", wantErr: "followups.github_api_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s FollowupSettings
			err := yaml.Unmarshal([]byte(tt.yaml), &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
	drills := []struct{ yaml, wantErr string }{
		{yaml: "drills: {channel_prefix: rehearsal, broadcast: true}\n"},
		{yaml: "drills: {channel_prefix: Drill_}\n", wantErr: "incidents.drills.channel_prefix"},
		{yaml: "drills: {prefix: x}\n", wantErr: "prefix"},
		{yaml: "channel_prefix: inc\ndrills: {channel_prefix: inc}\n", wantErr: "the incidents' own prefix"},
	}
	for _, tt := range drills {
		var s Settings
		err := yaml.Unmarshal([]byte(tt.yaml), &s)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tt.yaml, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: err %v, want %q", tt.yaml, err, tt.wantErr)
		case tt.wantErr == "" && (s.Drills.ChannelPrefix != "rehearsal" || !s.Drills.Broadcast):
			t.Errorf("%q: got %+v", tt.yaml, s.Drills)
		}
	}
}

// TestMarkDrillsForOtherFamilies: what another family posts in a drill's
// channel (runbook output) is marked; elsewhere nothing changes.
func TestMarkDrillsForOtherFamilies(t *testing.T) {
	h := newLearnHarness(t, false)
	h.must("UALICE", "CGENERAL", "declare --drill sev2 game day")
	h.must("UALICE", "CGENERAL", "declare sev2 real")
	incs, _ := h.store.Open(h.ctx())
	drill, real := incs[0], incs[1]
	other := bottest.NewChat()
	chat := h.svc.MarkDrills(other)
	for _, ch := range []string{drill.Channel, real.Channel} {
		if _, ok, err := h.svc.IncidentForChannel(h.ctx(), ch); !ok || err != nil {
			t.Fatalf("IncidentForChannel(%s) = %v, %v", ch, ok, err)
		}
		if _, err := chat.Post(h.ctx(), bot.Message{Channel: ch, Text: "runbook restart started", Code: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := other.PostsIn(drill.Channel)[0].Text; got != drillBanner+" — runbook restart started" {
		t.Errorf("runbook message in the drill channel = %q", got)
	}
	if got := other.PostsIn(real.Channel)[0].Text; got != "runbook restart started" {
		t.Errorf("runbook message in a real incident's channel = %q", got)
	}
}
