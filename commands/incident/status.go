package incident

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

func (s *Service) cmdSeverity(ctx context.Context, req *bot.Request, sev bot.Severity) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	var from bot.Severity
	updated, err := s.mutate(ctx, inc.Key, func(i *bot.Incident) error {
		if !i.Open() {
			return bot.Userf("%s is resolved; its severity can no longer change.", i.Key)
		}
		if i.Severity == sev {
			return bot.Userf("%s is already %s.", i.Key, sev)
		}
		i.HighestSeverity = i.Highest()
		if sev.Rank() < i.HighestSeverity.Rank() {
			i.HighestSeverity = sev
		}
		from, i.Severity = i.Severity, sev
		return nil
	})
	if err != nil {
		return bot.Response{}, err
	}
	if err := s.record(ctx, &updated, bot.TimelineEvent{Type: bot.TLSeverityChanged, Actor: req.UserID,
		Details: map[string]string{"from": string(from), "to": string(sev)}}); err != nil {
		return bot.Response{}, err
	}
	verb := "lowered"
	if sev.Rank() < from.Rank() {
		verb = "raised"
	}
	text := fmt.Sprintf("%s %s %s from %s to %s.", bot.MentionUser(req.UserID), verb, updated.Key, from, sev)
	if s.oncall != nil && s.pullsOnCall(sev) && !s.pullsOnCall(from) && !updated.Drill {
		if users := s.inviteOnCall(ctx, updated); len(users) > 0 {
			// Invited, not paged: say so, or the commander waits for
			// someone PagerDuty never woke.
			text += " Invited the on-call: " + mentions(users) + " (not paged; `/incident page SERVICE` pages through PagerDuty)."
		}
	}
	return bot.Say(text), nil
}

// inviteOnCall invites whoever is on call now and returns them.
func (s *Service) inviteOnCall(ctx context.Context, inc bot.Incident) []string {
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key))
	users, err := s.oncall.CurrentOnCall(ctx)
	if err != nil {
		log.Warn("on-call not resolved", zap.Error(err))
		return nil
	}
	if len(users) == 0 {
		return nil
	}
	if err := s.chat.Invite(ctx, inc.Channel, users...); err != nil {
		log.Warn("on-call not invited", zap.Error(err))
		return nil
	}
	return users
}

func (s *Service) cmdStatus(ctx context.Context, req *bot.Request, st bot.Status) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	if st == bot.StatusResolved {
		if err := s.authorize(ctx, req, accessChange, permResolve); err != nil {
			return bot.Response{}, err
		}
		return s.resolve(ctx, inc, req.UserID, "")
	}
	if _, err := s.setStatus(ctx, inc, st, req.UserID); err != nil {
		return bot.Response{}, err
	}
	return bot.Say(fmt.Sprintf("%s set %s to *%s*.", bot.MentionUser(req.UserID), inc.Key, st)), nil
}

// setStatus moves an open incident to a status other than resolved. The
// first move to monitoring marks the incident mitigated.
func (s *Service) setStatus(ctx context.Context, inc bot.Incident, st bot.Status, actor string) (bot.Incident, error) {
	var from bot.Status
	now := s.clock.Now().UTC()
	updated, err := s.mutate(ctx, inc.Key, func(i *bot.Incident) error {
		if !i.Open() {
			return bot.Userf("%s is resolved; its status can no longer change.", i.Key)
		}
		if i.Status == st {
			return bot.Userf("%s is already %s.", i.Key, st)
		}
		from, i.Status = i.Status, st
		if st == bot.StatusMonitoring && i.MitigatedAt.IsZero() {
			i.MitigatedAt = now
		}
		return nil
	})
	if err != nil {
		return bot.Incident{}, err
	}
	if err := s.record(ctx, &updated, bot.TimelineEvent{Type: bot.TLStatusChanged, Actor: actor, Time: now,
		Details: map[string]string{"from": string(from), "to": string(st)}}); err != nil {
		return bot.Incident{}, err
	}
	return updated, nil
}

func mentions(users []string) string {
	out := ""
	for i, u := range users {
		if i > 0 {
			out += ", "
		}
		out += bot.MentionUser(u)
	}
	return out
}
