package slack

import (
	"context"
	"fmt"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

var _ bot.Responder = (*Client)(nil)

// responseURLTTL is how long Slack honours a response URL.
const responseURLTTL = 30 * time.Minute

// Respond delivers a handler's response to the user who asked:
//   - ReplaceOriginal on a click edits the message holding the button
//     (chat.update, or its response URL for an ephemeral message);
//   - Ephemeral goes to the user in the channel (chat.postEphemeral; for a
//     click, its response URL), falling back to the command's response URL
//     where the bot may not post (channels it is not in);
//   - InChannel posts in resp.Message.Channel, or the request's channel.
//
// Requests without a channel (a modal submitted) are answered in the bot's
// direct message with the user.
func (c *Client) Respond(ctx context.Context, req *bot.Request, resp bot.Response) error {
	msg := resp.Message
	if resp.ReplaceOriginal && req.Action != nil {
		ref := req.Action.Message
		if ref.TS != "" && ref.Channel != "" {
			return c.Update(ctx, ref, msg)
		}
		if req.ResponseURL != "" {
			return c.postResponseURL(ctx, req.ResponseURL, msg, slack.MsgOptionReplaceOriginal(req.ResponseURL))
		}
	}
	if resp.Visibility == bot.InChannel {
		if msg.Channel == "" {
			msg.Channel = req.ChannelID
		}
		if msg.Channel == "" {
			msg.Channel = req.UserID
		}
		_, err := c.Post(ctx, msg)
		return err
	}

	if req.Action != nil && req.ResponseURL != "" {
		return c.postResponseURL(ctx, req.ResponseURL, msg,
			slack.MsgOptionResponseURL(req.ResponseURL, slack.ResponseTypeEphemeral))
	}
	if req.ChannelID == "" {
		msg.Channel = req.UserID
		_, err := c.Post(ctx, msg)
		return err
	}
	msg.Channel = req.ChannelID
	err := c.PostEphemeral(ctx, req.UserID, msg)
	if err == nil {
		return nil
	}
	if u, ok := c.commandResponseURL(req); ok && canFallBack(err) {
		bot.Logger(ctx).Info("ephemeral reply through the command's response URL", zap.String("reason", slackCode(err)))
		return c.postResponseURL(ctx, u, msg, slack.MsgOptionResponseURL(u, slack.ResponseTypeEphemeral))
	}
	return err
}

// canFallBack reports whether chat.postEphemeral failed because of where it
// posts, which the response URL does not care about.
func canFallBack(err error) bool {
	switch slackCode(err) {
	case "channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived":
		return true
	}
	return false
}

func (c *Client) postResponseURL(ctx context.Context, u string, msg bot.Message, mode slack.MsgOption) error {
	opts := append(msgOptions(msg), mode)
	err := c.call(ctx, "response_url", func(ctx context.Context) error {
		// The channel argument is ignored for response URLs.
		_, _, _, err := c.api.SendMessageContext(ctx, "", opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("respond through response URL: %w", err)
	}
	return nil
}

// commandResponseURL returns a slash command's response URL while Slack
// still honours it.
func (c *Client) commandResponseURL(req *bot.Request) (string, bool) {
	if req.Kind != bot.KindCommand || req.ResponseURL == "" || !c.now().Before(req.Received.Add(responseURLTTL)) {
		return "", false
	}
	return req.ResponseURL, true
}
