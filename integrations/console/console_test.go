package console

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
)

func newTestWorkspace(out *bytes.Buffer) *Workspace {
	clock := bot.ClockFunc(func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) })
	ws := NewWorkspace(out, clock, "T1")
	ws.AddUser(bot.User{ID: "U0ALICE", Name: "alice"})
	ws.AddUser(bot.User{ID: "U0BOB", Name: "bob"})
	ws.AddChannel("C0OPS", "ops", "U0ALICE", "U0BOB")
	ws.AddUsergroup("S0SRE", "sre", "U0ALICE")
	return ws
}

// What the bot posts is shown as a person sees it in Slack: mentions by
// name, links by label, buttons numbered for :click.
func TestWorkspaceShowsMessagesAsPeopleSeeThem(t *testing.T) {
	var out bytes.Buffer
	ws := newTestWorkspace(&out)
	ref, err := ws.Post(context.Background(), bot.Message{Channel: "C0OPS", Title: "INC-1",
		Text:    "<@U0BOB|bob> took command in <#C0OPS|ops>; paging <!subteam^S0SRE|@sre>, see <https://x.example/p|the page>",
		Buttons: []bot.Button{{ID: "a", Text: "Resolve", Value: "INC-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"→ #ops:", "@bob took command in #ops; paging @sre, see the page (https://x.example/p)", "[1 Resolve]"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	b, bref, ok := ws.Button(1)
	if !ok || b.Value != "INC-1" || bref != ref {
		t.Errorf("Button(1) = %+v %+v %v, want the Resolve button of %+v", b, bref, ok, ref)
	}
	if _, _, ok := ws.Button(2); ok {
		t.Error("Button(2) exists, want only one button")
	}
}

func TestWorkspaceChannelsBehaveLikeSlack(t *testing.T) {
	var out bytes.Buffer
	ws := newTestWorkspace(&out)
	ctx := context.Background()
	ch, err := ws.CreateChannel(ctx, "inc-1-db")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.CreateChannel(ctx, "inc-1-db"); err == nil || !strings.Contains(err.Error(), bot.ErrNameTaken.Error()) {
		t.Errorf("second create: %v, want name taken", err)
	}
	if _, err := ws.CreateChannel(ctx, "Has Spaces"); err == nil {
		t.Error("invalid name accepted")
	}
	if err := ws.Invite(ctx, ch.ID, "U0NOBODY"); err == nil {
		t.Error("invite of an unknown user accepted")
	}
	if err := ws.Archive(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Post(ctx, bot.Message{Channel: ch.ID, Text: "x"}); err == nil {
		t.Error("post in an archived channel accepted")
	}
	if _, err := ws.UserByEmail(ctx, "nobody@example.com"); err == nil {
		t.Error("unknown e-mail found")
	}
}

func TestREPLEscapesMentionsLikeTheSlackClient(t *testing.T) {
	var out bytes.Buffer
	r := &REPL{Workspace: newTestWorkspace(&out)}
	tests := []struct{ in, want string }{
		{"commander @bob", "commander <@U0BOB|bob>"},
		{"commander @nobody", "commander @nobody"}, // unknown names stay, so the bot's hint shows
		{"note see #ops", "note see <#C0OPS|ops>"},
		{"email bob@example.com", "email bob@example.com"},
	}
	for _, tt := range tests {
		if got := r.escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if diff := cmp.Diff([]string{"title=db down", "severity=sev1"}, splitQuoted(`title="db down" severity=sev1`)); diff != "" {
		t.Errorf("splitQuoted (-want +got):\n%s", diff)
	}
}

// The bot's own posts are found by their metadata and can be deleted, as
// in Slack.
func TestWorkspaceFindsAndDeletesPosts(t *testing.T) {
	var out bytes.Buffer
	ws := newTestWorkspace(&out)
	ctx := context.Background()
	meta := &bot.MessageMetadata{EventType: "alert_group_message", Payload: map[string]string{"group": "g1", "episode": "1"}}
	ref, err := ws.Post(ctx, bot.Message{Channel: "C0OPS", Text: "firing", Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	match := bot.MessageMetadata{EventType: "alert_group_message", Payload: map[string]string{"group": "g1"}}
	if got, found, err := ws.FindPosted(ctx, "C0OPS", time.Time{}, match); err != nil || !found || got != ref {
		t.Errorf("found %+v %v %v, want %+v", got, found, err, ref)
	}
	later := time.Date(2026, 11, 22, 13, 0, 0, 0, time.UTC)
	if _, found, _ := ws.FindPosted(ctx, "C0OPS", later, match); found {
		t.Error("found a post from before since")
	}
	if err := ws.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := ws.FindPosted(ctx, "C0OPS", time.Time{}, match); found {
		t.Error("found a deleted post")
	}
	if !strings.Contains(out.String(), "deleted") {
		t.Errorf("the deletion is not shown:\n%s", out.String())
	}
	if _, _, err := ws.FindPosted(ctx, "C0NONE", time.Time{}, match); !errors.Is(err, bot.ErrRequestRefused) {
		t.Errorf("unknown channel: %v, want ErrRequestRefused", err)
	}
}
