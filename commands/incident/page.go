package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

func (s *Service) cmdPage(ctx context.Context, req *bot.Request, a pageArgs) (bot.Response, error) {
	if inc, ok, err := s.byChannel(ctx, req.ChannelID); err == nil && ok && inc.Drill {
		return s.pageInDrill(ctx, req, inc, a)
	}
	if s.pager == nil {
		return bot.Response{}, bot.Userf("Paging is not configured: set PAGERDUTY_TOKEN and pagerduty.services in the config.")
	}
	a, err := s.checkPage(a)
	if err != nil {
		return bot.Response{}, err
	}
	service, message := a.service, a.message
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key), zap.String("service", service))
	var email string
	if u, err := s.chat.User(ctx, req.UserID); err != nil {
		log.Warn("requester e-mail not found", zap.Error(err))
	} else {
		email = u.Email
	}
	details := fmt.Sprintf("%s (%s) in Slack channel #%s, paged by %s.", bot.UnescapeText(inc.Title), inc.Severity, inc.ChannelName, req.UserName)
	if message != "" {
		details = bot.UnescapeText(bot.CleanText(message)) + "\n\n" + details
	}
	res, err := s.pager.Page(ctx, bot.PageRequest{Service: service, Title: fmt.Sprintf("%s: %s", inc.Key, bot.UnescapeText(inc.Title)),
		Details: details, RequesterEmail: email, IncidentKey: inc.Key})
	switch {
	case errors.Is(err, bot.ErrDuplicate):
		text := fmt.Sprintf("PagerDuty already has an open incident for %s on `%s`; its on-call has been paged.", inc.Key, service)
		if res.URL != "" {
			text += fmt.Sprintf(" <%s|PagerDuty incident>", res.URL)
		}
		return bot.Reply(text), nil
	case errors.Is(err, bot.ErrNotFound):
		return bot.Response{}, bot.Userf("Unknown service `%s`.%s", bot.Quote(service), s.servicesHint())
	case errors.Is(err, bot.ErrRateLimited):
		// A 429 means PagerDuty created nothing, so saying so is safe.
		return bot.Response{}, bot.Userf("PagerDuty is rate-limiting opsbot and nobody was paged. Try again in a minute, or page from PagerDuty directly.")
	case err != nil:
		return bot.Response{}, fmt.Errorf("page %s for %s: %w", service, inc.Key, err)
	}
	ev := bot.TimelineEvent{Type: bot.TLPage, Actor: req.UserID, Text: bot.CleanText(message),
		Details: map[string]string{"service": service, "page_id": res.ID, "url": res.URL,
			"assignees": strings.Join(res.Assignees, ", ")}}
	if err := s.record(ctx, &inc, ev); err != nil {
		return bot.Response{}, err
	}
	text := fmt.Sprintf(":rotating_light: %s paged the on-call of *%s*", bot.MentionUser(req.UserID), bot.QuoteRaw(service))
	if len(res.Assignees) > 0 {
		// Names come from PagerDuty: raw text, quoted like any other.
		text += " (" + bot.QuoteRaw(bot.OneLine(strings.Join(res.Assignees, ", "))) + ")"
	}
	if l := slackLink(res.URL, "PagerDuty incident"); l != "" {
		text += " — " + l
	}
	return bot.Say(text + "."), nil
}

func (s *Service) servicesHint() string {
	if len(s.set.PageServices) == 0 {
		return ""
	}
	return " Services: " + strings.Join(s.set.PageServices, ", ") + "."
}

func (s *Service) checkTextOptional(text string) error {
	if text == "" {
		return nil
	}
	return s.checkText(text, "message", "")
}
