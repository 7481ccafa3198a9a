package incident

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// restText is what follows the subcommand, with the user's own spacing and
// line breaks.
func restText(req *bot.Request) string {
	t := strings.TrimSpace(req.Text)
	if i := strings.IndexAny(t, " \t\n"); i >= 0 {
		return strings.TrimSpace(t[i:])
	}
	return ""
}

// checkText refuses an empty or over-long text, and one with control
// characters (which would reach terminals and exports), with a message
// saying which.
func (s *Service) checkText(text, what, usage string) error {
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return bot.Userf("Please write the %s. %s", what, usage)
	case n > UpdateMax:
		return bot.Userf("That %s is %d characters; keep it to %d.", what, n, UpdateMax)
	}
	return s.checkTextContent(text, what)
}

func (s *Service) cmdUpdate(ctx context.Context, req *bot.Request, text string) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	if err := s.postUpdate(ctx, inc, req.UserID, bot.CleanText(text)); err != nil {
		return bot.Response{}, err
	}
	return bot.Response{}, nil
}

// postUpdate posts a status update in the incident channel and the broadcast
// channel, records it, shows it in the summary and the announcement, and
// restarts the reminder clock. It keeps working while
// the incident store is down: only the reminder clock is not reset.
func (s *Service) postUpdate(ctx context.Context, inc bot.Incident, actor, text string) error {
	if err := s.allowTimeline(ctx, &inc, "update"); err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	msg := bot.Message{
		Title: fmt.Sprintf("Update on %s: %s", inc.Key, quote(&inc).Title),
		Text:  bot.Quote(text),
		Fields: []bot.Field{
			{Label: "Severity", Value: string(inc.Severity)},
			{Label: "Status", Value: string(inc.Status)},
			{Label: "Commander", Value: bot.MentionUser(inc.Commander)},
		},
		Context: fmt.Sprintf("Posted by %s at %s", bot.MentionUser(actor), s.fmtTime(now)),
	}
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key))
	if err := s.record(ctx, &inc, bot.TimelineEvent{Type: bot.TLUpdate, Actor: actor, Time: now, Text: text,
		Details: map[string]string{"severity": string(inc.Severity), "status": string(inc.Status)}}); err != nil {
		return err
	}
	fns := []func(context.Context) error{
		func(ctx context.Context) error {
			m := msg
			m.Channel = inc.Channel
			_, err := s.chat.Post(ctx, m)
			if err != nil {
				return fmt.Errorf("post update in %s: %w", inc.Channel, err)
			}
			return nil
		},
		func(ctx context.Context) error {
			if _, err := s.mutate(ctx, inc.Key, func(i *bot.Incident) error {
				i.LastUpdateAt, i.LastUpdate, i.LastUpdateBy = now, text, actor
				return nil
			}); err != nil {
				// mutate logged the cause.
				log.Warn("reminder clock not reset")
			}
			return nil
		},
	}
	if s.broadcasts(&inc) {
		fns = append(fns, func(ctx context.Context) error {
			m := msg
			m.Channel = s.set.BroadcastChannel
			m.Text = bot.Quote(text) + "\nFollow along in " + bot.MentionChannel(inc.Channel) + "."
			if _, err := s.chat.Post(ctx, m); err != nil {
				log.Warn("update not broadcast", zap.Error(err))
			}
			return nil
		})
	}
	return parallel(ctx, fns...)
}

func (s *Service) cmdNote(ctx context.Context, req *bot.Request, text string) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	if err := s.allowTimeline(ctx, &inc, "note"); err != nil {
		return bot.Response{}, err
	}
	if err := s.record(ctx, &inc, bot.TimelineEvent{Type: bot.TLNote, Actor: req.UserID, Text: bot.CleanText(text)}); err != nil {
		return bot.Response{}, err
	}
	return bot.Reply(fmt.Sprintf(":memo: Added to the %s timeline.", inc.Key)), nil
}
