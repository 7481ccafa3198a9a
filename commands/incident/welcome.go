package incident

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// onMemberJoined briefs someone who joins an open incident's channel by
// themselves (from the announcement, say): they see, only to them, the
// current summary and how to help. People invited by the bot or a colleague
// were already told, so they get nothing, and a declaration's own invites
// stay quiet.
func (s *Service) onMemberJoined(ctx context.Context, req *bot.Request) (bot.Response, error) {
	ev := req.Event
	if ev == nil || ev.Inviter != "" || req.UserID == "" {
		return bot.Response{}, nil
	}
	inc, ok, err := s.byChannel(ctx, ev.Item.Channel)
	if err != nil || !ok || !inc.Open() {
		return bot.Response{}, err
	}
	if u, err := s.chat.User(ctx, req.UserID); err == nil && u.IsBot {
		return bot.Response{}, nil
	}
	msg := s.summaryMessage(&inc)
	msg.Channel = inc.Channel
	msg.Buttons = nil
	msg.Title = fmt.Sprintf("Welcome to %s: %s", inc.Key, quote(&inc).Title)
	msg.Context = "Catch up with `/incident timeline`; ask the commander before acting. `/incident help` lists the commands."
	if err := s.chat.PostEphemeral(ctx, req.UserID, msg); err != nil {
		// A missed welcome is not worth a retry storm; the summary is pinned.
		bot.Logger(ctx).Warn("welcome not shown", zap.String("incident", inc.Key), zap.Error(err))
	}
	return bot.Response{}, nil
}
