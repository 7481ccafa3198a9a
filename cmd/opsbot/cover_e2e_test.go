package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

const coverPDToken = "pd-cover-token"

// coverWorld is the workspace of the cover tests: PagerDuty accounts for
// alice, bob and carol (dana, an admin, has none), alice on call for
// payments until 2 December 09:00 UTC and bob after, and two replicas.
type coverWorld struct {
	*world
	PD        *fakepd.Server
	Clock     *bottest.Clock
	Handoff   string
	Bots      []*testBot
	StartedAt time.Time
}

func newCoverWorld(t *testing.T) *coverWorld {
	t.Helper()
	w := newWorld(t)
	// alice reads and types times in Berlin.
	w.Slack.AddUser(fakeslack.User{ID: alice, Name: "alice", RealName: "Alice Example", Email: "alice@example.com", TZ: "Europe/Berlin"})
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := bottest.NewClock(now)
	pd := fakepd.New(t, coverPDToken)
	pd.SetNow(clk.Now)
	for _, u := range []fakepd.User{
		{ID: "PALICE", Name: "Alice", Email: "alice@example.com"},
		{ID: "PBOB", Name: "Bob", Email: "bob@example.com"},
		{ID: "PCAROL", Name: "Carol", Email: "carol@example.com"},
		{ID: "PBOT", Name: "opsbot", Email: "opsbot@example.com"},
	} {
		pd.AddUser(u)
	}
	day := 24 * time.Hour
	pd.SetSchedule(fakepd.Schedule{ID: "PSCHED01", Name: "payments", Layers: [][]fakepd.Entry{{
		{UserID: "PALICE", Start: now.Add(-day).Truncate(day).Add(9 * time.Hour), End: now.Truncate(day).Add(day + 9*time.Hour)},
		{UserID: "PBOB", Start: now.Truncate(day).Add(day + 9*time.Hour), End: now.Truncate(day).Add(2*day + 9*time.Hour)},
	}}})
	pd.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP1", Name: "payments", Rules: []fakepd.Rule{{Level: 1, ScheduleID: "PSCHED01"}}})
	handoff := w.Slack.AddChannel("payments-oncall", fakeslack.BotUserID, alice, bob, carol, dana)
	cfg := fmt.Sprintf(`admins: [%s]
incidents:
  broadcast_channel: %s
oncall:
  cover_max: 12h
  schedules:
    - {id: PSCHED01, name: payments, handoff_channel: %s}
pagerduty:
  from_email: opsbot@example.com
`, dana, w.Incidents, handoff)
	cw := &coverWorld{world: w, PD: pd, Clock: clk, Handoff: handoff, StartedAt: now}
	for i := 0; i < 2; i++ {
		cw.Bots = append(cw.Bots, w.startBot(t, botOptions{ConfigYAML: cfg, Clock: clk, NoBackground: true,
			Env: map[string]string{"PAGERDUTY_TOKEN": coverPDToken, "PAGERDUTY_API_URL": pd.URL}}))
	}
	if err := w.Slack.WaitConnections(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	cw.syncAll(t)
	return cw
}

// syncAll runs the sync on every replica, as their timers would.
func (cw *coverWorld) syncAll(t *testing.T) {
	t.Helper()
	for _, b := range cw.Bots {
		if err := b.App.oncall.SyncNow(testCtx(t)); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
}

// messagesWith returns the handoff channel's messages (thread replies
// included) whose rendered text, dates as their fallback, contains text.
func (cw *coverWorld) messagesWith(text string) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range cw.Slack.Messages(cw.Handoff) {
		if strings.Contains(bot.DateFallbacks(m.Rendered()), text) {
			out = append(out, m)
		}
	}
	return out
}

func (cw *coverWorld) dmsTo(user string) []string {
	ch, ok := cw.Slack.DMChannel(user)
	if !ok {
		return nil
	}
	var out []string
	for _, m := range cw.Slack.Messages(ch) {
		out = append(out, bot.DateFallbacks(m.Rendered()))
	}
	return out
}

func (cw *coverWorld) click(t *testing.T, user string, m fakeslack.Message, action string) fakeslack.Sent {
	t.Helper()
	v := buttonValue(m.Blocks, action)
	if v == "" {
		t.Fatalf("no %s button on %q", action, m.Rendered())
	}
	sent, err := cw.Slack.SendBlockAction(fakeslack.BlockAction{UserID: user, ChannelID: cw.Handoff, MessageTS: m.TS, ActionID: action, Value: v})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// TestE2ECoverTakenOnceAcrossReplicas: alice asks for cover; bad requests
// and ineligible clicks change nothing; a PagerDuty failure releases the
// request; bob and carol click at once on two replicas and exactly one
// override and one "taken" message result; the override's start and end
// each get exactly one handoff, the taker a DM read-in; /oncall SCHEDULE
// and /oncall me show it all.
func TestE2ECoverTakenOnceAcrossReplicas(t *testing.T) {
	cw := newCoverWorld(t)

	// 1. Requests refused, each with a clear reason, nothing posted.
	for _, tc := range []struct{ user, text, want string }{
		{alice, "cover payments yesterday +1h", "cannot read FROM `yesterday`"},
		{alice, "cover payments 2026-11-30 10:00 +1h", "is in the past"},
		{alice, "cover payments today 20:00 today 19:00", "must be after the start"},
		{alice, "cover payments today 12:00 +13h", "the longest allowed is 12h"},
		{alice, "cover nosuch today 12:00 +1h", "I do not follow a schedule called `nosuch`"},
		{alice, "cover payments 2026-03-29 02:30 +1h", "does not exist in Europe/Berlin"},
		{bob, "cover payments today 19:00 +4h", "You are not on call for *payments*"},
	} {
		cw.slash(t, tc.user, cw.General, "/oncall", tc.text)
		cw.ephemeralContaining(t, cw.General, tc.user, tc.want)
	}
	if n := len(cw.Slack.Messages(cw.Handoff)); n != 0 {
		t.Fatalf("%d messages in the handoff channel after refused requests, want none", n)
	}

	// 2. alice asks, in her zone: 19:00 Berlin is 18:00 UTC. The reason
	// cannot ping the channel.
	cw.slash(t, alice, cw.General, "/oncall", "cover payments today 19:00 +4h dentist <!here>")
	cw.ephemeralContaining(t, cw.General, alice, "Asked for cover on *payments* from 2026-12-01 19:00 CET to 2026-12-01 23:00 CET (4h)")
	req := cw.messageContaining(t, cw.Handoff, "needs someone on call for *payments* from 2026-12-01 18:00 UTC to 2026-12-01 22:00 UTC (4h)")
	if r := req.Rendered(); !strings.Contains(r, "Reason: dentist @here") || strings.Contains(r, "<!here>") {
		t.Errorf("request %q: want the reason quoted, no broadcast", r)
	}

	// 3. Ineligible clicks: the requester, and dana who has no PagerDuty account.
	cw.click(t, alice, req, "oncall.cover.take")
	cw.ephemeralContaining(t, cw.Handoff, alice, "You asked for this cover")
	cw.click(t, dana, req, "oncall.cover.take")
	cw.ephemeralContaining(t, cw.Handoff, dana, "You have no PagerDuty account with the e-mail address of your Slack profile")
	cw.click(t, bob, req, "oncall.cover.cancel")
	cw.ephemeralContaining(t, cw.Handoff, bob, "Only <@U0ALICE>, who asked, can cancel")

	// 4. PagerDuty fails the create: the request is open again, nothing made.
	cw.PD.FailNextOn("POST /schedules/{id}/overrides", 1, fakepd.Fault{Status: 503})
	cw.click(t, carol, req, "oncall.cover.take")
	cw.ephemeralContaining(t, cw.Handoff, carol, "PagerDuty did not answer, so the override was not made. Nothing changed")
	if n := len(cw.PD.Overrides("PSCHED01")); n != 0 {
		t.Fatalf("%d overrides after a failed create, want 0", n)
	}

	// 5. bob and carol click at the same moment; the fake hands the two
	// envelopes to the two replicas in turn.
	s1 := cw.click(t, bob, req, "oncall.cover.take")
	s2 := cw.click(t, carol, req, "oncall.cover.take")
	for _, s := range []fakeslack.Sent{s1, s2} {
		if _, err := cw.Slack.WaitAck(testCtx(t), s.EnvelopeID); err != nil {
			t.Fatal(err)
		}
	}
	taken := cw.messageContaining(t, cw.Handoff, "took the cover for <@U0ALICE>")
	taker, loser := bob, carol
	if strings.Contains(taken.Rendered(), "<@"+carol+">") {
		taker, loser = carol, bob
	}
	cw.ephemeralContaining(t, cw.Handoff, taker, "You are on call for *payments* from 2026-12-01 18:00 UTC to 2026-12-01 22:00 UTC, covering for <@U0ALICE>")
	// The loser's click came while the winner's was making the override, or
	// after: either way it is told who has it.
	cw.waitFor(t, "the loser told", func() bool {
		for _, e := range cw.Slack.Ephemerals(cw.Handoff, loser) {
			r := e.Rendered()
			if strings.Contains(r, "<@"+taker+"> has already taken this cover") || strings.Contains(r, "<@"+taker+"> is taking this cover right now") {
				return true
			}
		}
		return false
	})
	cw.waitFor(t, "the request to show who took it", func() bool {
		m, ok := cw.Slack.Message(cw.Handoff, req.TS)
		return ok && strings.Contains(m.Rendered(), "Taken by <@"+taker+">") && buttonValue(m.Blocks, "oncall.cover.take") == ""
	})
	ovs := cw.PD.Overrides("PSCHED01")
	if len(ovs) != 1 {
		t.Fatalf("got %d overrides, want exactly 1: %+v", len(ovs), ovs)
	}
	wantUser := map[string]string{bob: "PBOB", carol: "PCAROL"}[taker]
	if o := ovs[0]; o.UserID != wantUser || !o.Start.Equal(time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)) || !o.End.Equal(time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("override %+v, want %s 18:00–22:00 UTC", o, wantUser)
	}
	if n := len(cw.messagesWith("took the cover")); n != 1 {
		t.Errorf("%d taken messages, want exactly 1", n)
	}
	cw.waitFor(t, "alice told", func() bool {
		for _, d := range cw.dmsTo(alice) {
			if strings.Contains(d, "<@"+taker+"> is covering for you on *payments*") {
				return true
			}
		}
		return false
	})
	// A late click changes nothing.
	cw.click(t, loser, req, "oncall.cover.take")
	if n := len(cw.PD.Overrides("PSCHED01")); n != 1 {
		t.Errorf("%d overrides after a late click, want 1", n)
	}

	// 6. /oncall payments shows the override and who arranged it;
	// /oncall me shows each their shifts, alice in her zone.
	cw.slash(t, loser, cw.General, "/oncall", "payments")
	cw.ephemeralContaining(t, cw.General, loser, "<@"+taker+"> from 2026-12-01 18:00 UTC to 2026-12-01 22:00 UTC, covering for <@U0ALICE>")
	cw.slash(t, taker, cw.General, "/oncall", "me")
	cw.ephemeralContaining(t, cw.General, taker, "*payments* L1: 2026-12-01 18:00 UTC (in 8h) until 2026-12-01 22:00 UTC")
	cw.slash(t, alice, cw.General, "/oncall", "me")
	me := cw.ephemeralContaining(t, cw.General, alice, "*payments* L1: *now*, until 2026-12-01 19:00 CET")
	if r := bot.DateFallbacks(me.Rendered()); !strings.Contains(r, "*payments* L1: 2026-12-01 23:00 CET (in 12h) until 2026-12-02 10:00 CET") {
		t.Errorf("/oncall me for alice:\n%s\nwant her shift after the cover too", r)
	}

	// 7. The cover starts: one handoff however many replicas sync, a DM
	// read-in for the taker.
	cw.Clock.Set(time.Date(2026, 12, 1, 18, 0, 30, 0, time.UTC))
	cw.syncAll(t)
	cw.syncAll(t)
	in := cw.messagesWith("<@U0ALICE> hands over to <@" + taker + "> for *payments*")
	if len(in) != 1 {
		t.Fatalf("%d handoffs at the cover's start, want exactly 1", len(in))
	}
	if r := in[0].Rendered(); !strings.Contains(r, "covers for <@U0ALICE>") || !strings.Contains(r, "No open incidents.") {
		t.Errorf("handoff %q: want the cover noted and the open incidents", r)
	}
	readIns := 0
	for _, d := range cw.dmsTo(taker) {
		if strings.Contains(d, "You are now on call for *payments* until 2026-12-01 22:00 UTC") && strings.Contains(d, "No open incidents.") {
			readIns++
		}
	}
	if readIns != 1 {
		t.Errorf("%d read-ins for the taker, want 1: %q", readIns, cw.dmsTo(taker))
	}

	// 8. The cover ends: it hands back to alice, once.
	cw.Clock.Set(time.Date(2026, 12, 1, 22, 0, 30, 0, time.UTC))
	cw.syncAll(t)
	cw.syncAll(t)
	back := cw.messagesWith("<@" + taker + "> hands over to <@U0ALICE> for *payments*")
	if len(back) != 1 {
		t.Fatalf("%d handoffs at the cover's end, want exactly 1", len(back))
	}
	if !strings.Contains(back[0].Rendered(), "override has ended") {
		t.Errorf("hand-back %q: want the end of the override said", back[0].Rendered())
	}
	if n := len(cw.messagesWith("On-call handoff: payments")); n != 2 {
		t.Errorf("%d handoffs in all, want 2", n)
	}

	// 9. Direct overrides: alice, on call now, may; bob may not; dana has
	// no PagerDuty account to be put on call with.
	cw.Clock.Set(time.Date(2026, 12, 1, 22, 1, 0, 0, time.UTC))
	cw.slash(t, bob, cw.General, "/oncall", "override payments <@"+carol+"> now +1h")
	cw.ephemeralContaining(t, cw.General, bob, "Only opsbot admins and whoever is on call for *payments* now")
	cw.slash(t, alice, cw.General, "/oncall", "override payments <@"+dana+"> now +1h")
	cw.ephemeralContaining(t, cw.General, alice, "<@U0DANA> has no PagerDuty account")
	cw.slash(t, alice, cw.General, "/oncall", "override payments <@"+carol+"|carol> now +1h")
	cw.ephemeralContaining(t, cw.General, alice, "<@U0CAROL> is on call for *payments* from 2026-12-01 23:01 CET to 2026-12-02 00:01 CET")
	if n := len(cw.PD.Overrides("PSCHED01")); n != 2 {
		t.Errorf("%d overrides, want 2 after the direct one", n)
	}
	cw.waitFor(t, "carol told", func() bool {
		for _, d := range cw.dmsTo(carol) {
			if strings.Contains(d, "<@U0ALICE> put you on call for *payments*") {
				return true
			}
		}
		return false
	})
	// The override starts now, so its handoff is posted at once, not at
	// the next round.
	// (The taker of the cover may have been carol too, so count them all.)
	if n := len(cw.messagesWith("On-call handoff: payments")); n != 3 || len(cw.messagesWith("Override set by <@U0ALICE>")) != 1 {
		for _, m := range cw.Slack.Messages(cw.Handoff) {
			t.Logf("in the handoff channel: %s", bot.DateFallbacks(m.Text))
		}
		t.Errorf("%d handoffs in all, want 3: the cover's start and end, and the direct override's start", n)
	}

}

// TestE2ECoverRefusalsAndLeftovers: guests cannot arrange cover; a reason
// with control characters, a click from another workspace and a button
// value moved to another message change nothing; a 429 asking opsbot to
// come back in a minute is answered at once; and an override a dead
// replica made before it could mark the request taken is never doubled:
// someone else's click removes it, the same person's click takes it as
// theirs.
func TestE2ECoverRefusalsAndLeftovers(t *testing.T) {
	cw := newCoverWorld(t)
	ctx := testCtx(t)

	// Guests: no request, no override, no take.
	cw.slash(t, guest, cw.General, "/oncall", "cover payments today 19:00 +1h")
	cw.ephemeralContaining(t, cw.General, guest, "Guests can see who is on call, but only full members of this workspace can ask for cover")
	cw.slash(t, guest, cw.General, "/oncall", "override payments <@"+guest+"|gus> now +1h")
	cw.ephemeralContaining(t, cw.General, guest, "only full members of this workspace can set overrides")
	// Control characters in the reason.
	cw.slash(t, alice, cw.General, "/oncall", "cover payments today 19:00 +1h dentist \x1b[2J\x07")
	cw.ephemeralContaining(t, cw.General, alice, "The reason contains control characters")
	if n := len(cw.Slack.Messages(cw.Handoff)); n != 0 {
		t.Fatalf("%d messages in the handoff channel after refused requests, want none", n)
	}

	ask := func(text, want string) (fakeslack.Message, string) {
		t.Helper()
		cw.slash(t, alice, cw.General, "/oncall", text)
		m := cw.messageContaining(t, cw.Handoff, want)
		return m, buttonValue(m.Blocks, "oncall.cover.take")
	}
	reqA, idA := ask("cover payments today 19:00 +4h dentist", "from 2026-12-01 18:00 UTC to 2026-12-01 22:00 UTC")
	reqB, idB := ask("cover payments tomorrow 01:00 +2h school run", "from 2026-12-02 00:00 UTC to 2026-12-02 02:00 UTC")
	// C ends when A does; bob takes it normally below.
	reqC, _ := ask("cover payments today 22:00 +1h", "from 2026-12-01 21:00 UTC to 2026-12-01 22:00 UTC")

	cw.click(t, guest, reqA, "oncall.cover.take")
	cw.ephemeralContaining(t, cw.Handoff, guest, "You are a guest in this workspace and cannot be put on call")

	// Crafted clicks: another workspace; B's value on A's message; the
	// requester's Cancel for B sent from a message in #general.
	sent, err := cw.Slack.SendBlockAction(fakeslack.BlockAction{UserID: bob, ChannelID: cw.Handoff, MessageTS: reqA.TS,
		ActionID: "oncall.cover.take", Value: idA, TeamID: "T0EVIL"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cw.Slack.WaitAck(ctx, sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	cw.ephemeralContaining(t, cw.Handoff, bob, "serves another Slack workspace")
	if _, err := cw.Slack.SendBlockAction(fakeslack.BlockAction{UserID: bob, ChannelID: cw.Handoff, MessageTS: reqA.TS,
		ActionID: "oncall.cover.take", Value: idB}); err != nil {
		t.Fatal(err)
	}
	cw.ephemeralContaining(t, cw.Handoff, bob, "That button does not belong to the message it was clicked on")
	chatter := cw.Slack.AddMessage(cw.General, carol, "anyone around?", "")
	if _, err := cw.Slack.SendBlockAction(fakeslack.BlockAction{UserID: alice, ChannelID: cw.General, MessageTS: chatter,
		ActionID: "oncall.cover.cancel", Value: idB}); err != nil {
		t.Fatal(err)
	}
	cw.ephemeralContaining(t, cw.General, alice, "That button does not belong to the message it was clicked on")
	if n := len(cw.PD.Overrides("PSCHED01")); n != 0 {
		t.Fatalf("%d overrides after refused clicks, want none", n)
	}

	// PagerDuty asks to come back in a minute: the clicker hears so at
	// once (not after a minute of waiting), and the request stays open.
	cw.PD.FailNextOn("POST /schedules/{id}/overrides", 1, fakepd.Fault{Status: 429, RetryAfter: "60"})
	cw.click(t, carol, reqB, "oncall.cover.take")
	cw.ephemeralContaining(t, cw.Handoff, carol, "PagerDuty is rate-limiting opsbot, so the override was not made")
	if m, _ := cw.Slack.Message(cw.Handoff, reqB.TS); buttonValue(m.Blocks, "oncall.cover.take") == "" {
		t.Fatalf("request B lost its Take it button after a 429: %s", m.Rendered())
	}

	// A replica claimed each request for bob, made his override, and died
	// before marking the request taken; the claims have lapsed.
	covers := oredis.NewCovers(cw.Redis)
	now := cw.Clock.Now()
	for _, c := range []struct {
		id         string
		start, end time.Time
	}{
		{idA, time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)},
		{idB, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)},
	} {
		if _, ok, err := covers.ClaimCover(ctx, c.id, bob, now.Add(-3*time.Minute), now.Add(-time.Minute)); err != nil || !ok {
			t.Fatalf("the dead replica's claim on %s: %v %v", c.id, ok, err)
		}
		cw.PD.AddOverride("PSCHED01", fakepd.Entry{UserID: "PBOB", Start: c.start, End: c.end})
	}
	leftB := ""
	for _, o := range cw.PD.Overrides("PSCHED01") {
		if o.Start.Equal(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) {
			leftB = o.ID
		}
	}

	// bob takes C: an override of his that ends when A ends, but made and
	// recorded by a finished take, so it is nobody's leftover.
	cw.click(t, bob, reqC, "oncall.cover.take")
	cw.ephemeralContaining(t, cw.Handoff, bob, "You are on call for *payments* from 2026-12-01 21:00 UTC to 2026-12-01 22:00 UTC")

	// carol takes A: bob's leftover goes, carol's is the one override.
	cw.click(t, carol, reqA, "oncall.cover.take")
	cw.ephemeralContaining(t, cw.Handoff, carol, "You are on call for *payments* from 2026-12-01 18:00 UTC to 2026-12-01 22:00 UTC, covering for <@U0ALICE>")
	// bob clicks B again: the override his first attempt made is his.
	cw.click(t, bob, reqB, "oncall.cover.take")
	cw.ephemeralContaining(t, cw.Handoff, bob, "You are on call for *payments* from 2026-12-02 00:00 UTC to 2026-12-02 02:00 UTC, covering for <@U0ALICE> (override "+leftB+")")

	var got []string
	for _, o := range cw.PD.Overrides("PSCHED01") {
		got = append(got, fmt.Sprintf("%s %s–%s", o.UserID, o.Start.Format("02 15:04"), o.End.Format("02 15:04")))
	}
	slices.Sort(got)
	if want := []string{"PBOB 01 21:00–01 22:00", "PBOB 02 00:00–02 02:00", "PCAROL 01 18:00–01 22:00"}; !slices.Equal(got, want) {
		t.Errorf("overrides %q, want exactly %q", got, want)
	}
	if n := len(cw.messagesWith("took the cover")); n != 3 {
		t.Errorf("%d taken messages, want 3 (one per request)", n)
	}
}
