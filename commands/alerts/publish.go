package alerts

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

const (
	// renderLease bounds how long one render may hold a group. It outlasts
	// a post or edit waiting out Slack's rate limits (renderTimeout), so
	// that two replicas never post the same group at once.
	renderLease   = time.Minute
	renderTimeout = 25 * time.Second
	// maxBackoff bounds the wait before retrying a group whose render
	// failed: failures back off, so a Slack outage or 429s never turn into
	// a retry loop.
	maxBackoff = 5 * time.Minute
	// escalateKind is the timer queue of escalations; refreshKind of
	// groups whose message must change at a given time (a silence ends).
	escalateKind = "escalate"
	refreshKind  = "refresh"
)

// render brings one group's message up to date: the first render of an
// episode posts it (with the route's mention), later ones edit it. It runs
// under the group's lock, so only one replica posts or edits a group at a
// time, and it records the version it showed; changes that arrive meanwhile
// make the group due again no earlier than EditInterval later. What follows
// from the new state (timeline entries of a linked incident, auto-declare,
// the end of a page) happens after the lock is released.
func (s *Service) render(ctx context.Context, id string) {
	log := s.log.With(zap.String("alert_group", id))
	release, ok, err := s.lockGroup(ctx, id)
	if err != nil {
		log.Warn("alert group not rendered: lock unavailable", zap.Error(err))
		return
	}
	if !ok {
		return // another replica renders it; it stays due until then
	}
	g, changed, err := s.renderLocked(ctx, id, log, false, release)
	s.unlockGroup(id, release)
	if err != nil || !changed {
		return
	}
	s.afterRender(ctx, &g, log)
}

// renderLocked does the Slack work of render. It returns the group as
// rendered and whether anything follows from it. Unless forced (a person
// clicked and waits to see the result), an edit waits for the group's next
// allowed edit, whichever replica made the last one.
func (s *Service) renderLocked(ctx context.Context, id string, log *zap.Logger, force bool, release func()) (bot.AlertGroup, bool, error) {
	now := s.clock.Now()
	g, err := s.store.Group(ctx, id)
	if errors.Is(err, bot.ErrAlertGroupNotFound) {
		_ = s.store.Rendered(ctx, id, 0, now) // drops it from the due set
		return g, false, err
	}
	if err != nil {
		log.Warn("alert group not read", zap.Error(err))
		s.retryLater(ctx, id, log)
		return g, false, err
	}
	if g.Episode == 0 {
		// Only resolved alerts were ever seen: nothing to tell anyone.
		return g, false, s.store.Rendered(ctx, id, g.Version, now)
	}
	st := g.State
	if st.Episode != g.Episode {
		// The group fires again after resolving: a new message, and the
		// previous one keeps its final state.
		st, err = s.closeEpisodeState(ctx, id, func(x *bot.AlertGroupState) bool { return x.Episode != g.Episode },
			func(x *bot.AlertGroupState) {
				prev := x.Message
				if x.ShownResolved {
					prev = bot.MessageRef{}
				}
				*x = bot.AlertGroupState{Episode: g.Episode, Previous: prev}
			})
		if err != nil {
			log.Warn("alert group state not reset for its new episode", zap.Error(err))
			s.retryLater(ctx, id, log)
			return g, false, err
		}
		g.State = st
	}
	switch {
	case !force && (g.DueAt.IsZero() || now.Before(g.DueAt)):
		// Listed as due before another replica rendered it, or before a
		// failed render pushed it back: whoever holds the group's lock
		// now must not undo that (an edit too soon, a retry that ignores
		// Slack's Retry-After).
		return g, false, nil
	case st.Message.TS != "" && g.Shown == g.Version && st.Previous.TS == "":
		// Nothing new to show.
		return g, false, s.store.Rendered(ctx, id, g.Version, time.Time{})
	}
	route := s.set.route(&g)
	rctx, cancel := context.WithTimeout(ctx, renderTimeout)
	defer cancel()
	posted := false
	if st.Message.TS == "" {
		st.Channel = route.Channel
		p, recovered := s.unrecordedPost(id, g.Episode)
		if !recovered {
			msg := s.message(&g, &st, route, now)
			ref, err := s.chat.Post(rctx, msg)
			if err != nil {
				log.Warn("alert message not posted", zap.String("channel", route.Channel), zap.Error(err))
				s.retryLater(ctx, id, log)
				return g, false, err
			}
			s.metrics.latency.WithLabelValues("post").Observe(latency(g.Pending, s.clock.Now()))
			s.remember(id, messageHash(msg))
			p = pendingPost{episode: g.Episode, ref: ref, at: now, release: release}
			s.holdPost(id, p)
			posted = true
		}
		st, err = s.store.UpdateState(ctx, id, false, func(x *bot.AlertGroupState) error {
			if x.Episode == p.episode && x.Message.TS == "" {
				x.Channel, x.Message, x.PostedAt = p.ref.Channel, p.ref, p.at
			}
			return nil
		})
		if err != nil {
			// Posted but not recorded: this process keeps the message and
			// the group's lock (until its lease ends), and records it at
			// the next render rather than posting a second one.
			log.Error("alert message posted but not recorded; recorded when the store answers",
				zap.String("channel", p.ref.Channel), zap.String("ts", p.ref.TS), zap.Error(err))
			s.retryLater(ctx, id, log)
			return g, false, err
		}
		s.dropPost(id)
		g.State = st
		if recovered {
			log.Info("alert message posted earlier recorded", zap.String("channel", p.ref.Channel), zap.String("ts", p.ref.TS))
		} else {
			log.Info("alert message posted", zap.String("channel", p.ref.Channel), zap.Int("firing", g.Firing), zap.Int("episode", g.Episode))
		}
		if route.Escalate != nil && g.Firing > 0 {
			if err := s.store.ScheduleTimer(ctx, escalateKind, id, p.at.Add(route.Escalate.After)); err != nil {
				log.Error("escalation not scheduled", zap.Error(err))
			}
		}
	}
	if !posted {
		// An edit, or a message posted earlier that may show less than
		// the group now has.
		msg := s.message(&g, &st, route, now)
		h := messageHash(msg)
		if s.lastShown(id) != h {
			if err := s.chat.Update(rctx, st.Message, msg); err != nil {
				log.Warn("alert message not updated", zap.String("channel", st.Message.Channel), zap.Error(err))
				s.retryLater(ctx, id, log)
				return g, false, err
			}
			s.metrics.latency.WithLabelValues("edit").Observe(latency(g.Pending, s.clock.Now()))
			s.remember(id, h)
		}
	}
	if st.Previous.TS != "" {
		s.finishPrevious(rctx, id, &g, log)
	}
	if g.Firing == 0 && !st.ShownResolved {
		st, err = s.closeEpisodeState(ctx, id, func(x *bot.AlertGroupState) bool { return x.Episode == g.Episode },
			func(x *bot.AlertGroupState) { x.ShownResolved = true })
		var nq errPageNotQueued
		switch {
		case err == nil:
			g.State = st
		case errors.As(err, &nq):
			// Retried with the render, which edits nothing this time.
			log.Warn("alert group's page not queued for resolution", zap.Error(err))
			s.retryLater(ctx, id, log)
			return g, false, err
		default:
			log.Warn("resolved message not recorded", zap.Error(err))
		}
	}
	s.clearFailures(id)
	// The next edit counts from when this one landed, not from when the
	// render began: a render slowed by Slack's rate limits must not be
	// followed at once by the next.
	next := s.clock.Now().Add(s.set.EditInterval)
	if err := s.store.Rendered(ctx, id, g.Version, next); err != nil {
		log.Warn("render not recorded; the group will be rendered again", zap.Error(err))
	}
	s.scheduleReconcile(ctx, &g, log)
	// A silence ending changes what the message says; show it then.
	if st.Silenced(now) && g.Firing > 0 {
		if err := s.store.ScheduleTimer(ctx, refreshKind, id, st.SilencedUntil); err != nil {
			log.Warn("silence end not scheduled", zap.Error(err))
		}
	}
	return g, true, nil
}

// finishPrevious gives the previous episode's message its final word and
// forgets it.
func (s *Service) finishPrevious(ctx context.Context, id string, g *bot.AlertGroup, log *zap.Logger) {
	prev := g.State.Previous
	msg := bot.Message{Title: ":white_check_mark: RESOLVED: " + bot.QuoteRaw(clip(g.Name(), maxName)),
		Text: "This alert group resolved and has fired again; the newest message follows in this channel."}
	if err := s.chat.Update(ctx, prev, msg); err != nil {
		log.Warn("previous alert message not finished", zap.Error(err))
	}
	if _, err := s.store.UpdateState(ctx, id, false, func(x *bot.AlertGroupState) error {
		if x.Previous == prev {
			x.Previous = bot.MessageRef{}
		}
		return nil
	}); err != nil {
		log.Warn("previous alert message not forgotten", zap.Error(err))
	}
}

// retryLater makes the group due again after a backoff that doubles with
// each failure in a row, counted from now: a render that spent seconds
// waiting out 429s must not be retried the moment it gives up.
func (s *Service) retryLater(ctx context.Context, id string, log *zap.Logger) {
	s.mu.Lock()
	s.failures[id]++
	n := s.failures[id]
	s.mu.Unlock()
	wait := s.set.EditInterval
	for i := 1; i < n && wait < maxBackoff; i++ {
		wait *= 2
	}
	wait = min(max(wait, time.Second), maxBackoff)
	if err := s.store.Reschedule(ctx, id, s.clock.Now().Add(wait)); err != nil {
		log.Warn("alert group not rescheduled", zap.Error(err))
	}
}

func (s *Service) clearFailures(id string) {
	s.mu.Lock()
	delete(s.failures, id)
	s.mu.Unlock()
}

// remember and lastShown keep the hash of the message this process last
// showed for a group, to skip edits that would change nothing. Bounded:
// forgetting only costs an edit.
func (s *Service) remember(id, h string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.shown) > 10000 {
		s.shown = map[string]string{}
	}
	s.shown[id] = h
}

func (s *Service) lastShown(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown[id]
}

// afterRender does what follows from a group's new state: its alerts in the
// timeline of a linked incident, the route's auto-declare rule, the end of
// an escalation.
func (s *Service) afterRender(ctx context.Context, g *bot.AlertGroup, log *zap.Logger) {
	route := s.set.route(g)
	if g.State.Incident != "" {
		s.recordAlerts(ctx, g, g.State.Incident, log)
	}
	// A silence from the message means someone is on it: the declare rule
	// waits until it ends (its end re-renders the group).
	if g.Firing > 0 && route.Declare != nil && g.State.Incident == "" && !g.State.AutoDeclared &&
		!g.State.Silenced(s.clock.Now()) && s.incidents != nil && route.Declare.declares(g) {
		s.autoDeclare(ctx, g, route, log)
	}
	if g.Firing == 0 {
		if err := s.store.CancelTimer(ctx, escalateKind, g.ID); err != nil {
			log.Warn("escalation not cancelled", zap.Error(err))
		}
		_ = s.store.CancelTimer(ctx, reconcileKind, g.ID)
		if g.State.PagedVia == pagedViaEvents && !g.State.PageResolved {
			s.resolvePage(ctx, g, log)
		}
	}
}

// renderNow renders a group at once after a click changed it, waiting a
// little for a render in progress elsewhere to finish.
func (s *Service) renderNow(ctx context.Context, id string) {
	for attempt := 0; attempt < 20; attempt++ {
		release, ok, err := s.lockGroup(ctx, id)
		if err != nil {
			s.kick()
			return
		}
		if ok {
			log := bot.LoggerOr(ctx, s.log).With(zap.String("alert_group", id))
			g, changed, err := s.renderLocked(ctx, id, log, true, release)
			s.unlockGroup(id, release)
			if err == nil && changed {
				s.afterRender(ctx, &g, log)
			}
			return
		}
		if bot.Sleep(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
	s.kick() // still busy: the publisher picks it up, it is due
}

// pendingPost is a message this process posted but could not record: a
// render that found no message would post a second one. The process keeps
// the group's render lock with it, so that other replicas do not render
// the group meanwhile, for as long as the lock's lease lasts.
type pendingPost struct {
	episode int
	ref     bot.MessageRef
	at      time.Time
	release func()
}

func (s *Service) holdPost(id string, p pendingPost) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[id] = p
}

// unrecordedPost returns the message posted for the group's episode that
// is still to be recorded. One for an earlier episode is forgotten: that
// episode's message is no longer the group's.
func (s *Service) unrecordedPost(id string, episode int) (pendingPost, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[id]
	if ok && p.episode != episode {
		delete(s.pending, id)
		return pendingPost{}, false
	}
	return p, ok
}

func (s *Service) dropPost(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, id)
}

// lockGroup takes the group's render lock, or reuses the one kept with a
// message still to be recorded.
func (s *Service) lockGroup(ctx context.Context, id string) (func(), bool, error) {
	s.mu.Lock()
	p, ok := s.pending[id]
	s.mu.Unlock()
	if ok && p.release != nil {
		return p.release, true, nil
	}
	return s.locker.TryLock(ctx, "alerts:render:"+id, renderLease)
}

// unlockGroup gives the render lock back, unless a message posted under it
// is still to be recorded.
func (s *Service) unlockGroup(id string, release func()) {
	s.mu.Lock()
	_, keep := s.pending[id]
	s.mu.Unlock()
	if !keep {
		release()
	}
}

func latency(pending, now time.Time) float64 {
	if pending.IsZero() || now.Before(pending) {
		return 0
	}
	return now.Sub(pending).Seconds()
}
