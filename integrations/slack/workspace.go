package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/opsbot/opsbot/bot"
)

// The calls in this file describe the workspace rather than act in it: who
// the tokens are, what they may do, and the state of the channels and user
// groups the configuration names. The composition root asks them at start
// and `opsbot doctor` before deploying.

// Identity is who the bot token belongs to, from auth.test.
type Identity struct {
	UserID, UserName string
	TeamID, TeamName string
	// Scopes are the OAuth scopes granted to the bot token, as Slack
	// reports them (the X-OAuth-Scopes header); nil when Slack did not say.
	Scopes []string
}

// Identity asks auth.test who the bot token is.
func (c *Client) Identity(ctx context.Context) (Identity, error) {
	var resp *slack.AuthTestResponse
	err := c.call(ctx, "auth.test", func(ctx context.Context) (err error) {
		resp, err = c.api.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		return Identity{}, err
	}
	id := Identity{UserID: resp.UserID, UserName: resp.User, TeamID: resp.TeamID, TeamName: resp.Team}
	if h := strings.TrimSpace(resp.Header.Get("X-OAuth-Scopes")); h != "" {
		for _, s := range strings.Split(h, ",") {
			if s = strings.TrimSpace(s); s != "" {
				id.Scopes = append(id.Scopes, s)
			}
		}
	}
	return id, nil
}

// CheckAppToken asks apps.connections.open for a Socket Mode URL with the
// app-level token, which proves the token can connect, and opens nothing.
func (c *Client) CheckAppToken(ctx context.Context) error {
	return c.call(ctx, "apps.connections.open", func(ctx context.Context) error {
		_, _, err := c.api.StartSocketModeContext(ctx)
		return err
	})
}

// Channel is the state of a conversation the configuration names.
type Channel struct {
	ID, Name string
	Archived bool
	// Member says the bot is in the channel, so it can post there.
	Member bool
	// Private says it is a private channel: reading its history needs
	// groups:history, which a bot with channels:history alone lacks.
	Private bool
}

// Channel returns the state of a channel, or an error wrapping
// bot.ErrNotFound when there is no such channel the bot can see.
func (c *Client) Channel(ctx context.Context, id string) (Channel, error) {
	var ch *slack.Channel
	err := c.call(ctx, "conversations.info", func(ctx context.Context) (err error) {
		ch, err = c.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
		return err
	})
	if ErrorCode(err) == "channel_not_found" {
		return Channel{}, fmt.Errorf("channel %s: %w", id, errors.Join(bot.ErrNotFound, err))
	}
	if err != nil {
		return Channel{}, fmt.Errorf("channel %s: %w", id, err)
	}
	return Channel{ID: ch.ID, Name: ch.Name, Archived: ch.IsArchived, Member: ch.IsMember, Private: ch.IsPrivate}, nil
}

// Usergroup is a user group of the workspace.
type Usergroup struct {
	ID, Handle string
	Disabled   bool
}

// Usergroups lists the workspace's user groups, disabled ones included.
func (c *Client) Usergroups(ctx context.Context) ([]Usergroup, error) {
	var groups []slack.UserGroup
	err := c.call(ctx, "usergroups.list", func(ctx context.Context) (err error) {
		groups, err = c.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeDisabled(true))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("user groups: %w", err)
	}
	out := make([]Usergroup, len(groups))
	for i, g := range groups {
		out[i] = Usergroup{ID: g.ID, Handle: g.Handle, Disabled: g.DateDelete != 0}
	}
	return out, nil
}

// ErrorCode returns the Slack error code of an error from this package
// ("invalid_auth", "channel_not_found", …), or "" when Slack gave none.
func ErrorCode(err error) string { return slackCode(err) }
