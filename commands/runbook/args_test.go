package runbook

import (
	"context"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/bot"
)

// TestArgumentErrorsNeedNoIO: /runbook's help and the usage errors that are
// not audited are answered by the router alone (in Slack, in the command's
// ack). Refusals of a run stay with the handler, because each is written to
// the audit trail.
func TestArgumentErrorsNeedNoIO(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct{ text, want string }{
		{"help", "`/runbook run NAME [key=value …] [--dry-run]`"},
		{"show", "Usage: `/runbook show NAME`"},
		{"show restart now", "Usage: `/runbook show NAME`"},
		{"show nosuch", "There is no runbook called `nosuch`"},
		{"run", "Usage: `/runbook run NAME"},

		{"list", ""},
		{"show restart", ""},
		{"run nosuch", ""}, // audited as refused
		{"run restart deployment=Bad! --dry-run", ""},
		{"run restart deployment=web --dry-run", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			req := &bot.Request{Kind: bot.KindCommand, Command: "/runbook", Text: tt.text, UserID: "U0ALICE", ChannelID: "C0OPS", TeamID: "T1"}
			im, ok := e.router.Immediate(req)
			if tt.want == "" {
				if ok {
					t.Errorf("answered at once with %q, want the handler to run", im.Response.Message.Text)
				}
				return
			}
			if !ok || !strings.Contains(im.Response.Message.Text, tt.want) {
				t.Fatalf("Immediate = %q, %v; want an answer containing %q", im.Response.Message.Text, ok, tt.want)
			}
			if tt.text == "help" {
				return
			}
			req = &bot.Request{Kind: bot.KindCommand, Command: "/runbook", Text: tt.text, UserID: "U0ALICE", ChannelID: "C0OPS", TeamID: "T1"}
			h, _ := e.router.Route(req)
			if _, err := h(context.Background(), req); err == nil || bot.UserMessage(err, "") != im.Response.Message.Text {
				t.Errorf("handler path: got %v, want %q", err, im.Response.Message.Text)
			}
		})
	}
	if recs := e.audit(); len(recs) != 0 {
		t.Errorf("audit records = %+v, want none: nothing here was a run", recs)
	}
}
