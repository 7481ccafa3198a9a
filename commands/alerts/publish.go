package alerts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	// attemptSettle is how long after a post attempt began its post may
	// still land: the render that made it gives up after renderTimeout.
	// Only then does a render look for the attempt's message in the
	// channel, so that it never concludes "not posted" while the post is
	// on its way.
	attemptSettle = renderTimeout + 5*time.Second
	// clockSkew widens the part of the channel's history searched for an
	// attempt's message, for a Slack clock behind ours.
	clockSkew = time.Minute
	// lookupGiveUp: once the channel's history could not be read for this
	// long after an attempt began, the message is posted anyway. An alert
	// nobody sees is worse than one shown twice.
	lookupGiveUp = 5 * time.Minute
	// metadataEventType names alert messages in their Slack metadata.
	metadataEventType = "alert_group_message"
)

// render brings one group's message up to date: the first render of an
// episode posts it (with the route's mention), later ones edit it. It runs
// under the group's lock, so only one replica posts or edits a group at a
// time, and it records the version it showed; changes that arrive meanwhile
// make the group due again no earlier than EditInterval later. What follows
// from the new state (timeline entries of a linked incident, auto-declare,
// the end of an escalation) happens after the lock is released; a page's
// resolution is queued before the state shows its episode over, and the
// escalation loop makes it (unpage.go).
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
		// previous one keeps its final state. A previous message whose
		// post was never recorded is looked for, so that it gets its
		// final word too rather than show the old episode firing.
		old := st
		var orphan bot.MessageRef
		if old.Episode != 0 && old.Message.TS == "" && old.PostAttempt != "" {
			fctx, cancel := context.WithTimeout(ctx, renderTimeout)
			ref, found, err := s.findAttempt(fctx, id, old.Episode, &old, now, log)
			cancel()
			if err != nil {
				s.retryPost(ctx, id, err, log)
				return g, false, err
			}
			if found {
				orphan = ref
			}
		}
		st, err = s.closeEpisodeState(ctx, id, func(x *bot.AlertGroupState) bool { return x.Episode != g.Episode },
			func(x *bot.AlertGroupState) {
				prev := x.Message
				if x.ShownResolved {
					prev = bot.MessageRef{}
				}
				if prev.TS == "" && x.Episode == old.Episode && x.PostAttempt == old.PostAttempt {
					prev = orphan
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
	if p, held := s.unrecordedPost(id, g.Episode); held && st.Message.TS != "" {
		// The message this process posted and could not record was
		// recorded meanwhile by a render that found it, or another was,
		// posted once this process's lease had ended: this one is the
		// second, and goes. Either way the lease kept with it is over;
		// the next render takes the lock anew.
		s.dropPost(id)
		if p.ref != st.Message {
			s.discard(ctx, id, p, log)
		}
		s.kick()
		return g, false, nil
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
		p, recovered := s.unrecordedPost(id, g.Episode)
		if !recovered {
			p, err = s.postOnce(ctx, rctx, &g, &st, route, now, log, release)
			if err != nil {
				s.retryPost(ctx, id, err, log)
				return g, false, err
			}
			posted = !p.adopted
		}
		st, err = s.recordPost(ctx, id, p)
		switch {
		case errors.Is(err, errPostSuperseded):
			// Another render's message is the episode's (or the episode is
			// over): this one is the second, and goes.
			s.dropPost(id)
			s.discard(ctx, id, p, log)
			s.kick()
			return g, false, err
		case err != nil && p.adopted:
			log.Warn("alert message found but not recorded; looked for again at the next render", zap.Error(err))
			s.retryLater(ctx, id, log)
			return g, false, err
		case err != nil:
			// Posted but not recorded: this process keeps the message and
			// the group's lock (until its lease ends), and records it at
			// the next render rather than posting a second one. Should the
			// lease end first, the replica that renders next finds the
			// message by its metadata.
			log.Error("alert message posted but not recorded; recorded when the store answers",
				zap.String("channel", p.ref.Channel), zap.String("ts", p.ref.TS), zap.Error(err))
			s.retryLater(ctx, id, log)
			// Held only now: a render that ran meanwhile (a click, a
			// flush) would have taken the lease kept with it and rendered
			// the group alongside this one.
			s.holdPost(id, p)
			return g, false, err
		}
		s.dropPost(id)
		g.State = st
		switch {
		case p.adopted:
			s.metrics.recoveries.WithLabelValues("adopted").Inc()
			log.Warn("alert message of an earlier post attempt found in the channel and kept; not posted again",
				zap.String("attempt", p.attempt), zap.String("channel", p.ref.Channel), zap.String("ts", p.ref.TS))
		case recovered:
			log.Info("alert message posted earlier recorded", zap.String("channel", p.ref.Channel), zap.String("ts", p.ref.TS))
		default:
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
		if s.lastShown(id, g.Shown) != h {
			if err := s.chat.Update(rctx, st.Message, msg); err != nil {
				log.Warn("alert message not updated", zap.String("channel", st.Message.Channel), zap.Error(err))
				s.retryLater(ctx, id, log)
				return g, false, err
			}
			s.metrics.latency.WithLabelValues("edit").Observe(latency(g.Pending, s.clock.Now()))
			s.remember(id, h, g.Version)
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

// shownMessage is the message this process last showed for a group: its
// hash, and the group version it showed.
type shownMessage struct {
	hash    string
	version int64
}

// remember and lastShown keep the hash of the message this process last
// showed for a group, to skip edits that would change nothing. Bounded:
// forgetting only costs an edit.
func (s *Service) remember(id, h string, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.shown) > 10000 {
		s.shown = map[string]shownMessage{}
	}
	s.shown[id] = shownMessage{hash: h, version: version}
}

// lastShown is the hash of the message this process last showed, while
// the group's last render (shown, the version it recorded) is still that
// one: once another replica has rendered the group since, the message may
// show something else, and a message like this process's must be shown
// again.
func (s *Service) lastShown(id string, shown int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.shown[id]; m.version == shown {
		return m.hash
	}
	return ""
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
// the group meanwhile, for as long as the lock's lease lasts. It is also
// how postOnce hands over a message it posted or found (adopted).
type pendingPost struct {
	episode int
	ref     bot.MessageRef
	at      time.Time
	// attempt is the post attempt the message belongs to; adopted says an
	// earlier attempt posted it and this render found it in the channel.
	attempt string
	adopted bool
	release func()
}

// errPostSuperseded: the episode already has another message, another
// attempt was claimed since, or the episode is over.
var errPostSuperseded = errors.New("alert message superseded")

// attemptInFlight is the error of a render that found an earlier post
// attempt too recent to tell whether it landed: it looks again at until.
type attemptInFlight struct{ until time.Time }

func (e attemptInFlight) Error() string {
	return "an earlier attempt to post the alert message may still land; looked for at " + e.until.Format(time.RFC3339)
}

// postMetadata is the metadata of the group's message for an episode, by
// which a render finds a message whose post was never recorded. attempt
// is left out when looking: any attempt's message is the episode's.
func postMetadata(id string, episode int, attempt string) *bot.MessageMetadata {
	m := &bot.MessageMetadata{EventType: metadataEventType, Payload: map[string]string{"group": id, "episode": strconv.Itoa(episode)}}
	if attempt != "" {
		m.Payload["attempt"] = attempt
	}
	return m
}

// postOnce posts the episode's message, or finds the one an earlier
// attempt posted. An attempt is claimed in the store before the post, so
// that whoever renders the group next, here or on another replica, knows
// a message may exist although none is recorded; the message carries the
// attempt in its metadata. A render that finds an attempt whose outcome is
// unknown (its process died, or the post's answer was lost) looks for its
// message in the channel, and posts only when it is not there.
//
// The claim is an UpdateState, not a ClaimState: it waits for the store's
// replicas like any state change but stands when they are slow. Holding
// every new alert back while a replica lags would trade a duplicate that
// needs a failover and a crash in the same second for alerts nobody sees.
func (s *Service) postOnce(ctx, rctx context.Context, g *bot.AlertGroup, st *bot.AlertGroupState, route Route, now time.Time,
	log *zap.Logger, release func()) (pendingPost, error) {
	if st.PostAttempt != "" {
		ref, found, err := s.findAttempt(rctx, g.ID, g.Episode, st, now, log)
		if err != nil {
			return pendingPost{}, err
		}
		if found {
			return pendingPost{episode: g.Episode, ref: ref, at: st.PostAttemptAt, attempt: st.PostAttempt, adopted: true}, nil
		}
	}
	seen, attempt := st.PostAttempt, s.ids.New().String()
	claimed, err := s.store.UpdateState(ctx, g.ID, false, func(x *bot.AlertGroupState) error {
		if x.Episode != g.Episode || x.Message.TS != "" || x.PostAttempt != seen {
			return errPostSuperseded
		}
		x.Channel, x.PostAttempt, x.PostAttemptAt = route.Channel, attempt, now
		return nil
	})
	if err != nil {
		return pendingPost{}, fmt.Errorf("claim the post of the alert message: %w", err)
	}
	*st = claimed
	msg := s.message(g, st, route, now)
	ref, err := s.chat.Post(rctx, msg)
	if err != nil {
		// Whether it landed is unknown (a timeout, a lost answer): the
		// claimed attempt stays, and the next render looks for it.
		return pendingPost{}, fmt.Errorf("post the alert message in %s: %w", route.Channel, err)
	}
	s.metrics.latency.WithLabelValues("post").Observe(latency(g.Pending, s.clock.Now()))
	s.remember(g.ID, messageHash(msg), g.Version)
	return pendingPost{episode: g.Episode, ref: ref, at: now, attempt: attempt, release: release}, nil
}

// findAttempt looks in the channel for the message st's post attempt may
// have posted for episode. Found false with a nil error means posting is
// safe: it did not land, or it cannot be known and waiting does not help
// (chat refuses to show the channel's history, or has not shown it for
// lookupGiveUp).
func (s *Service) findAttempt(ctx context.Context, id string, episode int, st *bot.AlertGroupState, now time.Time, log *zap.Logger) (bot.MessageRef, bool, error) {
	if settled := st.PostAttemptAt.Add(attemptSettle); now.Before(settled) {
		return bot.MessageRef{}, false, attemptInFlight{until: settled}
	}
	log = log.With(zap.String("attempt", st.PostAttempt), zap.String("channel", st.Channel), zap.Int("episode", episode))
	ref, found, err := s.chat.FindPosted(ctx, st.Channel, st.PostAttemptAt.Add(-clockSkew), *postMetadata(id, episode, ""))
	switch {
	case err == nil:
		if !found {
			s.metrics.recoveries.WithLabelValues("absent").Inc()
			log.Warn("alert message of an earlier post attempt not in the channel; posting it")
		}
		return ref, found, nil
	case errors.Is(err, bot.ErrRequestRefused):
		s.metrics.recoveries.WithLabelValues("unchecked").Inc()
		log.Error("cannot look for the alert message of an earlier post attempt; posting, which may show the group twice",
			zap.Error(err))
		return bot.MessageRef{}, false, nil
	case !now.Before(st.PostAttemptAt.Add(lookupGiveUp)):
		s.metrics.recoveries.WithLabelValues("unchecked").Inc()
		log.Error("alert message of an earlier post attempt not looked for in time; posting, which may show the group twice",
			zap.Error(err))
		return bot.MessageRef{}, false, nil
	default:
		return bot.MessageRef{}, false, fmt.Errorf("look for the message of post attempt %s in %s: %w", st.PostAttempt, st.Channel, err)
	}
}

// retryPost makes the group due again after a failed post or lookup:
// when an earlier attempt may still land, once it has settled; otherwise
// after the usual backoff.
func (s *Service) retryPost(ctx context.Context, id string, err error, log *zap.Logger) {
	var inflight attemptInFlight
	if errors.As(err, &inflight) {
		log.Info("alert message not posted yet: an earlier attempt may still land", zap.Time("look_at", inflight.until))
		if rerr := s.store.Reschedule(ctx, id, inflight.until); rerr != nil {
			log.Warn("alert group not rescheduled", zap.Error(rerr))
		}
		return
	}
	if errors.Is(err, errPostSuperseded) {
		s.kick() // the state changed under us: render again with it
		return
	}
	log.Warn("alert message not posted", zap.Error(err))
	s.retryLater(ctx, id, log)
}

// recordPost records p as the episode's message, if it still is: the same
// episode, no other message recorded, and p's attempt the one claimed
// last. Otherwise it returns errPostSuperseded.
func (s *Service) recordPost(ctx context.Context, id string, p pendingPost) (bot.AlertGroupState, error) {
	return s.store.UpdateState(ctx, id, false, func(x *bot.AlertGroupState) error {
		switch {
		case x.Episode == p.episode && x.Message == p.ref:
			return nil // recorded already (found by another replica)
		case x.Episode != p.episode || x.Message.TS != "" || x.PostAttempt != p.attempt:
			return errPostSuperseded
		}
		x.Channel, x.Message, x.PostedAt = p.ref.Channel, p.ref, p.at
		return nil
	})
}

// discard deals with a message that lost to another: a second message of
// the episode is deleted; one of an episode that is over becomes the
// previous message (for its final word) when there is none, else goes.
func (s *Service) discard(ctx context.Context, id string, p pendingPost, log *zap.Logger) {
	log = log.With(zap.String("attempt", p.attempt), zap.String("channel", p.ref.Channel), zap.String("ts", p.ref.TS))
	kept := false
	if _, err := s.store.UpdateState(ctx, id, false, func(x *bot.AlertGroupState) error {
		switch {
		case x.Previous == p.ref:
			kept = true // found as the previous episode's message already
		case x.Episode > p.episode && x.Previous.TS == "" && x.Message != p.ref:
			x.Previous, kept = p.ref, true
		default:
			kept = false
		}
		return nil
	}); err != nil {
		log.Warn("superseded alert message not handed over; deleting it", zap.Error(err))
		kept = false
	}
	if kept {
		log.Info("alert message of an earlier episode kept for its final edit")
		return
	}
	dctx, cancel := context.WithTimeout(ctx, renderTimeout)
	defer cancel()
	if err := s.chat.Delete(dctx, p.ref); err != nil {
		log.Error("second alert message of the group not deleted", zap.Error(err))
		return
	}
	s.metrics.recoveries.WithLabelValues("duplicate_deleted").Inc()
	log.Warn("second alert message of the group deleted: another render's message is the group's")
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
