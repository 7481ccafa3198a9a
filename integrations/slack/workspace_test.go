package slack

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

func TestIdentity(t *testing.T) {
	fs := fakeslack.New(t)
	c, _, _ := newClient(t, fs)
	id, err := c.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != fakeslack.BotUserID || id.TeamID != fakeslack.TeamID || id.Scopes != nil {
		t.Errorf("got %+v, want the bot in %s and no scopes (the fake reports none)", id, fakeslack.TeamID)
	}

	// Real Slack reports the granted scopes in a header on every answer.
	u, _ := url.Parse(fs.URL())
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		r.Header.Set("X-OAuth-Scopes", "chat:write, commands,pins:write")
		return nil
	}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)
	pc, err := New(Config{AppToken: fs.AppToken(), BotToken: fs.BotToken(), APIURL: proxy.URL + "/api/"})
	if err != nil {
		t.Fatal(err)
	}
	id, err = pc.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"chat:write", "commands", "pins:write"}, id.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}

	fs.FailNext("auth.test", "invalid_auth")
	if _, err := c.Identity(context.Background()); ErrorCode(err) != "invalid_auth" {
		t.Errorf("got %v, want invalid_auth", err)
	}
}

func TestCheckAppToken(t *testing.T) {
	fs := fakeslack.New(t)
	c, _, _ := newClient(t, fs)
	if err := c.CheckAppToken(context.Background()); err != nil {
		t.Errorf("CheckAppToken: %v", err)
	}
	if n := fs.OpenConnections(); n != 0 {
		t.Errorf("%d connections open, want none: the check opens no websocket", n)
	}
	bad, err := New(Config{AppToken: "xapp-1-wrong", BotToken: fs.BotToken(), APIURL: fs.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.CheckAppToken(context.Background()); ErrorCode(err) != "invalid_auth" {
		t.Errorf("wrong app token: got %v, want invalid_auth", err)
	}
}

func TestChannelAndUsergroups(t *testing.T) {
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice"})
	mine := fs.AddChannel("incidents", fakeslack.BotUserID)
	old := fs.AddChannel("old", fakeslack.BotUserID)
	api := slack.New(fs.BotToken(), slack.OptionAPIURL(fs.APIURL()))
	if err := api.ArchiveConversation(old); err != nil {
		t.Fatal(err)
	}
	sre := fs.AddUsergroup("sre", alice)
	c, _, _ := newClient(t, fs)
	ctx := context.Background()

	for _, want := range []Channel{
		{ID: mine, Name: "incidents", Member: true},
		{ID: old, Name: "old", Archived: true, Member: true},
	} {
		got, err := c.Channel(ctx, want.ID)
		if err != nil || got != want {
			t.Errorf("Channel(%s) = %+v, %v; want %+v", want.ID, got, err, want)
		}
	}
	if _, err := c.Channel(ctx, "C0NOPE"); !errors.Is(err, bot.ErrNotFound) || ErrorCode(err) != "channel_not_found" {
		t.Errorf("missing channel: got %v, want bot.ErrNotFound with channel_not_found", err)
	}

	groups, err := c.Usergroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Usergroup{{ID: sre, Handle: "sre"}}, groups); diff != "" {
		t.Errorf("user groups (-want +got):\n%s", diff)
	}
}

// A deactivated account is a user with Deleted set, not an error.
func TestUserDeleted(t *testing.T) {
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: "U0GONE", Name: "gone", Deleted: true})
	c, _, _ := newClient(t, fs)
	u, err := c.User(context.Background(), "U0GONE")
	if err != nil || !u.Deleted {
		t.Errorf("got %+v, %v; want a deleted user", u, err)
	}
}
