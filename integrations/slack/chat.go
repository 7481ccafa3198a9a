package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// withMetadata adds the message's metadata, for chat.postMessage and
// chat.update (ephemeral messages carry none).
func withMetadata(opts []slack.MsgOption, m bot.Message) []slack.MsgOption {
	if m.Metadata == nil {
		return opts
	}
	payload := make(map[string]any, len(m.Metadata.Payload))
	for k, v := range m.Metadata.Payload {
		payload[k] = v
	}
	return append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: m.Metadata.EventType, EventPayload: payload}))
}

// Post posts msg in msg.Channel (in msg.ThreadTS when set).
func (c *Client) Post(ctx context.Context, msg bot.Message) (bot.MessageRef, error) {
	if msg.Channel == "" {
		return bot.MessageRef{}, errors.New("post message: no channel")
	}
	var ch, ts string
	err := c.call(ctx, "chat.postMessage", func(ctx context.Context) (err error) {
		ch, ts, err = c.api.PostMessageContext(ctx, msg.Channel, withMetadata(msgOptions(msg), msg)...)
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
		_, _, _, err := c.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, withMetadata(msgOptions(msg), msg)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("update message %s in %s: %w", ref.TS, ref.Channel, err)
	}
	return nil
}

// Delete removes a message the bot posted; one already gone is not an
// error.
func (c *Client) Delete(ctx context.Context, ref bot.MessageRef) error {
	err := c.call(ctx, "chat.delete", func(ctx context.Context) error {
		_, _, err := c.api.DeleteMessageContext(ctx, ref.Channel, ref.TS)
		return err
	})
	if err != nil && slackCode(err) != "message_not_found" {
		return fmt.Errorf("delete message %s in %s: %w", ref.TS, ref.Channel, err)
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
		IsBot: u.IsBot, IsRestricted: u.IsRestricted, IsUltraRestricted: u.IsUltraRestricted, TZ: u.TZ, Deleted: u.Deleted}
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

// Bounds of FindPosted: at most findPages pages of findPageSize messages,
// the page size Slack recommends. Enough for the minutes between a post
// and the render that looks for it in any channel people can still read.
const (
	findPageSize = 200
	findPages    = 5
)

// FindPosted returns the earliest of the bot's own top-level messages in
// channel, posted at or after since, whose metadata matches: it pages
// through conversations.history with include_all_metadata (without it Slack
// returns no metadata), newest first, reading at most findPages pages.
// Messages of other apps are never taken for the bot's, whatever metadata
// they carry. Errors Slack answers (missing_scope, not_in_channel,
// channel_not_found, …) wrap bot.ErrRequestRefused; no answer, a server
// error or rate limits that outlast the retries wrap
// bot.ErrServiceUnavailable.
func (c *Client) FindPosted(ctx context.Context, channel string, since time.Time, match bot.MessageMetadata) (bot.MessageRef, bool, error) {
	me, err := c.botID(ctx)
	if err != nil {
		return bot.MessageRef{}, false, fmt.Errorf("find messages in %s: %w", channel, classifyFind(err))
	}
	params := &slack.GetConversationHistoryParameters{ChannelID: channel, Limit: findPageSize, IncludeAllMetadata: true}
	if !since.IsZero() {
		params.Oldest = fmt.Sprintf("%d.%06d", since.Unix(), since.Nanosecond()/1000)
		params.Inclusive = true
	}
	var found bot.MessageRef
	for page := 0; page < findPages; page++ {
		var hist *slack.GetConversationHistoryResponse
		err := c.call(ctx, "conversations.history", func(ctx context.Context) (err error) {
			hist, err = c.api.GetConversationHistoryContext(ctx, params)
			return err
		})
		if err != nil {
			return bot.MessageRef{}, false, fmt.Errorf("find messages in %s: %w", channel, classifyFind(err))
		}
		for _, m := range hist.Messages {
			if m.BotID != me || (m.ThreadTimestamp != "" && m.ThreadTimestamp != m.Timestamp) || !metadataMatches(m.Metadata, match) {
				continue
			}
			// Newest first: the last match is the earliest message.
			found = bot.MessageRef{Channel: channel, TS: m.Timestamp}
		}
		params.Cursor = hist.ResponseMetaData.NextCursor
		if !hist.HasMore || params.Cursor == "" {
			break
		}
	}
	return found, found.TS != "", nil
}

func metadataMatches(m slack.SlackMetadata, match bot.MessageMetadata) bool {
	if m.EventType != match.EventType {
		return false
	}
	for k, want := range match.Payload {
		v, ok := m.EventPayload[k]
		if !ok || fmt.Sprint(v) != want {
			return false
		}
	}
	return true
}

// transientCodes are Slack error codes that trying again may clear.
var transientCodes = map[string]bool{"internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true, "ratelimited": true}

// classifyFind wraps err with the class FindPosted documents.
func classifyFind(err error) error {
	if code := slackCode(err); code != "" && !transientCodes[code] {
		return errors.Join(bot.ErrRequestRefused, err)
	}
	return errors.Join(bot.ErrServiceUnavailable, err)
}

// botID is the bot's own bot ID, from auth.test once; it tells the bot's
// messages from other apps'.
func (c *Client) botID(ctx context.Context) (string, error) {
	c.identityMu.Lock()
	defer c.identityMu.Unlock()
	if c.ownBotID != "" {
		return c.ownBotID, nil
	}
	var resp *slack.AuthTestResponse
	err := c.call(ctx, "auth.test", func(ctx context.Context) (err error) {
		resp, err = c.api.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		return "", err
	}
	if resp.BotID == "" {
		return "", errors.New("auth.test: the token is not a bot token")
	}
	c.ownBotID = resp.BotID
	return c.ownBotID, nil
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
