package incident

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Linker makes signed links to an incident's read-only web page. The web
// view (package commands/incident/web) implements it; the family knows
// nothing of how links are signed or served.
type Linker interface {
	// IncidentLink returns a URL that opens incident key's page until
	// expires.
	IncidentLink(ctx context.Context, key string) (url string, expires time.Time, err error)
}

// ActionWebLink is the summary's "Web page" button: the clicker gets a link
// of their own, only to them.
const ActionWebLink = "incident.web_link"

// errNoWebView answers /incident link when no public URL or key is set.
var errNoWebView = bot.Userf("The web view is not set up: an operator sets `OPSBOT_PUBLIC_URL` and " +
	"`OPSBOT_LINK_KEY` to turn it on. `/incident export` uploads the post-mortem here meanwhile.")

func (s *Service) cmdLink(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if len(req.Args()) > 1 {
		return bot.Response{}, bot.Userf("%s", s.usage("link"))
	}
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	return s.linkResponse(ctx, inc.Key, req.UserID)
}

func (s *Service) onWebLinkButton(ctx context.Context, req *bot.Request) (bot.Response, error) {
	inc, err := s.incidentForAction(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	return s.linkResponse(ctx, inc.Key, req.UserID)
}

// linkResponse is the link, shown only to the person who asked: a link is a
// credential, and each one is logged with who asked for it.
func (s *Service) linkResponse(ctx context.Context, key, user string) (bot.Response, error) {
	if s.links == nil {
		return bot.Response{}, errNoWebView
	}
	url, expires, err := s.links.IncidentLink(ctx, key)
	if err != nil {
		return bot.Response{}, fmt.Errorf("link to %s: %w", key, err)
	}
	bot.Logger(ctx).Info("web link given", zap.String("incident", key), zap.String("user", user),
		zap.Time("expires", expires))
	return bot.Response{Message: bot.Message{
		Title: fmt.Sprintf("%s web page", key),
		Text: fmt.Sprintf("<%s|Open the %s page> (timeline, roles and post-mortem), valid until %s.",
			url, key, bot.FormatTime(expires, s.set.Timezone)),
		Context: "Anyone with this link can read the incident until it expires, so share it with care. " +
			"`/incident link` gives you a fresh one.",
	}}, nil
}
