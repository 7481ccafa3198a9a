package incident

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
)

// recordingLinker hands out recognisable links and remembers for what.
type recordingLinker struct {
	keys []string
	err  error
}

func (l *recordingLinker) IncidentLink(_ context.Context, key string) (string, time.Time, error) {
	if l.err != nil {
		return "", time.Time{}, l.err
	}
	l.keys = append(l.keys, key)
	return "https://ops.example.com/incidents/" + key + "?exp=1&sig=x", t0.Add(7 * 24 * time.Hour), nil
}

func buttonIDs(m bot.Message) []string {
	var ids []string
	for _, b := range m.Buttons {
		ids = append(ids, b.ID)
	}
	return ids
}

func TestIncidentLinkGivesASignedURLOnlyToTheAsker(t *testing.T) {
	links := &recordingLinker{}
	h := newHarness(t, func(c *Config) { c.Links = links })
	inc := h.declare("sev2 checkout errors")

	resp := h.must("UBOB", inc.Channel, "link")
	if resp.Visibility != bot.Ephemeral {
		t.Errorf("visibility = %v, want ephemeral: a link is a credential", resp.Visibility)
	}
	if !strings.Contains(resp.Message.Text, "<https://ops.example.com/incidents/INC-1?exp=1&sig=x|Open the INC-1 page>") {
		t.Errorf("text = %q, want the signed URL as a link", resp.Message.Text)
	}
	if want := bot.FormatTime(t0.Add(7*24*time.Hour), h.svc.Settings().Timezone); !strings.Contains(resp.Message.Text, want) {
		t.Errorf("text = %q, want the expiry %s", resp.Message.Text, want)
	}
	if diff := cmp.Diff([]string{"INC-1"}, links.keys); diff != "" {
		t.Errorf("links made (-want +got):\n%s", diff)
	}

	// The pinned summary offers the same, per person, through a button.
	summary := h.chat.Latest(inc.SummaryRef.TS)
	if ids := buttonIDs(summary); len(ids) == 0 || ids[len(ids)-1] != ActionWebLink {
		t.Fatalf("summary buttons = %v, want %s last", ids, ActionWebLink)
	}
	resp, err := h.run(&bot.Request{Kind: bot.KindAction, UserID: "UCAROL", ChannelID: inc.Channel, TriggerID: "T1",
		Action: &bot.Action{ID: ActionWebLink, Value: inc.Key, Message: inc.SummaryRef}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Visibility != bot.Ephemeral || resp.ReplaceOriginal || !strings.Contains(resp.Message.Text, "/incidents/INC-1?") {
		t.Errorf("button response = %+v, want the link only to the clicker, summary left alone", resp)
	}

	// A resolved incident keeps the button: the post-mortem is read then.
	h.must("UALICE", inc.Channel, "resolve rolled back")
	if diff := cmp.Diff([]string{ActionWebLink}, buttonIDs(h.chat.Latest(inc.SummaryRef.TS))); diff != "" {
		t.Errorf("resolved summary buttons (-want +got):\n%s", diff)
	}
}

func TestIncidentLinkRefusals(t *testing.T) {
	t.Run("not configured", func(t *testing.T) {
		h := newHarness(t, nil)
		inc := h.declare("sev3 disk full")
		if ids := buttonIDs(h.chat.Latest(inc.SummaryRef.TS)); len(ids) != 4 {
			t.Errorf("summary buttons = %v, want no Web page button without a web view", ids)
		}
		_, err := h.cmd("UALICE", inc.Channel, "link")
		if msg := bot.UserMessage(err, ""); !strings.Contains(msg, "OPSBOT_PUBLIC_URL") {
			t.Errorf("got %v, want the hint to configure the web view", err)
		}
	})
	t.Run("outside an incident channel", func(t *testing.T) {
		links := &recordingLinker{}
		h := newHarness(t, func(c *Config) { c.Links = links })
		h.declare("sev3 disk full")
		_, err := h.cmd("UALICE", "CGENERAL", "link")
		if !errors.Is(err, errNotInIncident) {
			t.Errorf("got %v, want the incident-channel hint", err)
		}
		if len(links.keys) != 0 {
			t.Errorf("links made: %v, want none", links.keys)
		}
	})
	t.Run("extra words", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Links = &recordingLinker{} })
		inc := h.declare("sev3 disk full")
		_, err := h.cmd("UALICE", inc.Channel, "link INC-2")
		if msg := bot.UserMessage(err, ""); !strings.Contains(msg, "/incident link") {
			t.Errorf("got %q, want the usage", msg)
		}
	})
	t.Run("a crafted button value", func(t *testing.T) {
		// Someone in one incident's channel edits the Web page button's
		// value to another (perhaps private) incident's key.
		links := &recordingLinker{}
		h := newHarness(t, func(c *Config) { c.Links = links })
		mine := h.declare("sev3 disk full")
		other := h.declare("sev2 private matter")
		_, err := h.run(&bot.Request{Kind: bot.KindAction, UserID: "UCAROL", ChannelID: mine.Channel, TriggerID: "T1",
			Action: &bot.Action{ID: ActionWebLink, Value: other.Key, Message: mine.SummaryRef}})
		if !errors.Is(err, errNotSummary) {
			t.Errorf("got %v, want the not-this-summary refusal", err)
		}
		if len(links.keys) != 0 {
			t.Errorf("links made: %v, want none", links.keys)
		}
	})
	t.Run("signing fails", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Links = &recordingLinker{err: errors.New("boom")} })
		inc := h.declare("sev3 disk full")
		_, err := h.cmd("UALICE", inc.Channel, "link")
		var ue *bot.UserError
		if err == nil || errors.As(err, &ue) {
			t.Errorf("got %v, want an internal error (the engine apologises generically)", err)
		}
	})
}
