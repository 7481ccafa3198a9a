package incident

import (
	"strings"
	"testing"

	"github.com/opsbot/opsbot/bot"
)

// The summary's "Assign roles" button opens a form with Slack's user picker;
// submitting it assigns the role to the picked user ID.
func TestAssignButton(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("sev2 queue backlog")
	if _, err := h.run(&bot.Request{Kind: bot.KindAction, UserID: "UALICE", ChannelID: inc.Channel, TriggerID: "T-assign",
		Action: &bot.Action{ID: ActionAssign, Value: inc.Key, Message: inc.SummaryRef}}); err != nil {
		t.Fatal(err)
	}
	if len(h.chat.Modals()) != 1 || h.chat.Modals()[0].CallbackID != ViewAssign || !strings.HasPrefix(h.chat.Modals()[0].PrivateMetadata, inc.Key+"|") {
		t.Fatalf("modals = %+v, want the assign form for %s", h.chat.Modals(), inc.Key)
	}
	md := h.chat.Modals()[0].PrivateMetadata
	if got := h.chat.Modals()[0].Inputs[0].Options; strings.Join(got, ",") != "commander,comms,ops,scribe" {
		t.Errorf("role options = %v, want each role once", got)
	}
	var picker bot.Input
	for _, in := range h.chat.Modals()[0].Inputs {
		if in.ID == inputPerson {
			picker = in
		}
	}
	if picker.Kind != bot.InputUser {
		t.Errorf("person input = %+v, want a user picker", picker)
	}

	bad := []struct {
		name   string
		values map[string]string
		field  string
	}{
		{"unknown role", map[string]string{inputRole: "janitor", inputPerson: "UCAROL"}, inputRole},
		{"nobody picked", map[string]string{inputRole: "comms", inputPerson: ""}, inputPerson},
		{"forged person", map[string]string{inputRole: "comms", inputPerson: "carol; rm -rf /"}, inputPerson},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			v := &bot.ViewSubmission{CallbackID: ViewAssign, PrivateMetadata: md, Values: tt.values}
			if errs := h.router.ValidateView(v); errs[tt.field] == "" {
				t.Errorf("ValidateView = %v, want an error for %s", errs, tt.field)
			}
			before := h.get(inc.Key)
			if _, err := h.run(&bot.Request{Kind: bot.KindView, UserID: "UALICE", View: v}); err == nil {
				t.Errorf("submission accepted, want a refusal")
			}
			if after := h.get(inc.Key); after.Commander != before.Commander || len(after.Roles) != len(before.Roles) {
				t.Errorf("refused submission changed roles: %+v -> %+v", before.Roles, after.Roles)
			}
		})
	}

	for i, sub := range []map[string]string{
		{inputRole: "comms", inputPerson: "UCAROL"},
		{inputRole: "commander", inputPerson: "UBOB"},
	} {
		if _, err := h.run(&bot.Request{Kind: bot.KindView, UserID: "UALICE", DedupeKey: "assign-" + sub[inputRole],
			View: &bot.ViewSubmission{CallbackID: ViewAssign, PrivateMetadata: md, Values: sub}}); err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
	}
	got := h.get(inc.Key)
	if got.Roles["comms"] != "UCAROL" || got.Commander != "UBOB" {
		t.Errorf("roles = %v, commander %s; want comms UCAROL and commander UBOB", got.Roles, got.Commander)
	}
	posts := h.chat.PostsIn(inc.Channel)
	if last := posts[len(posts)-1].Text; !strings.Contains(last, "commander") {
		t.Errorf("last post in the channel = %q, want the commander change announced", last)
	}
}
