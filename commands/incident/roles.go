package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

func (s *Service) cmdCommander(ctx context.Context, req *bot.Request, user string) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	return s.assign(ctx, inc, bot.RoleCommander, user, req.UserID)
}

func (s *Service) cmdRole(ctx context.Context, req *bot.Request, a roleArgs) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	return s.assign(ctx, inc, a.role, a.user, req.UserID)
}

// onTakeCommand makes whoever clicked the summary's button the commander.
func (s *Service) onTakeCommand(ctx context.Context, req *bot.Request) (bot.Response, error) {
	inc, err := s.incidentForAction(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	resp, err := s.assign(ctx, inc, bot.RoleCommander, req.UserID, req.UserID)
	if err != nil {
		return bot.Response{}, err
	}
	// The announcement of the change goes to the channel, not as a
	// replacement of the summary holding the button.
	if _, perr := s.chat.Post(ctx, bot.Message{Channel: inc.Channel, Text: resp.Message.Text}); perr != nil {
		bot.Logger(ctx).Warn("commander change not announced", zap.Error(perr))
	}
	return bot.Response{}, nil
}

func (s *Service) parseRole(w string) (bot.Role, bool) {
	w = strings.ToLower(strings.TrimSpace(w))
	switch w {
	case "commander", "ic", "incident-commander":
		return bot.RoleCommander, true
	}
	if _, ok := s.set.Roles[w]; ok {
		return bot.Role(w), true
	}
	return "", false
}

// assign gives role to user: stored, recorded, the person invited and told
// what the role means, and topic and summary refreshed.
func (s *Service) assign(ctx context.Context, inc bot.Incident, role bot.Role, user, actor string) (bot.Response, error) {
	if !inc.Open() {
		return bot.Response{}, bot.Userf("%s is resolved; roles can no longer change.", inc.Key)
	}
	if err := s.checkAssignee(ctx, user); err != nil {
		return bot.Response{}, err
	}
	var previous string
	updated, err := s.mutate(ctx, inc.Key, func(i *bot.Incident) error {
		if role == bot.RoleCommander {
			previous = i.Commander
		} else {
			previous = i.Roles[role]
		}
		if previous == user {
			return bot.Userf("%s is already the %s of %s.", bot.MentionUser(user), role, i.Key)
		}
		if !i.Open() {
			return bot.Userf("%s is resolved; roles can no longer change.", i.Key)
		}
		if role == bot.RoleCommander {
			i.Commander = user
		} else {
			if i.Roles == nil {
				i.Roles = map[bot.Role]string{}
			}
			i.Roles[role] = user
		}
		return nil
	})
	if err != nil {
		return bot.Response{}, err
	}
	details := map[string]string{"role": string(role), "user": user}
	if previous != "" {
		details["previous"] = previous
	}
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key))
	instructions := s.set.CommanderInstructions
	if role != bot.RoleCommander {
		instructions = s.set.Roles[string(role)]
	}
	err = parallel(ctx,
		func(ctx context.Context) error {
			return s.record(ctx, &updated, bot.TimelineEvent{Type: bot.TLRoleAssigned, Actor: actor, Details: details})
		},
		func(ctx context.Context) error {
			if err := s.chat.Invite(ctx, updated.Channel, user); err != nil {
				log.Warn("role holder not invited", zap.String("user", user), zap.Error(err))
			}
			return nil
		},
		func(ctx context.Context) error {
			if instructions == "" {
				return nil
			}
			how := fmt.Sprintf("%s assigned you", bot.MentionUser(actor))
			if actor == user {
				how = "You took the role"
			}
			_, err := s.chat.Post(ctx, bot.Message{Channel: user,
				Title: fmt.Sprintf("You are the %s of %s", role, updated.Key),
				Text:  fmt.Sprintf("%s in %s (%s).\n\n%s", how, bot.MentionChannel(updated.Channel), quote(&updated).Title, instructions)})
			if err != nil {
				log.Warn("role instructions not sent", zap.String("user", user), zap.Error(err))
			}
			return nil
		})
	if err != nil {
		return bot.Response{}, err
	}
	text := fmt.Sprintf("%s is now the %s of %s", bot.MentionUser(user), role, updated.Key)
	if previous != "" {
		text += fmt.Sprintf(" (taking over from %s)", bot.MentionUser(previous))
	}
	if actor != user {
		text += fmt.Sprintf(", assigned by %s", bot.MentionUser(actor))
	}
	return bot.Say(text + "."), nil
}

func isNotFound(err error) bool {
	return errors.Is(err, bot.ErrIncidentNotFound) || errors.Is(err, bot.ErrNotFound)
}
