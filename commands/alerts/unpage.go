package alerts

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// An escalation's page is resolved at PagerDuty when its group resolves,
// whichever way it paged: a REST incident is resolved (PUT /incidents), an
// Events API alert gets a resolve event. The group's resolution queues the
// page in the unpage timer queue before the message shows the group
// resolved (so a failure to queue retries the render), and any replica's
// escalation loop claims it and resolves it, again after a lease for as
// long as PagerDuty fails. The timer's ID names the page in full, so the
// page is resolved even once the group's state has moved on to a new
// episode; the group's state records the resolution (PageResolved) while
// it is still that episode's.
//
// An Events API alert is known by its dedup key, and a trigger with the key
// of an open alert joins it. Escalations key theirs <group>:<episode>, so a
// resolution that arrives after the group fired again ends its own
// episode's alert only, never the next one's, and each episode pages anew.
// Pages made before used the bare group ID for every episode; the
// resolution of such a page is skipped when a later episode of the group
// has paged under that same key since (only a replica still running the
// earlier version does that), because the alert is then that episode's,
// and its own resolution ends it.

// unpageKind is the timer queue of pages to resolve.
const unpageKind = "unpage"

// page is an escalation's page at PagerDuty, as the unpage queue knows it.
type page struct {
	group string
	via   string // pagedViaREST or pagedViaEvents
	// id is the REST incident's ID, or the Events API alert's dedup key.
	id string
	// service (whose routing key the alert went to) and episode (the
	// group's episode it paged for) are the Events API alert's.
	service string
	episode int
	// unsent says the state names the page but not that it was sent:
	// the escalation may still be sending it. A REST incident's ID is
	// not known then: id is its incident key, and service and episode
	// are set.
	unsent bool
}

// eventsTimer marks the unpage timers of Events API alerts.
const eventsTimer = "events"

// restKeyTimer marks the unpage timers of REST incidents known by their
// incident key only.
const restKeyTimer = "restkey"

// timer is the page's unpage timer ID: <group>/<incident> for a REST
// incident (the form queued since those were resolved),
// <group>/restkey/<service>/<episode> for one whose ID is not known, and
// <group>/events/<service>/<episode>/<dedup key> for an Events API alert.
// Group IDs, incident IDs, service names and dedup keys have no "/".
func (p page) timer() string {
	switch {
	case p.via == pagedViaEvents:
		return p.group + "/" + eventsTimer + "/" + p.service + "/" + strconv.Itoa(p.episode) + "/" + p.id
	case p.unsent:
		return p.group + "/" + restKeyTimer + "/" + p.service + "/" + strconv.Itoa(p.episode)
	}
	return p.group + "/" + p.id
}

// restIncidentKey is the incident key of the REST incident an escalation
// creates for a group's episode.
func restIncidentKey(group string, episode int) string {
	return "alertgroup-" + group + "-" + strconv.Itoa(episode)
}

// parsePage reads an unpage timer ID.
func parsePage(tid string) (page, bool) {
	parts := strings.Split(tid, "/")
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return page{group: parts[0], via: pagedViaREST, id: parts[1]}, true
	case len(parts) == 4 && parts[0] != "" && parts[1] == restKeyTimer && parts[2] != "":
		ep, err := strconv.Atoi(parts[3])
		if err != nil || ep <= 0 {
			return page{}, false
		}
		return page{group: parts[0], via: pagedViaREST, id: restIncidentKey(parts[0], ep), service: parts[2], episode: ep,
			unsent: true}, true
	case len(parts) == 5 && parts[0] != "" && parts[1] == eventsTimer && parts[2] != "" && parts[4] != "":
		ep, err := strconv.Atoi(parts[3])
		if err != nil || ep <= 0 {
			return page{}, false
		}
		return page{group: parts[0], via: pagedViaEvents, service: parts[2], episode: ep, id: parts[4]}, true
	}
	return page{}, false
}

// eventsDedupKey is the dedup key of the Events API alert an escalation
// triggers for a group's episode.
func eventsDedupKey(group string, episode int) string {
	return group + ":" + strconv.Itoa(episode)
}

// legacy says the Events API alert is keyed by the bare group ID, as
// escalations keyed every episode's before.
func (p page) legacy() bool { return p.via == pagedViaEvents && p.id == p.group }

// same says p and q are one page at PagerDuty.
func (p page) same(q page) bool {
	if p.via != q.via || p.id != q.id {
		return false
	}
	return (p.via == pagedViaREST && !p.unsent) || (p.service == q.service && p.episode == q.episode)
}

// log adds the page's fields to a logger. The routing key is a secret and
// is never among them.
func (p page) log(l *zap.Logger) *zap.Logger {
	l = l.With(zap.String("alert_group", p.group))
	switch {
	case p.via == pagedViaEvents:
		return l.With(zap.String("service", p.service), zap.String("pd_dedup_key", p.id), zap.Int("episode", p.episode))
	case p.unsent:
		return l.With(zap.String("service", p.service), zap.String("pd_incident_key", p.id), zap.Int("episode", p.episode))
	}
	return l.With(zap.String("pd_incident", p.id))
}

// statePage is the page a group's state records, if any: one recorded as
// sent (PagedAt), or one an escalation was about to send, which may have
// been sent without its record (an Events API alert by its dedup key, a
// REST incident by its incident key).
func statePage(group string, st *bot.AlertGroupState) (page, bool) {
	switch st.PagedVia {
	case pagedViaREST:
		if st.PagedAt.IsZero() {
			return page{group: group, via: pagedViaREST, id: restIncidentKey(group, st.Episode), service: st.PagedService,
				episode: st.Episode, unsent: true}, st.PagedService != "" && st.Episode > 0
		}
		if st.PageID == "" {
			return page{}, false
		}
		return page{group: group, via: pagedViaREST, id: st.PageID}, true
	case pagedViaEvents:
		if st.PagedAt.IsZero() && st.PageID == "" {
			return page{}, false
		}
		id := st.PageID
		if id == "" {
			id = group // recorded before the state kept dedup keys: the group's
		}
		return page{group: group, via: pagedViaEvents, id: id, service: st.PagedService, episode: st.Episode,
			unsent: st.PagedAt.IsZero()}, true
	}
	return page{}, false
}

// openPage is the page of a state still to be resolved.
func openPage(group string, st *bot.AlertGroupState) (page, bool) {
	p, ok := statePage(group, st)
	return p, ok && !st.PageResolved
}

// canResolve says this replica has what resolving the page takes: the
// PageResolver of a REST incident, the Events API client of an alert.
func (s *Service) canResolve(p page) bool {
	if p.via == pagedViaEvents {
		return s.events != nil
	}
	return s.resolver != nil
}

// queueUnpage asks for a group's page to be resolved, at once, or, when
// its trigger is not known to have been sent, after the escalation's lease:
// a resolve that overtook the trigger would leave the alert open, and an
// escalation that records its page by then queues it again at once.
// Without the client its API needs nothing can resolve it, and it stays
// open.
func (s *Service) queueUnpage(ctx context.Context, p page) error {
	if !s.canResolve(p) || p.id == "" {
		return nil
	}
	at := s.clock.Now()
	if p.unsent {
		at = at.Add(s.lease)
	}
	return s.store.ScheduleTimer(ctx, unpageKind, p.timer(), at)
}

// unpageDue resolves the queued pages. Each claimed one is leased: a
// failure (PagerDuty down, 429s beyond the client's retries, timeouts) is
// retried when the lease ends, by whichever replica claims it then.
func (s *Service) unpageDue(ctx context.Context, now time.Time) {
	if s.resolver == nil && s.events == nil {
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

// unpage resolves one claimed page and, once that is recorded, drops its
// timer.
func (s *Service) unpage(ctx context.Context, tid string) {
	p, ok := parsePage(tid)
	if !ok {
		s.log.Error("page resolution of an unreadable timer dropped", zap.String("timer", tid))
		_ = s.store.CancelTimer(ctx, unpageKind, tid)
		return
	}
	log := p.log(s.log)
	if s.unpageOnce(ctx, p, log) {
		if err := s.store.CancelTimer(ctx, unpageKind, tid); err != nil {
			log.Warn("page resolution done but its timer not cancelled", zap.Error(err))
		}
	}
}

// errCannotResolve is a page this replica lacks the means to resolve: the
// PageResolver of a REST incident, the Events API client or the routing key
// of an alert's service. Another replica may have them. It says what is
// missing.
type errCannotResolve string

func (e errCannotResolve) Error() string { return string(e) }

// unpageOnce resolves a group's page unless the group's state says it is
// resolved, and records it there; done says nothing is left to do. A lock
// keeps two replicas from resolving it at once (a group's resolution may
// queue it again while it is claimed); the one that waits finds it
// recorded.
func (s *Service) unpageOnce(ctx context.Context, p page, log *zap.Logger) (done bool) {
	release, ok, err := s.locker.TryLock(ctx, "alerts:unpage:"+p.timer(), s.lease)
	if err != nil {
		log.Warn("page resolution postponed: lock unavailable", zap.Error(err))
		return false
	}
	if !ok {
		return false // another replica resolves it now
	}
	defer release()
	g, err := s.store.Group(ctx, p.group)
	switch {
	case errors.Is(err, bot.ErrAlertGroupNotFound):
		// The group expired; its page is still open.
	case err != nil:
		log.Warn("page resolution postponed: alert group not read", zap.Error(err))
		return false
	default:
		cur, paged := statePage(p.group, &g.State)
		if paged && cur.same(p) && g.State.PageResolved {
			return true
		}
		if paged && p.unsent && p.via == pagedViaREST && cur.via == pagedViaREST && !cur.unsent && g.State.Episode == p.episode {
			// Recorded since with its ID, which is queued when the
			// episode closes and resolved under it.
			return true
		}
		if paged && p.legacy() && cur.via == pagedViaEvents && cur.id == p.id && cur.service == p.service &&
			cur.episode > p.episode && !g.State.PageResolved {
			log.Info("page not resolved: a later episode of the group paged under its dedup key since; that episode's resolution resolves it",
				zap.Int("paging_episode", cur.episode))
			return true
		}
	}
	// Within the lease, so that no other replica claims it meanwhile.
	rctx, cancel := context.WithTimeout(ctx, s.lease/2)
	err = s.resolvePage(rctx, p)
	cancel()
	switch {
	case errors.As(err, new(errCannotResolve)):
		// Another replica may (a configuration being rolled out); the
		// page stays queued until one does.
		log.Error("page not resolved: "+err.Error()+"; retried", zap.Duration("after", s.lease))
		return false
	case p.via == pagedViaREST && errors.Is(err, bot.ErrNotFound):
		log.Warn("page not resolved: PagerDuty has no such incident (deleted?); nothing left to resolve", zap.Error(err))
		return true
	case p.via == pagedViaEvents && errors.Is(err, bot.ErrRejected):
		// The Events API refuses the event itself (the integration was
		// deleted, say): sending it again cannot help.
		log.Error("page not resolved: the Events API refused the resolve event; resolve the alert in PagerDuty", zap.Error(err))
		return true
	case err != nil:
		log.Error("page not resolved; retried", zap.Duration("after", s.lease), zap.Error(err))
		return false
	}
	_, err = s.store.UpdateState(ctx, p.group, false, func(x *bot.AlertGroupState) error {
		cur, paged := statePage(p.group, x)
		if !paged || !cur.same(p) || x.PageResolved {
			return errAlready // a new episode's state, or recorded already
		}
		x.PageResolved = true
		return nil
	})
	if err != nil && !errors.Is(err, errAlready) && !errors.Is(err, bot.ErrAlertGroupNotFound) {
		// Resolving again is harmless (an incident already resolved is
		// success; a resolve event of a resolved alert does nothing).
		log.Warn("page resolved but not recorded; retried", zap.Error(err))
		return false
	}
	log.Info("page resolved with its alert group")
	return true
}

// resolvePage resolves the page at PagerDuty: the REST incident through the
// PageResolver, the Events API alert with a resolve event under its dedup
// key and its service's routing key.
func (s *Service) resolvePage(ctx context.Context, p page) error {
	if p.via == pagedViaREST {
		switch {
		case s.resolver == nil:
			return errCannotResolve("this replica has no PagerDuty REST client")
		case p.unsent:
			return s.resolver.ResolvePageByKey(ctx, p.service, p.id)
		}
		return s.resolver.ResolvePage(ctx, p.id)
	}
	key := s.keys[p.service]
	if s.events == nil || key == "" {
		return errCannotResolve("this replica has no Events API routing key for its service")
	}
	_, err := s.events.Enqueue(ctx, bot.PagerEvent{RoutingKey: key, Action: bot.PagerResolve, DedupKey: p.id})
	return err
}

// errPageNotQueued is a page that could not be queued for resolution, so
// the state update that would hide it was not made.
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
// episode's open page is queued for resolution: until the state says the
// resolution was shown, an escalation may record one at any moment, and
// one recorded after this update finds the update made and queues its page
// itself.
func (s *Service) closeEpisodeState(ctx context.Context, id string, closes func(*bot.AlertGroupState) bool,
	apply func(*bot.AlertGroupState)) (bot.AlertGroupState, error) {
	var queued []page
	for {
		var missing page
		st, err := s.store.UpdateState(ctx, id, false, func(x *bot.AlertGroupState) error {
			missing = page{}
			if !closes(x) {
				return nil
			}
			if p, open := openPage(id, x); open && !x.ShownResolved && s.canResolve(p) && !slices.ContainsFunc(queued, p.same) {
				missing = p
				return errAlready
			}
			apply(x)
			return nil
		})
		if missing.id == "" || !errors.Is(err, errAlready) {
			return st, err
		}
		if err := s.queueUnpage(ctx, missing); err != nil {
			return bot.AlertGroupState{}, errPageNotQueued{page: missing.id, err: err}
		}
		// An episode records one page, so this ends.
		queued = append(queued, missing)
	}
}
