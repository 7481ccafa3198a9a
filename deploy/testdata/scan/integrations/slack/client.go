package slack

import (
	"context"

	"github.com/opsbot/opsbot/bot"
	"github.com/slack-go/slack"
)

type client struct{ api *slack.Client }

func newClient() *client { return &client{api: slack.New("xoxb-test")} }

func (c *client) post(ctx context.Context) {
	c.api.Debugf("not an API call")
	_, _, _ = c.api.PostMessageContext(ctx, "C1")
	_, _, _ = c.api.PostMessageContext(ctx, "C2")
	_ = c.api.AddPinContext(ctx, "C1", slack.ItemRef{})
	_, _ = c.api.AuthTest()
}

func translate(t string) bot.EventType {
	switch t {
	case "reaction_added":
		return bot.EventReactionAdded
	}
	return bot.EventMessageDeleted
}
