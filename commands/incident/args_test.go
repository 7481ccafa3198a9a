package incident

import (
	"strings"
	"testing"

	"github.com/opsbot/opsbot/bot"
)

// TestArgumentErrorsNeedNoIO: help, usage and argument errors of /incident
// are answered by the router alone (in Slack, in the command's ack), before
// any store or chat call, with the same words the handlers used to send;
// well-formed commands are left to their handlers.
func TestArgumentErrorsNeedNoIO(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Pager = &fakePager{}; c.Settings.PageServices = []string{"checkout"} })
	tests := []struct {
		text string
		want string // "" means: not answered at once
	}{
		{"help", "`/incident declare [--drill] [sev1..sev4] TITLE…`"},
		{"declare sev2 --drill region failover", "Put `--drill` first"},
		{"frobnicate", "I do not know `/incident frobnicate`"},
		{"declare", "title"},
		{"declare sev9 disk full", "Unknown severity `sev9`"},
		{"declare " + strings.Repeat("x", TitleMax+1), "keep it to"},
		{"commander", "Name one person."},
		{"commander bob", "I need a mention of a person"},
		{"commander @bob", "I need a real mention"},
		{"role comms", "Name a role and one person."},
		{"role juggler <@UBOB|bob>", "Unknown role `juggler`"},
		{"sev", "Name one severity."},
		{"sev sev7", "Unknown severity `sev7`"},
		{"status", "Name one status."},
		{"status sleeping", "Unknown status `sleeping`"},
		{"update", "Please write the update."},
		{"note", "Please write the note."},
		{"note " + strings.Repeat("n", UpdateMax+1), "keep it to"},
		{"resolve " + strings.Repeat("r", UpdateMax+1), "keep it to"},
		{"export pdf", "Unknown format `pdf`"},
		{"export md json", "Usage: `/incident export [md|json]`"},
		{"page", "Name a service."},
		{"page billing now", "Unknown service `billing`"},

		{"", ""}, // opens the declare modal
		{"declare sev2 checkout errors", ""},
		{"declare --drill sev1 region failover", ""},
		{"commander <@UBOB|bob>", ""},
		{"role comms <@UBOB|bob>", ""},
		{"sev sev1", ""},
		{"status monitoring", ""},
		{"update rolled back", ""},
		{"note line one\nline two", ""},
		{"resolve", ""},
		{"export json", ""},
		{"page checkout db down", ""},
		{"timeline", ""},
		{"list", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			req := &bot.Request{Kind: bot.KindCommand, Command: "/incident", Text: tt.text, UserID: "UALICE", ChannelID: "CGENERAL"}
			before := len(h.chat.Calls())
			im, ok := h.router.Immediate(req)
			if calls := h.chat.Calls(); len(calls) != before {
				t.Errorf("chat calls during Immediate: %q", calls[before:])
			}
			if tt.want == "" {
				if ok {
					t.Errorf("answered at once with %q, want the handler to run", im.Response.Message.Text)
				}
				return
			}
			if !ok || !strings.Contains(im.Response.Message.Text, tt.want) {
				t.Fatalf("Immediate = %q, %v; want an answer containing %q", im.Response.Message.Text, ok, tt.want)
			}
			// The worker path answers the same words (used when the
			// answer cannot travel in the ack).
			_, err := h.cmd("UALICE", "CGENERAL", tt.text)
			if tt.text != "help" && tt.text != "frobnicate" && (err == nil || bot.UserMessage(err, "") != im.Response.Message.Text) {
				t.Errorf("handler path: got %v, want %q", err, im.Response.Message.Text)
			}
		})
	}
	if n := len(h.chat.Mutations()); n != 0 {
		t.Errorf("refused commands changed the workspace: %q", h.chat.Mutations())
	}
}

// TestParsedArgumentsReachHandlers: the text of a note keeps its own line
// breaks and spacing through the parse step.
func TestParsedArgumentsReachHandlers(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("sev2 checkout errors")
	h.must("UALICE", inc.Channel, "note first line\n  second  line")
	var notes []string
	for _, ev := range h.events(inc.Key) {
		if ev.Type == bot.TLNote {
			notes = append(notes, ev.Text)
		}
	}
	if len(notes) != 1 || notes[0] != "first line\n  second  line" {
		t.Errorf("notes = %q, want the note as typed", notes)
	}
}

// TestPageWithoutPagerLeftToTheHandler: without PagerDuty, /incident page
// means a drill's simulated page or "not configured", which only the
// incident (I/O) can tell; its words are then checked by the handler, in the
// order they were before there was a parse step.
func TestPageWithoutPagerLeftToTheHandler(t *testing.T) {
	h := newHarness(t, nil)
	for _, text := range []string{"page", "page checkout"} {
		req := &bot.Request{Kind: bot.KindCommand, Command: "/incident", Text: text, UserID: "UALICE", ChannelID: "CGENERAL"}
		if im, ok := h.router.Immediate(req); ok {
			t.Errorf("%q answered at once: %q", text, im.Response.Message.Text)
		}
		if _, err := h.cmd("UALICE", "CGENERAL", text); err == nil || !strings.Contains(err.Error(), "Paging is not configured") {
			t.Errorf("%q: got %v, want paging not configured", text, err)
		}
	}
}
