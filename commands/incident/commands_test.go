package incident

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
)

func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("sev2 api errors")
	in := inc.Channel
	tests := []struct {
		name    string
		channel string
		text    string
		want    string // substring of the user message
	}{
		{name: "unknown severity on declare", channel: "CGENERAL", text: "declare sev9 disk full", want: "Unknown severity `sev9`"},
		{name: "empty title", channel: "CGENERAL", text: "declare", want: "title"},
		{name: "severity but no title", channel: "CGENERAL", text: "declare sev1", want: "title"},
		{name: "over-long title", channel: "CGENERAL", text: "declare " + strings.Repeat("a", 151), want: "151 characters"},
		{name: "unknown severity", channel: in, text: "sev sev5", want: "Unknown severity"},
		{name: "same severity", channel: in, text: "sev sev2", want: "already sev2"},
		{name: "unknown status", channel: in, text: "status fixed", want: "Unknown status `fixed`"},
		{name: "same status", channel: in, text: "status investigating", want: "already investigating"},
		{name: "bare @name", channel: in, text: "commander @bob", want: "real mention"},
		{name: "channel is not a person", channel: in, text: "commander <#C123|ops>", want: "not a person"},
		{name: "user group is not a person", channel: in, text: "role comms <!subteam^S123|@sre>", want: "not a person"},
		{name: "plain word is not a person", channel: in, text: "commander bob", want: "mention of a person"},
		{name: "unknown user", channel: in, text: "commander <@U404|ghost>", want: "can't find"},
		{name: "bot as commander", channel: in, text: "commander <@UBOT|deploybot>", want: "is a bot"},
		{name: "already commander", channel: in, text: "commander <@UALICE|alice>", want: "already the commander"},
		{name: "unknown role", channel: in, text: "role wizard <@UBOB|bob>", want: "Unknown role `wizard`"},
		{name: "role without person", channel: in, text: "role comms", want: "Usage"},
		{name: "empty note", channel: in, text: "note", want: "write the note"},
		{name: "empty update", channel: in, text: "update   ", want: "write the update"},
		{name: "over-long update", channel: in, text: "update " + strings.Repeat("x", UpdateMax+1), want: "keep it to"},
		{name: "unknown export format", channel: in, text: "export pdf", want: "use md or json"},
		{name: "paging not configured", channel: in, text: "page checkout help", want: "Paging is not configured"},
		{name: "note outside an incident", channel: "CGENERAL", text: "note hello", want: "incident channel"},
		{name: "sev outside an incident", channel: "CGENERAL", text: "sev sev1", want: "incident channel"},
		{name: "resolve outside an incident", channel: "CGENERAL", text: "resolve", want: "incident channel"},
		{name: "timeline outside an incident", channel: "CGENERAL", text: "timeline", want: "incident channel"},
		{name: "export outside an incident", channel: "CGENERAL", text: "export", want: "incident channel"},
		{name: "commander outside an incident", channel: "CGENERAL", text: "commander <@UBOB|bob>", want: "incident channel"},
	}
	before := h.get(inc.Key)
	beforeEvents := len(h.events(inc.Key))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutations := len(h.chat.Mutations())
			_, err := h.cmd("UALICE", tt.channel, tt.text)
			var ue *bot.UserError
			if !errors.As(err, &ue) {
				t.Fatalf("/incident %s: got error %v, want a user error", tt.text, err)
			}
			if !strings.Contains(ue.Msg, tt.want) {
				t.Errorf("/incident %s: got %q, want it to mention %q", tt.text, ue.Msg, tt.want)
			}
			if got := h.chat.Mutations()[mutations:]; len(got) != 0 {
				t.Errorf("/incident %s changed the workspace: %v", tt.text, got)
			}
		})
	}
	after := h.get(inc.Key)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("incident changed by bad input (-before +after):\n%s", diff)
	}
	if n := len(h.events(inc.Key)); n != beforeEvents {
		t.Errorf("timeline grew from %d to %d events on bad input", beforeEvents, n)
	}
	open, _ := h.store.Open(h.ctx())
	if len(open) != 1 {
		t.Errorf("%d incidents after bad declarations, want 1", len(open))
	}
}

func TestIncidentLifecycle(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Settings.ArchiveAfter = time.Hour })
	inc := h.declare("sev3 checkout errors")
	ch := inc.Channel

	h.clock.Add(2 * time.Minute)
	resp := h.must("UALICE", ch, "commander <@UBOB|bob>")
	if resp.Visibility != bot.InChannel || !strings.Contains(resp.Message.Text, "<@UBOB> is now the commander of INC-1") {
		t.Errorf("commander reply = %+v", resp)
	}
	if got := h.chat.PostsIn("UBOB"); len(got) != 1 || !strings.Contains(got[0].Text, "incident commander") {
		t.Errorf("DMs to UBOB = %+v, want the commander instructions", got)
	}
	if !slices.Contains(h.chat.Invites(ch), "UBOB") {
		t.Errorf("new commander not invited: %v", h.chat.Invites(ch))
	}
	if topic := h.chat.Topics()[ch]; !strings.Contains(topic, "commander <@UBOB>") {
		t.Errorf("topic = %q, want the new commander", topic)
	}
	if s := h.chat.Latest(h.get("INC-1").SummaryRef.TS); !hasField(s, "Commander", "<@UBOB>") {
		t.Errorf("summary fields = %+v, want Commander <@UBOB>", s.Fields)
	}

	topics := len(h.chat.CallsMatching("SetTopic"))
	h.must("UBOB", ch, "role comms <@UCAROL|carol>")
	if n := len(h.chat.CallsMatching("SetTopic")) - topics; n != 0 {
		t.Errorf("a role change set the topic %d times; it does not show roles", n)
	}
	if got := h.chat.PostsIn("UCAROL"); len(got) != 1 || !strings.Contains(got[0].Text, DefaultRoles["comms"]) {
		t.Errorf("DMs to UCAROL = %+v, want the comms instructions", got)
	}
	if s := h.chat.Latest(h.get("INC-1").SummaryRef.TS); !hasField(s, "Comms", "<@UCAROL>") {
		t.Errorf("summary fields = %+v, want Comms <@UCAROL>", s.Fields)
	}

	h.clock.Add(time.Minute)
	resp = h.must("UBOB", ch, "sev sev1")
	if !strings.Contains(resp.Message.Text, "raised INC-1 from sev3 to sev1") || !strings.Contains(resp.Message.Text, "Invited the on-call: <@UONCALL> (not paged;") {
		t.Errorf("sev reply = %q, want the raise and the on-call pulled in", resp.Message.Text)
	}
	if !slices.Contains(h.chat.Invites(ch), "UONCALL") {
		t.Errorf("on-call not invited on raise to sev1: %v", h.chat.Invites(ch))
	}
	ann := h.chat.Latest(h.get("INC-1").AnnouncementRef.TS)
	if !hasField(ann, "Severity", "sev1") {
		t.Errorf("announcement not kept current: %+v", ann.Fields)
	}

	h.clock.Add(5 * time.Minute)
	h.must("UCAROL", ch, "update Rolled back the deploy.\nErrors dropping.")
	for _, c := range []string{ch, "CBROADCAST"} {
		posts := h.chat.PostsIn(c)
		last := posts[len(posts)-1]
		if !strings.Contains(last.Text, "Rolled back the deploy.\nErrors dropping.") || !strings.HasPrefix(last.Title, "Update on INC-1") {
			t.Errorf("last post in %s = %+v, want the formatted update", c, last)
		}
	}
	if got := h.get("INC-1").LastUpdateAt; !got.Equal(h.clock.Now()) {
		t.Errorf("LastUpdateAt = %v, want %v", got, h.clock.Now())
	}
	cur := h.get("INC-1")
	for name, ts := range map[string]string{"summary": cur.SummaryRef.TS, "announcement": cur.AnnouncementRef.TS} {
		if m := h.chat.Latest(ts); !strings.Contains(m.Text, "*Latest update*") || !strings.Contains(m.Text, "Errors dropping.") {
			t.Errorf("%s text = %q, want the latest update", name, m.Text)
		}
	}

	resp = h.must("UCAROL", ch, "note customer support informed")
	if resp.Visibility != bot.Ephemeral || !strings.Contains(resp.Message.Text, "timeline") {
		t.Errorf("note reply = %+v, want an ephemeral confirmation", resp)
	}

	h.clock.Add(10 * time.Minute)
	h.must("UBOB", ch, "status monitoring")
	if got := h.get("INC-1").MitigatedAt; !got.Equal(h.clock.Now()) {
		t.Errorf("MitigatedAt = %v, want %v", got, h.clock.Now())
	}

	h.clock.Add(20 * time.Minute)
	resp = h.must("UBOB", ch, "resolve rollback fixed it")
	if !strings.Contains(resp.Message.Text, "after *38m*") || !strings.Contains(resp.Message.Text, "rollback fixed it") {
		t.Errorf("resolve reply = %q, want the 38m duration and the summary", resp.Message.Text)
	}
	if !strings.Contains(resp.Message.Text, "archived at") {
		t.Errorf("resolve reply = %q, want the archive time", resp.Message.Text)
	}
	final := h.get("INC-1")
	if final.Status != bot.StatusResolved || final.ArchiveAt.IsZero() {
		t.Errorf("final = %s archive %v, want resolved with an archive time", final.Status, final.ArchiveAt)
	}
	if s := h.chat.Latest(final.SummaryRef.TS); len(s.Buttons) != 0 || !strings.Contains(s.Context, "Resolved after 38m") {
		t.Errorf("resolved summary = %+v, want no buttons and the duration", s)
	}
	if _, err := h.cmd("UBOB", ch, "resolve"); err == nil || !strings.Contains(err.Error(), "already resolved") {
		t.Errorf("second resolve: got %v, want 'already resolved'", err)
	}

	// The change of commander acknowledges the incident: its milestone
	// follows it.
	want := []bot.TimelineEventType{bot.TLDeclared, bot.TLRoleAssigned, bot.TLRoleAssigned, bot.TLMilestone, bot.TLRoleAssigned,
		bot.TLSeverityChanged, bot.TLUpdate, bot.TLNote, bot.TLStatusChanged, bot.TLResolved}
	if diff := cmp.Diff(want, eventTypes(h.events("INC-1"))); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}

	// Archive: not before the delay, once after it, however often it ticks.
	h.clock.Add(30 * time.Minute)
	if err := h.svc.Tick(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if len(h.chat.Archived()) != 0 {
		t.Errorf("archived %v before the delay", h.chat.Archived())
	}
	h.clock.Add(31 * time.Minute)
	for i := 0; i < 2; i++ {
		if err := h.svc.Tick(h.ctx()); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{ch}, h.chat.Archived()); diff != "" {
		t.Errorf("archived (-want +got):\n%s", diff)
	}
	if open, _ := h.store.Open(h.ctx()); len(open) != 0 {
		t.Errorf("%d incidents still listed after archiving", len(open))
	}
}

func TestSummaryButtons(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("sev2 queue backlog")
	click := func(id string) (bot.Response, error) {
		return h.run(&bot.Request{Kind: bot.KindAction, UserID: "UBOB", ChannelID: inc.Channel, TriggerID: "TB-" + id,
			Action: &bot.Action{ID: id, Value: inc.Key, Message: inc.SummaryRef}})
	}
	if _, err := click(ActionTakeCommand); err != nil {
		t.Fatal(err)
	}
	if got := h.get(inc.Key).Commander; got != "UBOB" {
		t.Errorf("commander after Take command = %s, want UBOB", got)
	}
	// Taking command yourself is not "@bob assigned you".
	if dms := h.chat.PostsIn("UBOB"); len(dms) != 1 || !strings.HasPrefix(dms[0].Text, "You took the role in ") {
		t.Errorf("DMs to the new commander = %+v, want one starting \"You took the role in\"", dms)
	}
	if _, err := click(ActionUpdateStatus); err != nil {
		t.Fatal(err)
	}
	if len(h.chat.Modals()) != 1 || h.chat.Modals()[0].CallbackID != ViewStatusUpdate || !strings.HasPrefix(h.chat.Modals()[0].PrivateMetadata, inc.Key+"|") {
		t.Fatalf("modals = %+v, want the status form for %s", h.chat.Modals(), inc.Key)
	}
	if _, err := h.run(&bot.Request{Kind: bot.KindView, UserID: "UBOB", View: &bot.ViewSubmission{CallbackID: ViewStatusUpdate,
		PrivateMetadata: h.chat.Modals()[0].PrivateMetadata, Values: map[string]string{inputStatus: "identified", inputUpdate: "Found the bad consumer."}}}); err != nil {
		t.Fatal(err)
	}
	got := h.get(inc.Key)
	if got.Status != bot.StatusIdentified {
		t.Errorf("status = %s, want identified", got.Status)
	}
	if posts := h.chat.PostsIn("CBROADCAST"); !strings.Contains(posts[len(posts)-1].Text, "Found the bad consumer.") {
		t.Errorf("update from the form not broadcast: %+v", posts[len(posts)-1])
	}
	if _, err := click(ActionResolve); err != nil {
		t.Fatal(err)
	}
	if _, err := h.run(&bot.Request{Kind: bot.KindView, UserID: "UBOB", View: &bot.ViewSubmission{CallbackID: ViewResolve,
		PrivateMetadata: h.chat.Modals()[len(h.chat.Modals())-1].PrivateMetadata, Values: map[string]string{inputSummary: "consumer restarted"}}}); err != nil {
		t.Fatal(err)
	}
	if got := h.get(inc.Key); got.Status != bot.StatusResolved || got.Resolution != "consumer restarted" {
		t.Errorf("after the resolve form: %s %q, want resolved with the summary", got.Status, got.Resolution)
	}
}

func TestListTimelineAndPage(t *testing.T) {
	pager := &fakePager{}
	h := newHarness(t, func(c *Config) { c.Pager = pager; c.Settings.PageServices = []string{"checkout"} })
	a := h.declare("sev1 payments down")
	h.declare("sev4 typo on status page")
	h.clock.Add(90 * time.Minute)

	list := h.must("UBOB", "CGENERAL", "list")
	for _, want := range []string{"INC-1", "payments down", "sev1", "INC-2", "open 1h 30m", "<@UALICE>"} {
		if !strings.Contains(list.Message.Text, want) {
			t.Errorf("list = %q, want it to contain %q", list.Message.Text, want)
		}
	}

	if _, err := h.cmd("UBOB", a.Channel, "page billing"); err == nil || !strings.Contains(err.Error(), "Unknown service") {
		t.Errorf("page of an unknown service: got %v", err)
	}
	resp := h.must("UBOB", a.Channel, "page checkout card auth failing")
	if len(pager.pages) != 1 {
		t.Fatalf("pages = %d, want 1", len(pager.pages))
	}
	p := pager.pages[0]
	if p.Service != "checkout" || p.RequesterEmail != "bob@example.com" || p.IncidentKey != "INC-1" || !strings.HasPrefix(p.Details, "card auth failing") {
		t.Errorf("page request = %+v", p)
	}
	if !strings.Contains(resp.Message.Text, "Dana Oncall") {
		t.Errorf("page reply = %q, want the assignee", resp.Message.Text)
	}

	tl := h.must("UBOB", a.Channel, "timeline")
	if tl.Visibility != bot.Ephemeral {
		t.Errorf("timeline visibility = %v, want ephemeral", tl.Visibility)
	}
	lines := strings.Split(tl.Message.Text, "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "declared the incident") || !strings.Contains(lines[2], "paged checkout") {
		t.Errorf("timeline lines = %q, want declared … paged, oldest first", lines)
	}
}

func hasField(m bot.Message, label, value string) bool {
	for _, f := range m.Fields {
		if f.Label == label && f.Value == value {
			return true
		}
	}
	return false
}

// Long notes must not push the newest events out of /incident timeline:
// Slack shows at most ten 3,000-character sections of one message and cuts
// the rest, which is where the newest events are.
func TestTimelineFitsOneMessageWithLongNotes(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("sev2 noisy logs")
	for i := 0; i < timelineShown; i++ {
		h.must("UBOB", inc.Channel, fmt.Sprintf("note %d %s", i, strings.Repeat("stacktrace ", UpdateMax/11)))
	}
	h.must("UBOB", inc.Channel, "note the newest one")
	tl := h.must("UBOB", inc.Channel, "timeline")
	if n := utf8.RuneCountInString(tl.Message.Text); n > 10*3000 {
		t.Errorf("timeline text is %d characters; Slack would cut the newest events beyond 30000", n)
	}
	if !strings.HasSuffix(tl.Message.Text, "noted: the newest one") {
		t.Errorf("timeline does not end with the newest event: …%q", tl.Message.Text[max(0, len(tl.Message.Text)-200):])
	}
}
