package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opsbot/opsbot/bot"
	"github.com/slack-go/slack"
)

var _ bot.Chat = (*Client)(nil)

func msgOptions(m bot.Message) []slack.MsgOption {
	text, blocks := RenderMessage(m)
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if m.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(m.ThreadTS))
	}
	return opts
}

// Post posts msg in msg.Channel (in msg.ThreadTS when set).
func (c *Client) Post(ctx context.Context, msg bot.Message) (bot.MessageRef, error) {
	if msg.Channel == "" {
		return bot.MessageRef{}, errors.New("post message: no channel")
	}
	var ch, ts string
	err := c.call(ctx, "chat.postMessage", func(ctx context.Context) (err error) {
		ch, ts, err = c.api.PostMessageContext(ctx, msg.Channel, msgOptions(msg)...)
		return err
	})
	if err != nil {
		return bot.MessageRef{}, fmt.Errorf("post message in %s: %w", msg.Channel, err)
	}
	return bot.MessageRef{Channel: ch, TS: ts}, nil
}

// Update replaces the content of a message the bot posted.
func (c *Client) Update(ctx context.Context, ref bot.MessageRef, msg bot.Message) error {
	msg.ThreadTS = ""
	err := c.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := c.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, msgOptions(msg)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("update message %s in %s: %w", ref.TS, ref.Channel, err)
	}
	return nil
}

// PostEphemeral shows msg to one user in msg.Channel.
func (c *Client) PostEphemeral(ctx context.Context, user string, msg bot.Message) error {
	err := c.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := c.api.PostEphemeralContext(ctx, msg.Channel, user, msgOptions(msg)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("post ephemeral to %s in %s: %w", user, msg.Channel, err)
	}
	return nil
}

// CreateChannel creates a public channel. It returns bot.ErrNameTaken when
// the name exists and bot.ErrInvalidName when Slack rejects it (Slack answers
// invalid_name, invalid_name_specials, invalid_name_maxlength, …).
func (c *Client) CreateChannel(ctx context.Context, name string) (bot.ChannelInfo, error) {
	var ch *slack.Channel
	err := c.call(ctx, "conversations.create", func(ctx context.Context) (err error) {
		ch, err = c.api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name})
		return err
	})
	switch code := slackCode(err); {
	case err == nil:
		return bot.ChannelInfo{ID: ch.ID, Name: ch.Name}, nil
	case code == "name_taken":
		return bot.ChannelInfo{}, fmt.Errorf("create channel %q: %w", name, errors.Join(bot.ErrNameTaken, err))
	case strings.HasPrefix(code, "invalid_name"):
		return bot.ChannelInfo{}, fmt.Errorf("create channel %q: %w", name, errors.Join(bot.ErrInvalidName, err))
	default:
		return bot.ChannelInfo{}, fmt.Errorf("create channel %q: %w", name, err)
	}
}

// Invite adds users to channel. Users already in it are not an error.
func (c *Client) Invite(ctx context.Context, channel string, users ...string) error {
	users = unique(users)
	if len(users) == 0 {
		return nil
	}
	err := c.invite(ctx, channel, users)
	if slackCode(err) == "already_in_channel" && len(users) > 1 {
		// Slack refuses the whole batch when one user is already in; invite
		// the rest one by one so that nobody is left out.
		for _, u := range users {
			if err := c.invite(ctx, channel, []string{u}); err != nil && slackCode(err) != "already_in_channel" {
				return fmt.Errorf("invite %s to %s: %w", u, channel, err)
			}
		}
		return nil
	}
	if err != nil && slackCode(err) != "already_in_channel" {
		return fmt.Errorf("invite %s to %s: %w", strings.Join(users, ","), channel, err)
	}
	return nil
}

func (c *Client) invite(ctx context.Context, channel string, users []string) error {
	return c.call(ctx, "conversations.invite", func(ctx context.Context) error {
		_, err := c.api.InviteUsersToConversationContext(ctx, channel, users...)
		return err
	})
}

// SetTopic sets a channel's topic.
func (c *Client) SetTopic(ctx context.Context, channel, topic string) error {
	err := c.call(ctx, "conversations.setTopic", func(ctx context.Context) error {
		_, err := c.api.SetTopicOfConversationContext(ctx, channel, truncate(topic, 250))
		return err
	})
	if err != nil {
		return fmt.Errorf("set topic of %s: %w", channel, err)
	}
	return nil
}

// SetPurpose sets a channel's purpose.
func (c *Client) SetPurpose(ctx context.Context, channel, purpose string) error {
	err := c.call(ctx, "conversations.setPurpose", func(ctx context.Context) error {
		_, err := c.api.SetPurposeOfConversationContext(ctx, channel, truncate(purpose, 250))
		return err
	})
	if err != nil {
		return fmt.Errorf("set purpose of %s: %w", channel, err)
	}
	return nil
}

// Archive archives a channel; an already archived channel is not an error.
func (c *Client) Archive(ctx context.Context, channel string) error {
	err := c.call(ctx, "conversations.archive", func(ctx context.Context) error {
		return c.api.ArchiveConversationContext(ctx, channel)
	})
	if err != nil && slackCode(err) != "already_archived" {
		return fmt.Errorf("archive %s: %w", channel, err)
	}
	return nil
}

// Pin pins a message; an already pinned message is not an error.
func (c *Client) Pin(ctx context.Context, ref bot.MessageRef) error {
	err := c.call(ctx, "pins.add", func(ctx context.Context) error {
		return c.api.AddPinContext(ctx, ref.Channel, slack.NewRefToMessage(ref.Channel, ref.TS))
	})
	if err != nil && slackCode(err) != "already_pinned" {
		return fmt.Errorf("pin message %s in %s: %w", ref.TS, ref.Channel, err)
	}
	return nil
}

// User returns a user by ID, or bot.ErrNotFound.
func (c *Client) User(ctx context.Context, id string) (bot.User, error) {
	var u *slack.User
	err := c.call(ctx, "users.info", func(ctx context.Context) (err error) {
		u, err = c.api.GetUserInfoContext(ctx, id)
		return err
	})
	if slackCode(err) == "user_not_found" {
		return bot.User{}, fmt.Errorf("user %s: %w", id, errors.Join(bot.ErrNotFound, err))
	}
	if err != nil {
		return bot.User{}, fmt.Errorf("user %s: %w", id, err)
	}
	return toUser(u), nil
}

// UserByEmail returns the user with that address, or bot.ErrNotFound.
func (c *Client) UserByEmail(ctx context.Context, email string) (bot.User, error) {
	var u *slack.User
	err := c.call(ctx, "users.lookupByEmail", func(ctx context.Context) (err error) {
		u, err = c.api.GetUserByEmailContext(ctx, email)
		return err
	})
	if code := slackCode(err); code == "users_not_found" || code == "user_not_found" {
		return bot.User{}, fmt.Errorf("user by email %q: %w", email, errors.Join(bot.ErrNotFound, err))
	}
	if err != nil {
		return bot.User{}, fmt.Errorf("user by email %q: %w", email, err)
	}
	return toUser(u), nil
}

func toUser(u *slack.User) bot.User {
	email := u.Profile.Email
	return bot.User{ID: u.ID, TeamID: u.TeamID, Name: u.Name, RealName: u.RealName, Email: email,
		IsBot: u.IsBot, IsRestricted: u.IsRestricted, IsUltraRestricted: u.IsUltraRestricted, Deleted: u.Deleted, TZ: u.TZ}
}

// UsergroupMembers returns the members of a user group.
func (c *Client) UsergroupMembers(ctx context.Context, group string) ([]string, error) {
	var users []string
	err := c.call(ctx, "usergroups.users.list", func(ctx context.Context) (err error) {
		users, err = c.api.GetUserGroupMembersContext(ctx, group)
		return err
	})
	if slackCode(err) == "no_such_subteam" {
		return nil, fmt.Errorf("members of user group %s: %w", group, errors.Join(bot.ErrNotFound, err))
	}
	if err != nil {
		return nil, fmt.Errorf("members of user group %s: %w", group, err)
	}
	return users, nil
}

// SetUsergroupMembers replaces the members of a user group.
func (c *Client) SetUsergroupMembers(ctx context.Context, group string, users []string) error {
	users = unique(users)
	if len(users) == 0 {
		return fmt.Errorf("set members of user group %s: a user group needs at least one member", group)
	}
	err := c.call(ctx, "usergroups.users.update", func(ctx context.Context) error {
		_, err := c.api.UpdateUserGroupMembersContext(ctx, group, strings.Join(users, ","))
		return err
	})
	if err != nil {
		return fmt.Errorf("set members of user group %s: %w", group, err)
	}
	return nil
}

// Message fetches one message by channel and ts: a top-level message through
// conversations.history, a thread reply through conversations.replies.
func (c *Client) Message(ctx context.Context, ref bot.MessageRef) (bot.ChatMessage, error) {
	var hist *slack.GetConversationHistoryResponse
	err := c.call(ctx, "conversations.history", func(ctx context.Context) (err error) {
		hist, err = c.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID: ref.Channel, Latest: ref.TS, Oldest: ref.TS, Inclusive: true, Limit: 1})
		return err
	})
	if err != nil {
		return bot.ChatMessage{}, fmt.Errorf("message %s in %s: %w", ref.TS, ref.Channel, err)
	}
	for _, m := range hist.Messages {
		if m.Timestamp == ref.TS {
			return toChatMessage(ref.Channel, m.Msg), nil
		}
	}
	var replies []slack.Message
	err = c.call(ctx, "conversations.replies", func(ctx context.Context) (err error) {
		replies, _, _, err = c.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: ref.Channel, Timestamp: ref.TS, Latest: ref.TS, Oldest: ref.TS, Inclusive: true, Limit: 1})
		return err
	})
	if slackCode(err) == "thread_not_found" {
		return bot.ChatMessage{}, fmt.Errorf("message %s in %s: %w", ref.TS, ref.Channel, errors.Join(bot.ErrNotFound, err))
	}
	if err != nil {
		return bot.ChatMessage{}, fmt.Errorf("message %s in %s: %w", ref.TS, ref.Channel, err)
	}
	for _, m := range replies {
		if m.Timestamp == ref.TS {
			return toChatMessage(ref.Channel, m.Msg), nil
		}
	}
	return bot.ChatMessage{}, fmt.Errorf("message %s in %s: %w", ref.TS, ref.Channel, bot.ErrNotFound)
}

func toChatMessage(channel string, m slack.Msg) bot.ChatMessage {
	user := m.User
	if user == "" {
		user = m.BotID
	}
	thread := m.ThreadTimestamp
	if thread == m.Timestamp {
		thread = ""
	}
	return bot.ChatMessage{Ref: bot.MessageRef{Channel: channel, TS: m.Timestamp}, User: user, Text: m.Text,
		Time: bot.ParseTS(m.Timestamp), ThreadTS: thread}
}

// Permalink returns a link to a message.
func (c *Client) Permalink(ctx context.Context, ref bot.MessageRef) (string, error) {
	var link string
	err := c.call(ctx, "chat.getPermalink", func(ctx context.Context) (err error) {
		link, err = c.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: ref.Channel, Ts: ref.TS})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("permalink of %s in %s: %w", ref.TS, ref.Channel, err)
	}
	return link, nil
}

// Upload uploads a file into a channel (and thread) through Slack's external
// upload flow: files.getUploadURLExternal, the upload, then
// files.completeUploadExternal.
func (c *Client) Upload(ctx context.Context, f bot.File) error {
	if len(f.Content) == 0 {
		return fmt.Errorf("upload %q: file is empty", f.Name)
	}
	err := c.call(ctx, "files.upload", func(ctx context.Context) error {
		_, err := c.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Filename: f.Name, FileSize: len(f.Content), Reader: bytes.NewReader(f.Content),
			Title: f.Title, Channel: f.Channel, ThreadTimestamp: f.ThreadTS, InitialComment: f.Comment,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("upload %q to %s: %w", f.Name, f.Channel, err)
	}
	return nil
}

// OpenModal opens a modal with a trigger ID from a command or click.
func (c *Client) OpenModal(ctx context.Context, triggerID string, m bot.Modal) error {
	view, err := RenderModal(m)
	if err != nil {
		return fmt.Errorf("open modal %q: %w", m.CallbackID, err)
	}
	err = c.call(ctx, "views.open", func(ctx context.Context) error {
		_, err := c.api.OpenViewContext(ctx, triggerID, view)
		return err
	})
	if err != nil {
		return fmt.Errorf("open modal %q: %w", m.CallbackID, err)
	}
	return nil
}

func unique(in []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
