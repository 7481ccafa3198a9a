package alerts

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// An escalation paged as a REST incident is resolved at PagerDuty when its
// group resolves, as the Events API alert is. The group's resolution queues
// it in the unpage timer queue before the message shows the group resolved
// (so a failure to queue retries the render), and any replica's escalation
// loop claims it and resolves it. The timer's ID names the group and the
// incident, so the incident is resolved even once the group's state has
// moved on to a new episode; the group's state records the resolution
// (PageResolved) while it is still that episode's.

// unpageKind is the timer queue of REST incidents to resolve.
const unpageKind = "unpage"

// unpageTimer is the unpage timer ID of a group's incident.
func unpageTimer(group, page string) string { return group + "/" + page }

// openRESTPage is the REST incident of a state still to be resolved, or "".
func openRESTPage(st *bot.AlertGroupState) string {
	if st.PagedVia != pagedViaREST || st.PageResolved {
		return ""
	}
	return st.PageID
}

// queueUnpage asks for a group's REST incident to be resolved, at once.
// Without a PageResolver nothing can resolve it, and it stays open.
func (s *Service) queueUnpage(ctx context.Context, group, page string) error {
	if s.resolver == nil || page == "" {
		return nil
	}
	return s.store.ScheduleTimer(ctx, unpageKind, unpageTimer(group, page), s.clock.Now())
}

// unpageDue resolves the queued incidents. Each claimed one is leased: a
// failure (PagerDuty down, 429s beyond the client's retries) is retried
// when the lease ends, by whichever replica claims it then.
func (s *Service) unpageDue(ctx context.Context, now time.Time) {
	if s.resolver == nil {
		return
	}
	ids, err := s.store.ClaimTimers(ctx, unpageKind, now, s.lease, 20)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("page resolutions not claimed", zap.Error(err))
		}
		return
	}
	for _, tid := range ids {
		func() {
			defer func() {
				if p := recover(); p != nil {
					s.log.Error("page resolution panicked", zap.String("timer", tid), zap.Any("panic", p))
				}
			}()
			s.unpage(context.WithoutCancel(ctx), tid)
		}()
	}
}

// unpage resolves one claimed incident and, once that is recorded, drops
// its timer.
func (s *Service) unpage(ctx context.Context, tid string) {
	group, page, ok := strings.Cut(tid, "/")
	if !ok || group == "" || page == "" {
		s.log.Error("page resolution of an unreadable timer dropped", zap.String("timer", tid))
		_ = s.store.CancelTimer(ctx, unpageKind, tid)
		return
	}
	log := s.log.With(zap.String("alert_group", group), zap.String("pd_incident", page))
	if s.unpageOnce(ctx, group, page, log) {
		if err := s.store.CancelTimer(ctx, unpageKind, tid); err != nil {
			log.Warn("page resolution done but its timer not cancelled", zap.Error(err))
		}
	}
}

// unpageOnce resolves a group's incident unless the group's state says it
// is resolved, and records it there; done says nothing is left to do. A
// lock keeps two replicas from resolving it at once (a group's resolution
// may queue it again while it is claimed); the one that waits finds it
// recorded.
func (s *Service) unpageOnce(ctx context.Context, group, page string, log *zap.Logger) (done bool) {
	release, ok, err := s.locker.TryLock(ctx, "alerts:unpage:"+unpageTimer(group, page), s.lease)
	if err != nil {
		log.Warn("page resolution postponed: lock unavailable", zap.Error(err))
		return false
	}
	if !ok {
		return false // another replica resolves it now
	}
	defer release()
	g, err := s.store.Group(ctx, group)
	switch {
	case errors.Is(err, bot.ErrAlertGroupNotFound):
		// The group expired; its incident is still open.
	case err != nil:
		log.Warn("page resolution postponed: alert group not read", zap.Error(err))
		return false
	case g.State.PageID == page && g.State.PageResolved:
		return true
	}
	// Within the lease, so that no other replica claims it meanwhile.
	rctx, cancel := context.WithTimeout(ctx, s.lease/2)
	err = s.resolver.ResolvePage(rctx, page)
	cancel()
	if errors.Is(err, bot.ErrNotFound) {
		log.Warn("page not resolved: PagerDuty has no such incident (deleted?); nothing left to resolve", zap.Error(err))
		return true
	}
	if err != nil {
		log.Error("page not resolved; retried", zap.Duration("after", s.lease), zap.Error(err))
		return false
	}
	_, err = s.store.UpdateState(ctx, group, false, func(x *bot.AlertGroupState) error {
		if x.PageID != page || x.PageResolved {
			return errAlready // a new episode's state, or recorded already
		}
		x.PageResolved = true
		return nil
	})
	if err != nil && !errors.Is(err, errAlready) && !errors.Is(err, bot.ErrAlertGroupNotFound) {
		// Resolving again is harmless ("already resolved" is success).
		log.Warn("page resolved but not recorded; retried", zap.Error(err))
		return false
	}
	log.Info("page resolved with its alert group")
	return true
}

// errPageNotQueued is a REST incident that could not be queued for
// resolution, so the state update that would hide it was not made.
type errPageNotQueued struct {
	page string
	err  error
}

func (e errPageNotQueued) Error() string {
	return "page " + e.page + " not queued for resolution: " + e.err.Error()
}

func (e errPageNotQueued) Unwrap() error { return e.err }

// closeEpisodeState applies apply to the group's state where closes says
// it ends what the state says about its episode (shows the episode
// resolved, or replaces it with a new episode's), but only once the
// episode's open REST incident is queued for resolution: until the state
// says the resolution was shown, an escalation may record one at any
// moment, and one recorded after this update finds the update made and
// queues its incident itself.
func (s *Service) closeEpisodeState(ctx context.Context, id string, closes func(*bot.AlertGroupState) bool,
	apply func(*bot.AlertGroupState)) (bot.AlertGroupState, error) {
	var queued []string
	for {
		var missing string
		st, err := s.store.UpdateState(ctx, id, false, func(x *bot.AlertGroupState) error {
			missing = ""
			if !closes(x) {
				return nil
			}
			if p := openRESTPage(x); p != "" && !x.ShownResolved && s.resolver != nil && !slices.Contains(queued, p) {
				missing = p
				return errAlready
			}
			apply(x)
			return nil
		})
		if missing == "" || !errors.Is(err, errAlready) {
			return st, err
		}
		if err := s.queueUnpage(ctx, id, missing); err != nil {
			return bot.AlertGroupState{}, errPageNotQueued{page: missing, err: err}
		}
		// An episode records one page, so this ends.
		queued = append(queued, missing)
	}
}
