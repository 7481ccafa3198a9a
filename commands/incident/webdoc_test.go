package incident

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
)

func TestDocumentForTheWebIsTheExportsData(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.AddUser(bot.User{ID: "UEVE", Name: "eve", RealName: "<b>Eve & co"})
	inc := h.declare("sev2 checkout errors")
	h.clock.Add(time.Minute)
	h.must("UALICE", inc.Channel, "commander <@UEVE|eve>")
	h.clock.Add(time.Minute)
	h.must("UALICE", inc.Channel, "note ask <@UBOB> to check <https://grafana.example/d/1|the dashboard> &lt;script&gt;")

	doc, err := h.svc.Document(h.ctx(), "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	// declared, the declarer's and the new commander's roles, the
	// acknowledgement (the change of commander) and the note.
	if doc.Incident.Key != "INC-1" || len(doc.Events) != 5 || len(doc.Roles) != 2 {
		t.Fatalf("document = %s with %d events and %d tenures, want INC-1 with 5 and 2", doc.Incident.Key, len(doc.Events), len(doc.Roles))
	}
	if doc.Location() != h.svc.Settings().Timezone {
		t.Errorf("location = %v, want the configured zone %v", doc.Location(), h.svc.Settings().Timezone)
	}
	for id, want := range map[string]string{"UBOB": "Bob Brown", "UEVE": "<b>Eve & co", actorBot: "opsbot", "": "—", "UNOBODY": "UNOBODY"} {
		if got := doc.Name(id); got != want {
			t.Errorf("Name(%q) = %q, want %q", id, got, want)
		}
	}
	var role, note bot.TimelineEvent
	for _, ev := range doc.Events {
		switch {
		case ev.Type == bot.TLRoleAssigned && ev.Details["user"] == "UEVE":
			role = ev
		case ev.Type == bot.TLNote:
			note = ev
		}
	}
	// People's names are escaped like the text around them, so a front end
	// parses one kind of text.
	if got, want := doc.Sentence(role), "@&lt;b&gt;Eve &amp; co became commander, taking over from @Alice Adams (assigned by @Alice Adams)"; got != want {
		t.Errorf("role sentence = %q, want %q", got, want)
	}
	if got, want := doc.Sentence(note), "@Alice Adams noted: ask @Bob Brown to check <https://grafana.example/d/1|the dashboard> &lt;script&gt;"; got != want {
		t.Errorf("note sentence = %q, want %q", got, want)
	}
	// The Markdown line says the same, in Markdown: the masked link with its
	// target shown, nothing a renderer could read as a link or a tag.
	if got, want := doc.Line(note), "@Alice Adams noted: ask @Bob Brown to check the dashboard (https\\://grafana.example/d/1) \\<script\\>"; got != want {
		t.Errorf("Markdown line = %q, want %q", got, want)
	}

	for _, key := range []string{"INC-99", "not-a-key"} {
		if _, err := h.svc.Document(h.ctx(), key); !errors.Is(err, bot.ErrIncidentNotFound) {
			t.Errorf("Document(%q) error = %v, want ErrIncidentNotFound", key, err)
		}
	}
}

func TestRunbookOutcomeIsTheSameInBothForms(t *testing.T) {
	doc := &Document{names: map[string]string{"UBOB": "Bob_Brown"}}
	r := RunbookRun{Details: map[string]string{"event": string(bot.AuditFinished), "exit_code": "0", "duration": "2s", "approver": "UBOB"}}
	if got, want := doc.Outcome(r), "succeeded (exit 0 in 2s), approved by @Bob_Brown"; got != want {
		t.Errorf("Outcome = %q, want %q", got, want)
	}
	if got, want := doc.RunOutcome(r), mdInline(doc.Outcome(r)); got != want || !strings.Contains(got, `Bob\_Brown`) {
		t.Errorf("RunOutcome = %q, want the Markdown-escaped %q", got, want)
	}
}
