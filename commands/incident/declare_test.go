package incident

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
)

func TestDeclareByCommand(t *testing.T) {
	h := newHarness(t, nil)
	resp := h.must("UALICE", "CGENERAL", "declare sev2 Checkout errors in EU!")
	inc := h.get("INC-1")

	if inc.ChannelName != "inc-1-checkout-errors-in-eu" || inc.Channel == "" {
		t.Errorf("channel = %q (%s), want inc-1-checkout-errors-in-eu", inc.ChannelName, inc.Channel)
	}
	if inc.Severity != bot.Sev2 || inc.Status != bot.StatusInvestigating || inc.Commander != "UALICE" {
		t.Errorf("incident = %s/%s/commander %s, want sev2/investigating/UALICE", inc.Severity, inc.Status, inc.Commander)
	}
	if !strings.Contains(resp.Message.Text, "INC-1") || !strings.Contains(resp.Message.Text, bot.MentionChannel(inc.Channel)) {
		t.Errorf("reply = %q, want the key and a link to the channel", resp.Message.Text)
	}
	// Declarer, responders (users and group members) and, for sev2, on-call.
	wantInvited := []string{"UALICE", "USRE1", "USRE2", "UONCALL"}
	got := h.chat.Invites(inc.Channel)
	slices.Sort(got)
	slices.Sort(wantInvited)
	if diff := cmp.Diff(wantInvited, got); diff != "" {
		t.Errorf("invited (-want +got):\n%s", diff)
	}
	if topic := h.chat.Topics()[inc.Channel]; !strings.Contains(topic, "SEV2 | investigating | commander <@UALICE>") {
		t.Errorf("topic = %q, want severity, status and commander", topic)
	}
	if p := h.chat.Purposes()[inc.Channel]; !strings.Contains(p, "Severity sev2") || !strings.Contains(p, "<@UALICE>") {
		t.Errorf("purpose = %q, want severity and commander", p)
	}
	if inc.SummaryRef.Channel != inc.Channel || inc.SummaryRef.TS == "" {
		t.Fatalf("summary ref = %+v, want a message in the incident channel", inc.SummaryRef)
	}
	if !slices.Contains(h.chat.Pins(), inc.SummaryRef) {
		t.Errorf("pins = %v, want the summary %v pinned", h.chat.Pins(), inc.SummaryRef)
	}
	summary := h.chat.Latest(inc.SummaryRef.TS)
	var ids []string
	for _, b := range summary.Buttons {
		ids = append(ids, b.ID)
	}
	if diff := cmp.Diff([]string{ActionTakeCommand, ActionAssign, ActionUpdateStatus, ActionResolve}, ids); diff != "" {
		t.Errorf("summary buttons (-want +got):\n%s", diff)
	}
	if inc.AnnouncementRef.Channel != "CBROADCAST" {
		t.Errorf("announcement = %+v, want one in CBROADCAST", inc.AnnouncementRef)
	}
	if diff := cmp.Diff([]bot.TimelineEventType{bot.TLDeclared, bot.TLRoleAssigned}, eventTypes(h.events("INC-1"))); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	key, ok, err := h.svc.IncidentForChannel(h.ctx(), inc.Channel)
	if err != nil || !ok || key != "INC-1" {
		t.Errorf("IncidentForChannel = %q %v %v, want INC-1 true", key, ok, err)
	}
}

func TestDeclareSev3SkipsOnCall(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("slow dashboards")
	if inc.Severity != bot.Sev3 {
		t.Errorf("default severity = %s, want sev3", inc.Severity)
	}
	if slices.Contains(h.chat.Invites(inc.Channel), "UONCALL") {
		t.Errorf("on-call invited to a sev3: %v", h.chat.Invites(inc.Channel))
	}
}

func TestDeclareRedeliveryCreatesOneIncident(t *testing.T) {
	h := newHarness(t, nil)
	req := func() *bot.Request {
		return &bot.Request{Kind: bot.KindCommand, Command: "/incident", Text: "declare sev1 payments down",
			UserID: "UALICE", ChannelID: "CGENERAL", TriggerID: "T-same", DedupeKey: "T-same", EnvelopeID: "E1"}
	}
	first, err := h.run(req())
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.run(req())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.chat.CallsMatching("CreateChannel")); n != 1 {
		t.Errorf("CreateChannel called %d times, want 1", n)
	}
	open, _ := h.store.Open(h.ctx())
	if len(open) != 1 {
		t.Errorf("%d incidents after a redelivery, want 1", len(open))
	}
	if !strings.Contains(first.Message.Text, "Declared INC-1") || !strings.Contains(second.Message.Text, "already declared") {
		t.Errorf("replies = %q / %q, want a declaration then an 'already declared'", first.Message.Text, second.Message.Text)
	}
	if n := len(h.events("INC-1")); n != 2 {
		t.Errorf("timeline has %d events, want 2 (declared, commander)", n)
	}
}

func TestChannelName(t *testing.T) {
	tests := []struct {
		name   string
		number int64
		title  string
		want   string
	}{
		{name: "simple", number: 7, title: "checkout errors", want: "inc-7-checkout-errors"},
		{name: "punctuation and case", number: 12, title: "  DB: replica LAG > 5s!! ", want: "inc-12-db-replica-lag-5s"},
		{name: "non-ascii only", number: 3, title: "ошибка 🚨", want: "inc-3"},
		{name: "accents dropped", number: 3, title: "café down", want: "inc-3-caf-down"},
		// Slack delivers command text escaped (should_escape): entities and
		// mentions become what the person typed, not "amp", "gt" or IDs.
		{name: "slack entities", number: 5, title: "DB &amp; cache p99 &gt; 5s", want: "inc-5-db-cache-p99-5s"},
		{name: "slack mentions", number: 6, title: "<@U0BOB|bob> sees 500s in <#C0OPS|ops> for <!subteam^S0SRE|@sre>", want: "inc-6-bob-sees-500s-in-ops-for-sre"},
		{name: "bare IDs and links", number: 8, title: "<@U0BOB> <!here> <https://status.example.com|status page> down", want: "inc-8-here-status-page-down"},
		{name: "long title cut on a word", number: 123, title: strings.Repeat("database ", 20),
			want: "inc-123-" + strings.TrimSuffix(strings.Repeat("database-", 7), "-")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := channelName("inc", tt.number, tt.title)
			if got != tt.want {
				t.Errorf("channelName(%q) = %q, want %q", tt.title, got, tt.want)
			}
			if len(got) > 80-3 {
				t.Errorf("channelName(%q) is %d long, want room for a suffix within 80", tt.title, len(got))
			}
		})
	}
}

func TestDeclareChannelClashes(t *testing.T) {
	tests := []struct {
		name    string
		taken   []string
		invalid []string
		want    string
	}{
		{name: "free", want: "inc-1-api-down"},
		{name: "taken once", taken: []string{"inc-1-api-down"}, want: "inc-1-api-down-2"},
		{name: "taken twice", taken: []string{"inc-1-api-down", "inc-1-api-down-2"}, want: "inc-1-api-down-3"},
		{name: "invalid falls back to the number", invalid: []string{"inc-1-api-down"}, want: "inc-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			for _, n := range tt.taken {
				h.chat.TakeName(n)
			}
			for _, n := range tt.invalid {
				h.chat.RejectName(n)
			}
			inc := h.declare("api down")
			if inc.ChannelName != tt.want {
				t.Errorf("channel = %q, want %q", inc.ChannelName, tt.want)
			}
		})
	}
}

func TestDeclareChannelFailureCreatesNoHalfIncident(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.Fail("CreateChannel", errors.New("restricted_action"))
	_, err := h.cmd("UALICE", "CGENERAL", "declare sev2 x")
	var ue *bot.UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "couldn't create the incident channel") {
		t.Fatalf("declare with no channel: got %v, want a user error about the channel", err)
	}
	if n := len(h.chat.CallsMatching("Post")); n != 0 {
		t.Errorf("%d posts without a channel, want 0", n)
	}
	if open, _ := h.store.Open(h.ctx()); len(open) != 0 {
		t.Errorf("failed declaration left %d open incidents, want 0", len(open))
	}
	h.chat.Fail("CreateChannel", nil)
	if inc := h.declare("sev2 y"); inc.Key != "INC-2" || inc.Channel == "" {
		t.Errorf("next declaration = %s in %q, want INC-2 with a channel", inc.Key, inc.Channel)
	}
}

func TestModalDeclare(t *testing.T) {
	h := newHarness(t, nil)
	// No text opens the modal with the trigger.
	resp, err := h.run(&bot.Request{Kind: bot.KindCommand, Command: "/incident", UserID: "UALICE",
		ChannelID: "CGENERAL", TriggerID: "TRIG1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Text != "" || len(h.chat.Modals()) != 1 || h.chat.Modals()[0].CallbackID != ViewDeclare {
		t.Fatalf("modals = %+v, reply %q; want one declare modal and no reply", h.chat.Modals(), resp.Message.Text)
	}
	if got := h.chat.CallsMatching("OpenModal"); len(got) != 1 || got[0] != "OpenModal TRIG1" {
		t.Errorf("OpenModal calls = %v, want one with TRIG1", got)
	}
	m := h.chat.Modals()[0]

	// Validation before the ack.
	tests := []struct {
		name   string
		values map[string]string
		field  string
	}{
		{name: "empty title", values: map[string]string{inputTitle: " ", inputSeverity: "sev2"}, field: inputTitle},
		{name: "long title", values: map[string]string{inputTitle: strings.Repeat("x", 151), inputSeverity: "sev2"}, field: inputTitle},
		{name: "bad severity", values: map[string]string{inputTitle: "ok", inputSeverity: "sev9"}, field: inputSeverity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := h.router.ValidateView(&bot.ViewSubmission{CallbackID: ViewDeclare, Values: tt.values})
			if errs[tt.field] == "" {
				t.Errorf("ValidateView errors = %v, want one for %s", errs, tt.field)
			}
		})
	}

	sub := &bot.Request{Kind: bot.KindView, UserID: "UALICE", DedupeKey: "view-1", View: &bot.ViewSubmission{
		CallbackID: ViewDeclare, PrivateMetadata: m.PrivateMetadata,
		Values: map[string]string{inputTitle: "Search is slow", inputSeverity: "sev1", inputDescription: "p99 at 4s <!here> & <@UEVE>"}}}
	if errs := h.router.ValidateView(sub.View); errs != nil {
		t.Fatalf("valid submission refused: %v", errs)
	}
	for i := 0; i < 2; i++ { // the second is a redelivery
		if _, err := h.run(sub); err != nil {
			t.Fatal(err)
		}
	}
	inc := h.get("INC-1")
	// Modal text arrives raw: it is stored escaped, so markup typed into the
	// form stays text when the bot posts it.
	if inc.Title != "Search is slow" || inc.Severity != bot.Sev1 || inc.Description != "p99 at 4s &lt;!here&gt; &amp; &lt;@UEVE&gt;" || inc.Commander != "UALICE" {
		t.Errorf("incident = %+v, want the modal's title, sev1, description and UALICE as commander", inc)
	}
	if n := len(h.chat.CallsMatching("CreateChannel")); n != 1 {
		t.Errorf("CreateChannel called %d times for one submission redelivered, want 1", n)
	}
	if got := h.chat.CallsMatching("PostEphemeral CGENERAL UALICE"); len(got) != 2 {
		t.Errorf("confirmations = %v, want one per delivery in the channel the modal came from", got)
	}
}

func TestDeclareParsesSeverityOnlyAsSevN(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		wantSev   bot.Severity
		wantTitle string
	}{
		{name: "lower case", text: "declare sev1 api down", wantSev: bot.Sev1, wantTitle: "api down"},
		{name: "upper case", text: "declare SEV2 api down", wantSev: bot.Sev2, wantTitle: "api down"},
		{name: "default", text: "declare api down", wantSev: bot.Sev3, wantTitle: "api down"},
		{name: "a number starts the title", text: "declare 2 regions down", wantSev: bot.Sev3, wantTitle: "2 regions down"},
		{name: "severe is a word", text: "declare severe latency", wantSev: bot.Sev3, wantTitle: "severe latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.must("UALICE", "CGENERAL", tt.text)
			inc := h.get("INC-1")
			if inc.Severity != tt.wantSev || inc.Title != tt.wantTitle {
				t.Errorf("%q declared %s %q, want %s %q", tt.text, inc.Severity, inc.Title, tt.wantSev, tt.wantTitle)
			}
		})
	}
}
