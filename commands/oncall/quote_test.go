package oncall_test

import (
	"context"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/commands/oncall"
)

// A handoff repeats open incidents' titles, which people typed: they are
// quoted, so the handoff never pings a channel, a group or a person.
func TestHandoffQuotesIncidentTitles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(c *oncall.Config) {
		c.Incidents = openIncidents{{Key: "INC-7", Title: "db <!here> <!subteam^S0SRE|@sre> <@U0VICTIM|vic> <https://evil.example|https://good.example>",
			Severity: "sev2", Status: "investigating", Commander: "UCMD", Channel: "CINC7"}}
	})
	for _, at := range []string{"2026-03-29T06:59:00Z", "2026-03-29T07:00:10Z"} {
		f.clock.Set(utc(at))
		if err := f.svc.SyncNow(ctx); err != nil {
			t.Fatalf("sync at %s: %v", at, err)
		}
	}
	posts := f.chat.ChannelPosts()
	if len(posts) != 1 {
		t.Fatalf("got %d posts, want the handoff", len(posts))
	}
	text := posts[0].Text
	for _, bad := range []string{"<!here", "<!subteam", "<@U0VICTIM", "<https://evil"} {
		if strings.Contains(text, bad) {
			t.Errorf("handoff contains %q: %q", bad, text)
		}
	}
	if want := "INC-7 db @here @sre @vic https://good.example (https://evil.example) (sev2"; !strings.Contains(text, want) {
		t.Errorf("handoff %q, want the title shown as text: %q", text, want)
	}
}
