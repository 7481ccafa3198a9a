package incident

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Buttons and forms act only on the incident they were shown for. A click
// names its incident in the button's value, which the payload carries; the
// click counts only when it comes from the incident's own pinned summary,
// in the incident's channel. A form carries its incident in
// private_metadata, sealed (bot.Sealer) together with the channel and the
// person who opened it, so a form cannot be pointed at another incident or
// submitted in someone else's name.

var (
	errNotSummary = bot.Userf("That button is not on this incident's pinned summary, so nothing was done. " +
		"Use the summary pinned in the incident channel, or the `/incident` commands there.")
	errForeignForm = bot.Userf("That form was not opened by this bot for you and this incident, so nothing was changed.")
)

// incidentForAction finds the incident a summary button belongs to, and
// checks that the click came from that incident's summary message.
func (s *Service) incidentForAction(ctx context.Context, req *bot.Request) (bot.Incident, error) {
	if req.Action == nil {
		return bot.Incident{}, bot.Userf("That button is no longer supported.")
	}
	inc, err := s.getIncident(ctx, req.Action.Value)
	if err != nil {
		return bot.Incident{}, err
	}
	m := req.Action.Message
	if inc.Channel == "" || inc.SummaryRef.TS == "" || m.Channel != inc.Channel || m.TS != inc.SummaryRef.TS {
		bot.Logger(ctx).Warn("incident button refused: not on the incident's summary", zap.String("incident", inc.Key),
			zap.String("message_channel", m.Channel), zap.String("message_ts", m.TS))
		return bot.Incident{}, errNotSummary
	}
	return inc, nil
}

// formFor seals what a form about inc needs back: the incident, its
// channel and who opened it.
func (s *Service) formFor(ctx context.Context, callbackID string, inc *bot.Incident, user string) (string, error) {
	md, err := s.sealer.Seal(ctx, callbackID, inc.Key, inc.Channel, user)
	if err != nil {
		return "", fmt.Errorf("seal %s form for %s: %w", callbackID, inc.Key, err)
	}
	return md, nil
}

// formIncident opens a submitted form's metadata and returns its incident,
// refusing a form not sealed for this callback, opened by someone else, or
// naming an incident run in another channel.
func (s *Service) formIncident(ctx context.Context, req *bot.Request) (bot.Incident, error) {
	f, err := s.openForm(ctx, req, 3)
	if err != nil {
		return bot.Incident{}, err
	}
	inc, err := s.getIncident(ctx, f[0])
	if err != nil {
		return bot.Incident{}, err
	}
	if inc.Channel != f[1] {
		bot.Logger(ctx).Warn("incident form refused: channel does not match", zap.String("incident", inc.Key))
		return bot.Incident{}, errForeignForm
	}
	return inc, nil
}

// openForm checks the seal on req's form and that the submitter opened it
// (the last field); it returns the fields.
func (s *Service) openForm(ctx context.Context, req *bot.Request, n int) ([]string, error) {
	if req.View == nil {
		return nil, errForeignForm
	}
	f, err := s.sealer.Open(ctx, req.View.CallbackID, req.View.PrivateMetadata, n)
	if errors.Is(err, bot.ErrBadSeal) {
		bot.Logger(ctx).Warn("form refused: metadata not sealed by opsbot", zap.String("callback_id", req.View.CallbackID))
		return nil, errForeignForm
	}
	if err != nil {
		bot.Logger(ctx).Error("form not checked", zap.Error(err))
		return nil, errStoreDown
	}
	if f[n-1] != req.UserID {
		bot.Logger(ctx).Warn("form refused: submitted by someone other than who opened it", zap.String("callback_id", req.View.CallbackID))
		return nil, errForeignForm
	}
	return f, nil
}
