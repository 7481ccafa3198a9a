package oncall_test

import (
	"strings"
	"testing"

	"github.com/opsbot/opsbot/bot"
)

// TestArgumentErrorsNeedNoIO: /oncall's help, usage and argument errors are
// answered by the router alone (in Slack, in the command's ack), before any
// chat or provider call; the rest is left to the handlers.
func TestArgumentErrorsNeedNoIO(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct{ text, want string }{
		{"help", "`/oncall cover SCHEDULE FROM UNTIL [REASON…]`"},
		{"cover", "Usage: `/oncall cover SCHEDULE FROM UNTIL [REASON…]`"},
		{"cover berlin now", "Usage: `/oncall cover"},
		{"cover berlin now +2h", "not available with the rotation file"},
		{"override berlin <@UBOB|bob> now", "Usage: `/oncall override"},
		{"override berlin <@UBOB|bob> now +1h", "not available with the rotation file"},
		{"tokyo", "I do not follow a schedule called `tokyo`. Schedules: `berlin`."},
		{"berlin today", "Usage: `/oncall`, `/oncall SCHEDULE`"},

		{"", ""},
		{"berlin", ""},
		{"me", ""},
		{"sync", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			req := &bot.Request{Kind: bot.KindCommand, Command: "/oncall", Text: tt.text, UserID: "UALICE", ChannelID: "CX"}
			im, ok := f.router.Immediate(req)
			if len(f.chat.Posts()) != 0 || len(f.chat.DMs()) != 0 {
				t.Errorf("chat used during Immediate")
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
			if tt.text == "help" {
				return
			}
			// The worker path gives the same words.
			if _, err := f.command(t, "UALICE", tt.text); err == nil || bot.UserMessage(err, "") != im.Response.Message.Text {
				t.Errorf("handler path: got %v, want %q", err, im.Response.Message.Text)
			}
		})
	}
}
