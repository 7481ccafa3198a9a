package incident

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// While Redis is down, commands keep answering: notes, updates and pins are
// held by the timeline and written once it is back; changes of state are
// refused with a clear message and change nothing.
func TestRedisOutage(t *testing.T) {
	srv := redistest.NewServer(t, redistest.WithAppendOnly())
	h := newHarnessOn(t, srv.Client(), bottest.NewClock(t0), bottest.NewChat(), nil)
	inc := h.declare("sev2 api errors")
	h.chat.AddMessage(bot.ChatMessage{Ref: bot.MessageRef{Channel: inc.Channel, TS: "1800000001.000100"}, User: "UCAROL", Text: "db failover started",
		Time: t0.Add(time.Minute)})

	srv.Stop()
	h.clock.Add(5 * time.Minute)

	if resp := h.must("UBOB", inc.Channel, "note failover in progress"); !strings.Contains(resp.Message.Text, "Added") {
		t.Errorf("note during the outage: %q, want it accepted", resp.Message.Text)
	}
	h.must("UBOB", inc.Channel, "update failing over the database")
	if posts := h.chat.PostsIn("CBROADCAST"); !strings.Contains(posts[len(posts)-1].Text, "failing over the database") {
		t.Errorf("update not broadcast during the outage: %+v", posts[len(posts)-1])
	}
	if _, err := h.run(&bot.Request{Kind: bot.KindEvent, UserID: "UBOB", Event: &bot.Event{ID: "EvPin",
		Type: bot.EventReactionAdded, Reaction: "pushpin", Item: bot.MessageRef{Channel: inc.Channel, TS: "1800000001.000100"}}}); err != nil {
		t.Errorf("pin during the outage: %v", err)
	}

	refused := []struct {
		name, channel, text, want string
	}{
		{name: "severity change", channel: inc.Channel, text: "sev sev1", want: "can't reach the incident store"},
		{name: "new declaration", channel: "CGENERAL", text: "declare sev1 another one", want: "no incident was declared"},
		{name: "timeline", channel: inc.Channel, text: "timeline", want: "can't reach the incident store"},
		{name: "list", channel: "CGENERAL", text: "list", want: "can't reach the incident store"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			mutations := len(h.chat.Mutations())
			_, err := h.cmd("UBOB", tt.channel, tt.text)
			var ue *bot.UserError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.want) {
				t.Fatalf("/incident %s during the outage: %v, want a user error with %q", tt.text, err, tt.want)
			}
			if got := h.chat.Mutations()[mutations:]; len(got) != 0 {
				t.Errorf("refused command still changed Slack: %v", got)
			}
		})
	}

	srv.Start()
	// The client's pool backs off from the failed dials for a moment; wait
	// for it to reconnect rather than for a fixed time.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := h.tl.Flush(h.ctx())
		if err == nil {
			if _, err = h.tl.Events(h.ctx(), inc.Key); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis not back after the outage: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := []bot.TimelineEventType{bot.TLDeclared, bot.TLRoleAssigned, bot.TLNote, bot.TLUpdate, bot.TLPinned}
	if diff := cmp.Diff(want, eventTypes(h.events(inc.Key))); diff != "" {
		t.Errorf("timeline after the outage (-want +got):\n%s", diff)
	}
	if got := h.get(inc.Key); got.Severity != bot.Sev2 {
		t.Errorf("severity = %s after a refused change, want sev2", got.Severity)
	}
	// The update during the outage acknowledged the incident: the
	// milestone is stamped at its own time once the store answers.
	h.clock.Add(10 * time.Minute)
	if err := h.svc.Tick(h.ctx()); err != nil {
		t.Fatalf("tick after the outage: %v", err)
	}
	if got, want := h.get(inc.Key).AcknowledgedAt, t0.Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("AcknowledgedAt = %s after the outage, want %s (the update during it)", got, want)
	}
	// Commands work normally again.
	h.must("UBOB", inc.Channel, "sev sev1")
}
