package oncall

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Register adds /oncall and the handoff's Acknowledge button to r.
func (s *Service) Register(r *bot.Router) {
	var names []string
	for _, sc := range s.schedules {
		names = append(names, sc.Name)
	}
	desc := "who is on call. `/oncall` shows every followed schedule; `/oncall SCHEDULE` one of them with the next shift"
	if len(names) > 0 {
		desc += " (" + strings.Join(names, ", ") + ")"
	}
	r.Family(&bot.Family{
		Name:        "/oncall",
		Description: desc,
		Commands: []bot.Command{{
			Name:        "cover",
			Usage:       "cover SCHEDULE FROM UNTIL [REASON…]",
			Description: "ask in the handoff channel for someone to take your shift for a while; times in your time zone: `2026-12-01 18:00`, `tomorrow 09:00`, `fri 18:00`, `18:00`, `+4h`",
			Examples:    []string{"/oncall cover payments tomorrow 18:00 +4h dentist", "/oncall cover payments 2026-12-24 2026-12-27"},
			Parse:       bot.Parser(s.parseCover),
			Handler:     bot.WithParsed(s.handleCover),
		}, {
			Name:        "override",
			Usage:       "override SCHEDULE @user FROM UNTIL",
			Description: "put someone on call directly (admins and the schedule's current on-call)",
			Examples:    []string{"/oncall override payments @bob now +4h"},
			Parse:       bot.Parser(s.parseOverride),
			Handler:     bot.WithParsed(s.handleOverride),
		}, {
			Name:        "me",
			Usage:       "me",
			Description: "your next shifts across the followed schedules",
			Examples:    []string{"/oncall me"},
			Handler:     s.handleMe,
		}, {
			Name:        "sync",
			Usage:       "sync",
			Description: "sync the schedules from " + s.cfg.ProviderName + " now (admins)",
			Examples:    []string{"/oncall sync"},
			Middleware:  []bot.Middleware{s.adminOnly},
			Handler:     s.handleSync,
		}},
		Default:       s.handleAll,
		Fallback:      bot.WithParsed(s.handleOne),
		FallbackParse: bot.Parser(s.parseSchedule),
	})
	r.Action(AckAction, s.handleAck)
	r.Action(TakeAction, s.handleTake)
	r.Action(CancelAction, s.handleCancelCover)
}

func (s *Service) adminOnly(next bot.Handler) bot.Handler {
	return func(ctx context.Context, req *bot.Request) (bot.Response, error) {
		if !s.admins[req.UserID] {
			return bot.Response{}, bot.Userf("Only opsbot admins can force an on-call sync; it runs by itself every %s.", human(s.set.SyncInterval))
		}
		return next(ctx, req)
	}
}

func (s *Service) handleAll(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if len(s.schedules) == 0 {
		return bot.Reply("No on-call schedules are configured (`oncall.schedules` in the config file)."), nil
	}
	now := s.clock.Now()
	loc := s.zoneOf(ctx, req.UserID)
	views := s.lookAll(ctx, s.schedules, true)
	msg := bot.Message{Title: "On call now"}
	var blocks []string
	for _, v := range views {
		blocks = append(blocks, s.renderSchedule(ctx, v, now, false, loc))
	}
	msg.Text = strings.Join(blocks, "\n\n")
	msg.Context = s.stalenessIn(views, now, loc)
	return bot.Response{Message: msg}, nil
}

func (s *Service) handleOne(ctx context.Context, req *bot.Request, sc bot.ScheduleConfig) (bot.Response, error) {
	now := s.clock.Now()
	loc := s.zoneOf(ctx, req.UserID)
	v := s.look(ctx, sc, true)
	msg := bot.Message{Title: "On call: " + sc.Name, Text: s.renderSchedule(ctx, v, now, true, loc) + s.overrideLines(ctx, sc, now, loc)}
	msg.Context = s.stalenessIn([]view{v}, now, loc)
	return bot.Response{Message: msg}, nil
}

func (s *Service) handleSync(ctx context.Context, req *bot.Request) (bot.Response, error) {
	err := s.SyncNow(ctx)
	if err != nil {
		s.logger(ctx).Warn("forced on-call sync incomplete", zap.Error(err))
		return bot.Reply(fmt.Sprintf("The sync did not complete: %s did not answer for every schedule (details in the logs, ref `%s`). "+
			"`/oncall` shows the last good data with its age.", s.cfg.ProviderName, req.EnvelopeID)), nil
	}
	return bot.Reply(fmt.Sprintf("Synced %d schedule(s) from %s.", len(s.schedules), s.cfg.ProviderName)), nil
}

// handleAck records the incoming person's acknowledgement and takes the
// button off the handoff message.
func (s *Service) handleAck(ctx context.Context, req *bot.Request) (bot.Response, error) {
	id, startStr, ok := strings.Cut(req.Action.Value, "|")
	unix, err := strconv.ParseInt(startStr, 10, 64)
	sc, known := s.byID(id)
	if !ok || err != nil || !known {
		return bot.Reply("That handoff is not one I know any more."), nil
	}
	h, found, err := s.cfg.Cache.LatestHandoff(ctx, id)
	if err != nil {
		return bot.Response{}, fmt.Errorf("acknowledge handoff of %q: %w", id, err)
	}
	if !found || h.ShiftStart.Unix() != unix {
		return bot.Reply("This handoff has been replaced by a later shift change."), nil
	}
	if !onItsMessage(req, h.Ref) {
		s.logger(ctx).Warn("handoff button on another message refused", zap.String("schedule", id))
		return bot.Response{}, errNotItsMessage
	}
	if h.AckedBy != "" {
		return bot.Reply(fmt.Sprintf("Already acknowledged by %s.", bot.MentionUser(h.AckedBy))), nil
	}
	if !contains(h.Incoming, req.UserID) {
		var who []string
		for _, u := range h.Incoming {
			who = append(who, bot.MentionUser(u))
		}
		return bot.Reply(fmt.Sprintf("Only the incoming on-call (%s) can acknowledge this handoff.", strings.Join(who, ", "))), nil
	}
	now := s.clock.Now()
	h.AckedBy, h.AckedAt = req.UserID, now
	if err := s.cfg.Cache.SaveHandoff(ctx, h); err != nil {
		return bot.Response{}, fmt.Errorf("acknowledge handoff of %q: %w", id, err)
	}
	msg := h.Message
	msg.Buttons = nil
	msg.Context = fmt.Sprintf(":white_check_mark: Acknowledged by %s at %s.", bot.MentionUser(req.UserID), s.at(now))
	if err := s.cfg.Chat.Update(ctx, h.Ref, msg); err != nil {
		// The acknowledgement is recorded; only the message shows the old state.
		s.logger(ctx).Warn("handoff message not updated", zap.String("schedule", id), zap.Error(err))
	}
	s.logger(ctx).Info("handoff acknowledged", zap.String("schedule", id), zap.String("user", req.UserID))
	return bot.Reply(fmt.Sprintf("Thanks: you are on call for *%s*.", sc.Name)), nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Service) find(name string) (bot.ScheduleConfig, bool) {
	for _, sc := range s.schedules {
		if strings.EqualFold(sc.Name, name) || sc.ID == name {
			return sc, true
		}
	}
	return bot.ScheduleConfig{}, false
}

func (s *Service) byID(id string) (bot.ScheduleConfig, bool) {
	for _, sc := range s.schedules {
		if sc.ID == id {
			return sc, true
		}
	}
	return bot.ScheduleConfig{}, false
}

func (s *Service) names() string {
	var names []string
	for _, sc := range s.schedules {
		names = append(names, "`"+sc.Name+"`")
	}
	if len(names) == 0 {
		return "none configured"
	}
	return strings.Join(names, ", ")
}

// renderSchedule shows one schedule: each level's person and until when,
// and with withNext the next person per level.
func (s *Service) renderSchedule(ctx context.Context, v view, now time.Time, withNext bool, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*", v.sc.Name)
	if v.err != nil {
		fmt.Fprintf(&b, "\n• unknown: %s did not answer and nothing is cached yet", s.cfg.ProviderName)
		return b.String()
	}
	cur := current(v.sc, v.snap, now)
	if len(cur) == 0 {
		b.WriteString("\n• nobody is on call")
	}
	for _, r := range cur {
		fmt.Fprintf(&b, "\n• L%d %s until %s", r.level, s.who(ctx, r.person), s.untilIn(r.level, r.end, v.snap, now, loc))
	}
	if withNext {
		for _, r := range next(v.sc, v.snap, now) {
			// Both ends get their countdown, so "in 7d" is never read as the
			// time until the shift starts.
			fmt.Fprintf(&b, "\n• next L%d %s from %s (in %s) until %s", r.level, s.who(ctx, r.person),
				bot.FormatTime(r.start, loc), human(r.start.Sub(now)), s.untilIn(r.level, r.end, v.snap, now, loc))
		}
	}
	return b.String()
}

// staleness says how old the data is when any of it came from the cache.
func (s *Service) staleness(views []view, now time.Time) string {
	return s.stalenessIn(views, now, s.loc)
}

func (s *Service) stalenessIn(views []view, now time.Time, loc *time.Location) string {
	var parts []string
	for _, v := range views {
		if v.stale {
			parts = append(parts, fmt.Sprintf("%s as of %s (%s ago)", v.sc.Name, bot.FormatTime(v.snap.SyncedAt, loc), human(now.Sub(v.snap.SyncedAt))))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf(":warning: %s is not answering; showing the last good sync: %s.", s.cfg.ProviderName, strings.Join(parts, "; "))
}

// who shows a person as a Slack mention, or by name when not in Slack.
func (s *Service) who(ctx context.Context, p bot.Person) string {
	if id, ok := s.slackID(ctx, p); ok {
		return bot.MentionUser(id)
	}
	// Names and addresses come from the on-call provider: raw text.
	if p.Email != "" {
		return fmt.Sprintf("%s (%s, not found in Slack)", bot.QuoteRaw(p.Name), bot.QuoteRaw(p.Email))
	}
	return bot.QuoteRaw(p.Name) + " (not found in Slack)"
}

// at writes a time for a message everyone in a channel reads: Slack shows
// each reader their own zone, the fallback is in the configured one.
func (s *Service) at(t time.Time) string { return bot.FormatTime(t, s.loc) }

// zoneOf is the zone of a person's ephemeral answers (their Slack tz),
// else the configured one.
func (s *Service) zoneOf(ctx context.Context, user string) *time.Location {
	_, loc, err := s.userAndZone(ctx, user)
	if err != nil {
		s.logger(ctx).Debug("user's time zone unknown", zap.String("user", user), zap.Error(err))
	}
	return loc
}

func (s *Service) until(end, now time.Time, loc *time.Location) string {
	if end.IsZero() {
		return "further notice"
	}
	return fmt.Sprintf("%s (in %s)", bot.FormatTime(end, loc), human(end.Sub(now)))
}

// untilIn is until for a run at level in snap. When nobody follows in the
// synced window, the run may go on past what the data shows.
func (s *Service) untilIn(level int, end time.Time, snap bot.OnCallSnapshot, now time.Time, loc *time.Location) string {
	if end.IsZero() || end.Before(snap.SyncedAt.Add(s.set.Lookahead)) {
		return s.until(end, now, loc)
	}
	for _, sh := range snap.Shifts {
		if sh.Level == level && sh.Start.Equal(end) {
			return s.until(end, now, loc)
		}
	}
	return "at least " + s.until(end, now, loc)
}

// human formats a duration for people: "45s", "12m", "3h 5m", "2d 4h".
func human(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh %dm", h, m)
		}
		return fmt.Sprintf("%dh", h)
	}
	days := int(d.Hours()) / 24
	if h := int(d.Hours()) % 24; h != 0 {
		return fmt.Sprintf("%dd %dh", days, h)
	}
	return fmt.Sprintf("%dd", days)
}
