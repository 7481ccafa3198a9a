package alerts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// reasoner is an adapter error that carries the service's own explanation
// (Alertmanager's reason for refusing a silence), shown quoted to the
// person whose request it refused.
type reasoner interface{ Reason() string }

// clicked is the group a button was clicked on, after checking that the
// button belongs to that group's current message.
type clicked struct {
	g    bot.AlertGroup
	user bot.User
	log  *zap.Logger
}

// errForged is the answer to a button whose value does not belong to the
// message it was on: a crafted click, or a message from an older episode.
var errForged = bot.Userf("That button does not belong to this alert message, so nothing was done.")

// click loads the group a button acts on. The value binds the button to a
// group and an episode; the message the click came from must be that
// group's message for that episode. Guests are refused: alerts concern the
// whole workspace.
func (s *Service) click(ctx context.Context, req *bot.Request) (clicked, error) {
	log := bot.LoggerOr(ctx, s.log)
	id, episode, ok := parseButton(req.Action.Value)
	if !ok {
		log.Warn("alert button with a malformed value refused")
		return clicked{}, errForged
	}
	log = log.With(zap.String("alert_group", id))
	g, err := s.store.Group(ctx, id)
	if errors.Is(err, bot.ErrAlertGroupNotFound) {
		return clicked{}, bot.Userf("I no longer know this alert group (resolved groups are kept for a week).")
	}
	if err != nil {
		log.Error("alert group not read for a click", zap.Error(err))
		return clicked{}, bot.Userf("I can't reach the alert store right now, so nothing was done. Please try again in a minute.")
	}
	// A click right after the post may come before the post is recorded.
	for attempt := 0; attempt < 20 && episode == g.Episode && g.State.Message.TS == "" && err == nil; attempt++ {
		if bot.Sleep(ctx, 100*time.Millisecond) != nil {
			break
		}
		g, err = s.store.Group(ctx, id)
	}
	if err != nil {
		log.Error("alert group not read for a click", zap.Error(err))
		return clicked{}, bot.Userf("I can't reach the alert store right now, so nothing was done. Please try again in a minute.")
	}
	st := g.State
	if episode != g.Episode || st.Episode != g.Episode {
		if st.Previous == req.Action.Message || episode < g.Episode {
			return clicked{}, bot.Userf("This alert group has fired again since; use the buttons on its newest message.")
		}
		log.Warn("alert button for another episode refused", zap.Int("episode", episode))
		return clicked{}, errForged
	}
	if st.Message != req.Action.Message {
		log.Warn("alert button on a message that is not the group's refused",
			zap.String("channel", req.Action.Message.Channel), zap.String("ts", req.Action.Message.TS))
		return clicked{}, errForged
	}
	u, err := s.chat.User(ctx, req.UserID)
	if err != nil {
		log.Warn("clicking user not found", zap.Error(err))
		return clicked{}, bot.Userf("I could not check who you are, so nothing was done. Please try again.")
	}
	if u.IsRestricted || u.IsUltraRestricted {
		return clicked{}, bot.Userf("Guest accounts can't act on alerts.")
	}
	return clicked{g: g, user: u, log: log}, nil
}

func (s *Service) onAck(ctx context.Context, req *bot.Request) (bot.Response, error) {
	c, err := s.click(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	if c.g.Firing == 0 {
		return bot.Reply("This alert group has resolved; there is nothing to acknowledge."), nil
	}
	now := s.clock.Now()
	var prior bot.AlertGroupState
	_, err = s.store.ClaimState(ctx, c.g.ID, true, func(x *bot.AlertGroupState) error {
		if x.AckedBy != "" {
			prior = *x
			return errAlready
		}
		x.AckedBy, x.AckedAt = req.UserID, now
		return nil
	})
	if errors.Is(err, errAlready) {
		return bot.Reply(fmt.Sprintf("%s already acknowledged this alert group %s.", bot.MentionUser(prior.AckedBy), s.fmt(prior.AckedAt))), nil
	}
	if err != nil {
		c.log.Error("acknowledgement not stored", zap.Error(err))
		return bot.Response{}, bot.Userf("I can't reach the alert store right now, so it is not acknowledged. Please try again in a minute.")
	}
	if err := s.store.CancelTimer(ctx, escalateKind, c.g.ID); err != nil {
		// The escalation checks the acknowledgement before paging anyway.
		c.log.Warn("escalation not cancelled", zap.Error(err))
	}
	c.log.Info("alert group acknowledged", zap.String("user", req.UserID))
	s.renderNow(ctx, c.g.ID)
	return bot.Response{}, nil
}

// onSilence creates a silence in Alertmanager on the group's labels.
func (s *Service) onSilence(d time.Duration) bot.Handler {
	return func(ctx context.Context, req *bot.Request) (bot.Response, error) {
		c, err := s.click(ctx, req)
		if err != nil {
			return bot.Response{}, err
		}
		g := &c.g
		switch {
		case s.silencer == nil:
			return bot.Response{}, bot.Userf("Silences are not configured: set alerts.alertmanager_url in the config.")
		case g.Source != bot.AlertSourceAlertmanager:
			return bot.Response{}, bot.Userf("This group comes from %s; silence it there.", sourceName(g.Source))
		case len(g.GroupLabels) == 0:
			return bot.Response{}, bot.Userf("This group has no group labels (Alertmanager's group_by is empty), so a silence " +
				"would match every alert. Use `/alerts silence LABEL=VALUE… for DURATION` instead.")
		case g.Firing == 0:
			return bot.Reply("This alert group has resolved; there is nothing to silence."), nil
		}
		now := s.clock.Now()
		if g.State.Silenced(now) {
			return bot.Reply(fmt.Sprintf("%s already silenced this group until %s.", bot.MentionUser(g.State.SilencedBy), s.fmt(g.State.SilencedUntil))), nil
		}
		var matchers []bot.SilenceMatcher
		for _, k := range sortedKeys(g.GroupLabels) {
			matchers = append(matchers, bot.SilenceMatcher{Name: k, Value: g.GroupLabels[k], IsEqual: true})
		}
		link, err := s.chat.Permalink(ctx, g.State.Message)
		if err != nil {
			c.log.Warn("alert message permalink not found", zap.Error(err))
			link = "(permalink unavailable)"
		}
		until := now.Add(d)
		sil := bot.Silence{Matchers: matchers, StartsAt: now, EndsAt: until, CreatedBy: createdBy(c.user),
			Comment: "Silenced from Slack for " + humanDuration(d) + ": " + link}
		sid, err := s.silencer.CreateSilence(ctx, sil)
		if err != nil {
			return bot.Response{}, s.silenceError(c.log, "create silence", err)
		}
		if _, err := s.store.UpdateState(ctx, g.ID, true, func(x *bot.AlertGroupState) error {
			x.SilenceID, x.SilencedBy, x.SilencedUntil = sid, req.UserID, until
			return nil
		}); err != nil {
			c.log.Error("silence created but not recorded", zap.String("silence", sid), zap.Error(err))
		}
		_ = s.store.CancelTimer(ctx, escalateKind, g.ID)
		c.log.Info("alert group silenced", zap.String("silence", sid), zap.String("user", req.UserID), zap.Duration("for", d))
		s.renderNow(ctx, g.ID)
		return bot.Reply(fmt.Sprintf("Silenced %s until %s. Alertmanager sends nothing for these alerts meanwhile; "+
			"*Expire silence* on the message ends it early.", bot.QuoteRaw(bot.FormatLabels(g.GroupLabels)), s.fmt(until))), nil
	}
}

func (s *Service) onExpire(ctx context.Context, req *bot.Request) (bot.Response, error) {
	c, err := s.click(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	st := c.g.State
	if st.SilenceID == "" || !st.Silenced(s.clock.Now()) {
		return bot.Reply("This group is not silenced from Slack."), nil
	}
	if s.silencer == nil {
		return bot.Response{}, bot.Userf("Silences are not configured: set alerts.alertmanager_url in the config.")
	}
	if err := s.silencer.ExpireSilence(ctx, st.SilenceID); err != nil && !errors.Is(err, bot.ErrNotFound) {
		return bot.Response{}, s.silenceError(c.log, "expire silence", err)
	}
	if _, err := s.store.UpdateState(ctx, c.g.ID, true, func(x *bot.AlertGroupState) error {
		if x.SilenceID == st.SilenceID {
			x.SilenceID, x.SilencedBy, x.SilencedUntil = "", "", time.Time{}
		}
		return nil
	}); err != nil {
		c.log.Error("silence expired but not recorded", zap.Error(err))
	}
	c.log.Info("silence expired from Slack", zap.String("silence", st.SilenceID), zap.String("user", req.UserID))
	s.resumeEscalation(ctx, c.g.ID, s.clock.Now())
	s.renderNow(ctx, c.g.ID)
	return bot.Reply("Silence expired: Alertmanager notifies about this group again."), nil
}

func (s *Service) onDeclare(ctx context.Context, req *bot.Request) (bot.Response, error) {
	c, err := s.click(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	if s.incidents == nil {
		return bot.Response{}, bot.Userf("Declaring incidents from alerts is not set up here.")
	}
	if st := c.g.State; st.Incident != "" {
		return bot.Reply(fmt.Sprintf("This alert group is already linked to %s%s.", st.Incident, inChannel(st.IncidentChannel))), nil
	}
	inc, created, err := s.declareGroup(ctx, &c.g, s.set.route(&c.g), req.UserID)
	if err != nil {
		var ue *bot.UserError
		if errors.As(err, &ue) {
			return bot.Response{}, err
		}
		c.log.Error("incident not declared from alert group", zap.Error(err))
		return bot.Response{}, bot.Userf("The incident could not be linked to this alert group. Please try again.")
	}
	s.renderNow(ctx, c.g.ID)
	if !created {
		return bot.Reply(fmt.Sprintf("This alert group is already linked to %s%s.", inc.Key, inChannel(inc.Channel))), nil
	}
	return bot.Reply(fmt.Sprintf("Declared %s (%s)%s. You are the commander; the alerts are in its timeline.",
		inc.Key, inc.Severity, inChannel(inc.Channel))), nil
}

func inChannel(ch string) string {
	if ch == "" {
		return ""
	}
	return " in " + bot.MentionChannel(ch)
}

// createdBy names the Slack user in a silence: name and ID.
func createdBy(u bot.User) string {
	name := u.RealName
	if name == "" {
		name = u.Name
	}
	if name == "" {
		return "Slack user " + u.ID
	}
	return name + " (Slack " + u.ID + ")"
}

// silenceError phrases an Alertmanager failure for people.
func (s *Service) silenceError(log *zap.Logger, op string, err error) error {
	log.Warn("alertmanager call failed", zap.String("op", op), zap.Error(err))
	var r reasoner
	if errors.As(err, &r) && errors.Is(err, bot.ErrRequestRefused) {
		return bot.Userf("Alertmanager refused that: %s", bot.QuoteRaw(clip(r.Reason(), 300)))
	}
	if errors.Is(err, bot.ErrRequestRefused) {
		return bot.Userf("Alertmanager refused that.")
	}
	return bot.Userf("Alertmanager did not answer, so nothing changed. Try again in a minute, or use Alertmanager's UI.")
}

// splitWords is strings.Fields that keeps "double quoted" runs together
// (without the quotes).
func splitWords(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, has := false, false
	for _, c := range s {
		switch {
		case c == '"':
			quoted, has = !quoted, true
		case (c == ' ' || c == '\t' || c == '\n') && !quoted:
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(c)
			has = true
		}
	}
	if has {
		out = append(out, cur.String())
	}
	return out
}
