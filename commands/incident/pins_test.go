package incident

import (
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
)

func TestPinnedMessagesLandInTimeline(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("sev2 api errors")
	said := t0.Add(-3 * time.Minute) // before the pin, even before the declaration
	h.chat.AddMessage(bot.ChatMessage{
		Ref:  bot.MessageRef{Channel: inc.Channel, TS: "1799999820.000200"},
		User: "UCAROL", Text: "I see 502s from the LB since 08:57", Time: said, ThreadTS: "1799999800.000100"})
	h.clock.Add(10 * time.Minute)

	event := func(id string, typ bot.EventType, ch, ts, reaction, text string) (bot.Response, error) {
		return h.run(&bot.Request{Kind: bot.KindEvent, UserID: "UBOB", ChannelID: ch, DedupeKey: id,
			Event: &bot.Event{ID: id, Type: typ, Reaction: reaction, Item: bot.MessageRef{Channel: ch, TS: ts},
				ItemUser: "UCAROL", Text: text, Time: h.clock.Now()}})
	}
	steps := []struct {
		name string
		id   string
		typ  bot.EventType
		ch   string
		ts   string
		rx   string
		text string
	}{
		{name: "pushpin captures", id: "Ev1", typ: bot.EventReactionAdded, ch: inc.Channel, ts: "1799999820.000200", rx: "pushpin"},
		{name: "second pushpin by someone else is a duplicate", id: "Ev2", typ: bot.EventReactionAdded, ch: inc.Channel, ts: "1799999820.000200", rx: "pushpin"},
		{name: "other emoji ignored", id: "Ev3", typ: bot.EventReactionAdded, ch: inc.Channel, ts: "1799999820.000200", rx: "eyes"},
		{name: "pushpin outside incidents ignored", id: "Ev4", typ: bot.EventReactionAdded, ch: "CGENERAL", ts: "1.1", rx: "pushpin"},
		{name: "edit of another message ignored", id: "Ev5", typ: bot.EventMessageChanged, ch: inc.Channel, ts: "1799999999.000001", text: "x"},
		{name: "edit of the captured message", id: "Ev6", typ: bot.EventMessageChanged, ch: inc.Channel, ts: "1799999820.000200", text: "I see 502s from the LB since 08:55"},
		{name: "unpin", id: "Ev7", typ: bot.EventReactionRemoved, ch: inc.Channel, ts: "1799999820.000200", rx: "pushpin"},
		{name: "delete", id: "Ev8", typ: bot.EventMessageDeleted, ch: inc.Channel, ts: "1799999820.000200"},
		{name: "delete redelivered", id: "Ev8", typ: bot.EventMessageDeleted, ch: inc.Channel, ts: "1799999820.000200"},
	}
	for _, s := range steps {
		if _, err := event(s.id, s.typ, s.ch, s.ts, s.rx, s.text); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	var got []bot.TimelineEvent
	for _, ev := range h.events(inc.Key) {
		switch ev.Type {
		case bot.TLDeclared, bot.TLRoleAssigned:
		default:
			got = append(got, ev)
		}
	}
	want := []bot.TimelineEventType{bot.TLPinned, bot.TLMessageEdited, bot.TLUnpinned, bot.TLMessageDeleted}
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", eventTypes(got), want)
	}
	for i, w := range want {
		if got[i].Type != w {
			t.Errorf("event %d = %s, want %s", i, got[i].Type, w)
		}
	}
	pin := got[0]
	if !pin.Time.Equal(said) || pin.Actor != "UCAROL" || pin.Text != "I see 502s from the LB since 08:57" {
		t.Errorf("pinned = %+v, want the message's own time, author and text", pin)
	}
	if pin.Details["permalink"] == "" || pin.Details["pinned_by"] != "UBOB" || pin.Details["thread_ts"] != "1799999800.000100" {
		t.Errorf("pinned details = %v, want permalink, pinned_by and thread", pin.Details)
	}
	if got[1].Text != "I see 502s from the LB since 08:55" {
		t.Errorf("edit text = %q, want the new text", got[1].Text)
	}
}
