package oncall_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/oncall"
)

type firing []bot.AlertGroupSummary

func (f firing) FiringAlertGroups(context.Context) ([]bot.AlertGroupSummary, error) { return f, nil }

type dueFollowups struct {
	list []bot.FollowupSummary
	by   *time.Time
	err  error
}

func (d dueFollowups) FollowupsDue(_ context.Context, by time.Time) ([]bot.FollowupSummary, error) {
	*d.by = by
	return d.list, d.err
}

// TestHandoffReadIn: the handoff and the incoming person's DM carry the
// firing alert groups (raw names quoted) and the follow-ups due before the
// incoming shift ends; a part that cannot be read says so.
func TestHandoffReadIn(t *testing.T) {
	ctx := context.Background()
	var askedBy time.Time
	since := utc("2026-03-29T05:00:00Z")
	f := newFixture(t, func(c *oncall.Config) {
		c.Incidents = openIncidents{}
		c.Alerts = firing{
			{ID: "g1", Name: "HighErrorRate <!channel>", Firing: 3, Since: since, Channel: "CALERTS"},
			{ID: "g2", Name: "DiskFull", Firing: 1, Since: since, AckedBy: "UANNA", Incident: "INC-9"},
		}
		c.Followups = dueFollowups{by: &askedBy, list: []bot.FollowupSummary{
			{Incident: "INC-4", Number: 2, Text: "rotate the &lt;db&gt; creds", Owner: "UBEN", Due: utc("2026-03-29T16:00:00Z")},
			{Incident: "INC-5", Number: 1, Text: "write the post-mortem", Due: utc("2026-03-30T06:00:00Z")},
		}}
	})
	f.clock.Set(utc("2026-03-29T06:59:00Z"))
	if err := f.svc.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(utc("2026-03-29T07:00:10Z"))
	if err := f.svc.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	posts := f.chat.ChannelPosts()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want one handoff", len(posts))
	}
	dms := f.chat.DMs()
	if len(dms) != 1 || dms[0].Channel != "UCLEO" {
		t.Fatalf("read-ins %+v, want one to UCLEO", dms)
	}
	for where, txt := range map[string]string{"handoff": posts[0].Text, "read-in": dms[0].Text} {
		got := bot.DateFallbacks(txt)
		for _, want := range []string{
			"No open incidents.",
			"*Firing alerts*",
			"• HighErrorRate &lt;!channel&gt;: 3 firing since 2026-03-29 07:00 CEST, *unacknowledged* in <#CALERTS>",
			"• DiskFull: 1 firing since 2026-03-29 07:00 CEST, acknowledged by <@UANNA>, INC-9",
			"*Follow-ups due this shift*",
			"• INC-4 #2 rotate the &lt;db&gt; creds, due 2026-03-29 18:00 CEST, owner <@UBEN>",
			"• INC-5 #1 write the post-mortem, due 2026-03-30 08:00 CEST, *no owner*",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks %q:\n%s", where, want, got)
			}
		}
		if strings.Contains(txt, "<!channel>") {
			t.Errorf("%s repeats an alert name as markup: %s", where, txt)
		}
	}
	if want := utc("2026-03-30T07:00:00Z"); !askedBy.Equal(want) {
		t.Errorf("follow-ups asked due by %s, want the incoming shift's end %s", askedBy, want)
	}

	// A failing source is said, not hidden.
	g := newFixture(t, func(c *oncall.Config) {
		c.Followups = dueFollowups{by: &askedBy, err: errors.New("redis: connection refused")}
	})
	g.clock.Set(utc("2026-03-29T06:59:00Z"))
	_ = g.svc.SyncNow(ctx)
	g.clock.Set(utc("2026-03-29T07:00:10Z"))
	_ = g.svc.SyncNow(ctx)
	if p := g.chat.ChannelPosts(); len(p) != 1 || !strings.Contains(p[0].Text, "_Follow-ups due could not be listed._") {
		t.Errorf("handoff with a failing follow-up source: %+v", p)
	}
}

// TestHandoffReadInCapped: on a bad night the read-in shows the first ten
// of each list and says how many more there are and where to see them, so
// the handoff stays within Slack's limits and readable.
func TestHandoffReadInCapped(t *testing.T) {
	ctx := context.Background()
	var askedBy time.Time
	since := utc("2026-03-29T05:00:00Z")
	var groups firing
	for i := range 25 {
		groups = append(groups, bot.AlertGroupSummary{ID: fmt.Sprintf("g%d", i), Name: fmt.Sprintf("Alert%02d", i), Firing: 1, Since: since})
	}
	var fus []bot.FollowupSummary
	for i := range 11 {
		fus = append(fus, bot.FollowupSummary{Incident: "INC-4", Number: i + 1, Text: fmt.Sprintf("item %d", i+1), Due: utc("2026-03-29T16:00:00Z")})
	}
	f := newFixture(t, func(c *oncall.Config) {
		c.Alerts = groups
		c.Followups = dueFollowups{by: &askedBy, list: fus}
	})
	f.clock.Set(utc("2026-03-29T06:59:00Z"))
	if err := f.svc.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(utc("2026-03-29T07:00:10Z"))
	if err := f.svc.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	posts := f.chat.ChannelPosts()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want one handoff", len(posts))
	}
	txt := posts[0].Text
	for _, want := range []string{"• Alert09:", "_…and 15 more; `/alerts` lists them all._", "• INC-4 #10 item 10", "_…and 1 more;"} {
		if !strings.Contains(txt, want) {
			t.Errorf("handoff lacks %q:\n%s", want, txt)
		}
	}
	for _, not := range []string{"• Alert10:", "• INC-4 #11 "} {
		if strings.Contains(txt, not) {
			t.Errorf("handoff shows %q past the cap:\n%s", not, txt)
		}
	}
}
