package alerts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// How an escalation paged.
const (
	pagedViaEvents = "events" // an Events API v2 alert
	pagedViaREST   = "rest"   // a REST incident, as /incident page makes
)

// maxTimelineAlerts bounds how many alerts of one group episode go into a
// linked incident's timeline: a storm of thousands would bury everything
// else there. The message and Alertmanager have the rest.
const maxTimelineAlerts = 100

// errAlready aborts a state update that someone else already made.
var errAlready = errors.New("already done")

// escalateDue fires due escalations, refreshes groups whose message
// changes at a set time and checks quiet groups against Alertmanager (the
// pages of groups that resolved are resolved by unpageDue, in a loop of
// its own). Each claimed timer is leased, so that
// one replica handles it and another retries it only if that one died (or
// failed).
func (s *Service) escalateDue(ctx context.Context) {
	now := s.clock.Now()
	// Checks against Alertmanager come last: they wait on its API.
	defer s.reconcileDue(ctx, now)
	ids, err := s.store.ClaimTimers(ctx, refreshKind, now, s.lease, 100)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("refresh timers not claimed", zap.Error(err))
	}
	for _, id := range ids {
		// A new version, so that the render shows what time changed.
		_, err := s.store.UpdateState(ctx, id, true, func(*bot.AlertGroupState) error { return nil })
		if err == nil || errors.Is(err, bot.ErrAlertGroupNotFound) {
			_ = s.store.CancelTimer(ctx, refreshKind, id)
		}
		s.resumeEscalation(ctx, id, now)
		s.kick()
	}
	ids, err = s.store.ClaimTimers(ctx, escalateKind, now, s.lease, 20)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("escalations not claimed", zap.Error(err))
		}
		return
	}
	for _, id := range ids {
		func() {
			defer func() {
				if p := recover(); p != nil {
					s.log.Error("escalation panicked", zap.String("alert_group", id), zap.Any("panic", p))
				}
			}()
			s.escalate(context.WithoutCancel(ctx), id)
		}()
	}
}

// escalate pages the route's service for a firing group nobody
// acknowledged (or silenced). A failed page stays claimed until its lease
// ends and is retried then; PagerDuty's dedup keys make a retry after a
// crash harmless.
func (s *Service) escalate(ctx context.Context, id string) {
	log := s.log.With(zap.String("alert_group", id))
	now := s.clock.Now()
	g, err := s.store.Group(ctx, id)
	if errors.Is(err, bot.ErrAlertGroupNotFound) {
		_ = s.store.CancelTimer(ctx, escalateKind, id)
		return
	}
	if err != nil {
		log.Warn("escalation postponed: alert group not read", zap.Error(err))
		return
	}
	st := g.State
	route := s.set.route(&g)
	switch {
	case g.Firing == 0, st.Episode != g.Episode, st.AckedBy != "", st.Silenced(now), !st.PagedAt.IsZero(), route.Escalate == nil:
		if err := s.store.CancelTimer(ctx, escalateKind, id); err != nil {
			log.Warn("escalation not cancelled", zap.Error(err))
		}
		return
	}
	svc := route.Escalate.Service
	log = log.With(zap.String("service", svc))
	name := clip(oneLine(g.Name()), 100)
	summary := annotation(&g, "summary")
	title := fmt.Sprintf("[opsbot] %s: %d alert%s firing, not acknowledged for %s", name, g.Firing, plural(g.Firing),
		humanDuration(route.Escalate.After))
	var link string
	if st.Message.TS != "" {
		if l, err := s.chat.Permalink(ctx, st.Message); err == nil {
			link = l
		}
	}
	var via, url, pageID string
	if key := s.keys[svc]; key != "" && s.events != nil {
		details := map[string]string{"group": bot.FormatLabels(g.GroupLabels), "firing": strconv.Itoa(g.Firing)}
		if summary != "" {
			details["summary"] = summary
		}
		// Keyed by episode: the next episode's page is an alert of its
		// own, which this one's resolution, however late, leaves alone.
		dedup := eventsDedupKey(g.ID, g.Episode)
		if !s.namePage(ctx, id, g.Episode, pagedViaEvents, svc, dedup, log) {
			return
		}
		ev := bot.PagerEvent{RoutingKey: key, Action: bot.PagerTrigger, DedupKey: dedup, Summary: title,
			Source: "opsbot", Severity: pagerSeverity(&g), Details: details}
		if link != "" {
			ev.Links = append(ev.Links, bot.PagerLink{Href: link, Text: "Alert in Slack"})
		}
		if _, err := s.events.Enqueue(ctx, ev); err != nil {
			log.Error("escalation page failed; retried when its lease ends", zap.Error(err))
			return
		}
		via, pageID = pagedViaEvents, dedup
	} else if s.pager != nil {
		details := title
		if summary != "" {
			details += "\n\n" + summary
		}
		if link != "" {
			details += "\n\nAlert in Slack: " + link
		}
		if !s.namePage(ctx, id, g.Episode, pagedViaREST, svc, "", log) {
			return
		}
		res, err := s.pager.Page(ctx, bot.PageRequest{Service: svc, Title: title, Details: details,
			IncidentKey: restIncidentKey(g.ID, g.Episode)})
		// PagerDuty refuses a second incident with the same key: an earlier
		// attempt (here, whose answer was lost, or on a replica that died
		// before recording it) paged already, and res is that page.
		if err != nil && !errors.Is(err, bot.ErrDuplicate) {
			log.Error("escalation page failed; retried when its lease ends", zap.Error(err))
			return
		}
		via, url, pageID = pagedViaREST, res.URL, res.ID
	} else {
		log.Error("escalation impossible: no PagerDuty token or routing key for the service")
		_ = s.store.CancelTimer(ctx, escalateKind, id)
		return
	}
	st, err = s.store.UpdateState(ctx, id, true, func(x *bot.AlertGroupState) error {
		if x.Episode == g.Episode && x.PagedAt.IsZero() {
			if x.PageResolved {
				// Resolved as an attempt while the trigger was on its way:
				// the resolve may have come first. Resolved again below.
				x.PageResolved = false
			}
			x.PagedAt, x.PagedVia, x.PagedService, x.PageURL, x.PageID = now, via, svc, url, pageID
		}
		return nil
	})
	if err != nil {
		// The escalation stays claimed: when its lease ends it pages
		// again, PagerDuty answers with this same page (dedup key,
		// incident key), and that is recorded then.
		log.Error("page sent but not recorded; recorded when its lease ends", zap.String("page", pageID), zap.Error(err))
		return
	}
	pg := page{group: id, via: via, id: pageID}
	if via == pagedViaEvents {
		pg.service, pg.episode = svc, g.Episode
	}
	if st.Episode != g.Episode || (st.PageID == pageID && st.ShownResolved && !st.PageResolved) {
		// The group resolved while this page was on its way: its
		// resolution was shown (and queued the pages it knew of) before
		// this one was recorded, or its state already moved on to a new
		// episode without it.
		if err := s.queueUnpage(ctx, pg); err != nil {
			// No render will queue it again: resolve it now.
			log.Warn("page of a group that resolved meanwhile not queued for resolution; resolving it now",
				zap.String("page", pageID), zap.Error(err))
			s.unpageOnce(ctx, pg, pg.log(s.log))
		}
	}
	if err := s.store.CancelTimer(ctx, escalateKind, id); err != nil {
		log.Warn("escalation not cancelled after paging", zap.Error(err))
	}
	log.Info("alert group escalated", zap.String("via", via), zap.String("page", pageID))
	if st.Incident != "" && s.timeline != nil {
		s.appendEvent(ctx, st.Incident, bot.TimelineEvent{Type: bot.TLPage, Actor: actorBot, Time: now,
			Text: "escalation: nobody acknowledged the alert", DedupeKey: "alertpage:" + g.ID + ":" + strconv.Itoa(g.Episode),
			Details: map[string]string{"service": svc, "page_id": pageID, "url": url}}, log)
	}
	s.kick()
}

// namePage names in the group's state the page an escalation is about to
// send (its service; an Events API alert's dedup key), and says whether
// to send it. Should the page reach PagerDuty unbeknown to the escalation
// (its answer lost, its record failed) and the group resolve before the
// retry, the episode's close still resolves it (statePage), where the
// retry would find nothing to page and leave it open for ever. Nothing is
// sent for a state that no longer wants a page.
func (s *Service) namePage(ctx context.Context, id string, episode int, via, svc, pageID string, log *zap.Logger) bool {
	_, err := s.store.UpdateState(ctx, id, false, func(x *bot.AlertGroupState) error {
		if x.Episode != episode || !x.PagedAt.IsZero() || x.ShownResolved {
			return errAlready
		}
		x.PagedVia, x.PagedService, x.PageID = via, svc, pageID
		return nil
	})
	if err != nil && !errors.Is(err, errAlready) {
		log.Error("escalation page not sent: the page not named in the group's state; retried when its lease ends", zap.Error(err))
	}
	return err == nil
}

// resumeEscalation starts the escalation clock again for a group whose
// silence ended (or was expired) while it still fires and nobody has
// acknowledged it: the silence held the page back, it did not answer it.
func (s *Service) resumeEscalation(ctx context.Context, id string, now time.Time) {
	g, err := s.store.Group(ctx, id)
	if err != nil {
		return
	}
	st, route := g.State, s.set.route(&g)
	if route.Escalate == nil || g.Firing == 0 || st.Episode != g.Episode || st.AckedBy != "" || !st.PagedAt.IsZero() || st.Silenced(now) {
		return
	}
	if err := s.store.ScheduleTimer(ctx, escalateKind, id, now.Add(route.Escalate.After)); err != nil {
		s.log.Warn("escalation not resumed after the silence", zap.String("alert_group", id), zap.Error(err))
		return
	}
	s.log.Info("silence over, nobody acknowledged: escalation resumed", zap.String("alert_group", id),
		zap.Duration("after", route.Escalate.After))
}

// pagerSeverity maps the group's severity label to the Events API's.
func pagerSeverity(g *bot.AlertGroup) string {
	sev := strings.ToLower(g.CommonLabels["severity"])
	switch sev {
	case "critical", "error", "warning", "info":
		return sev
	case "page", "high", "major":
		return "critical"
	case "warn", "minor", "medium":
		return "warning"
	case "low", "none":
		return "info"
	}
	return "critical"
}

// actorBot is the actor of events opsbot causes by itself.
const actorBot = "opsbot"

// declareGroup declares (or finds) the incident linked to the group's
// episode and records it in the group's state. by is empty for an
// automatic declaration.
func (s *Service) declareGroup(ctx context.Context, g *bot.AlertGroup, route Route, by string) (bot.IncidentSummary, bool, error) {
	title := annotation(g, "summary")
	if title == "" {
		title = g.Name()
	}
	sev := bot.Sev3
	if route.Declare != nil && route.Declare.Severity.Valid() {
		sev = route.Declare.Severity
	}
	inc, created, err := s.incidents.DeclareLinked(ctx, bot.LinkedDeclaration{
		DedupeKey: "alertgroup:" + g.ID + ":" + strconv.Itoa(g.Episode), Title: title, Severity: sev,
		DeclaredBy: by, AlertGroup: g.ID, AlertMessage: g.State.Message, DetectedAt: g.EpisodeStart})
	if err != nil {
		return bot.IncidentSummary{}, false, err
	}
	st, err := s.store.ClaimState(ctx, g.ID, true, func(x *bot.AlertGroupState) error {
		if x.Episode != g.Episode {
			return errAlready
		}
		x.Incident, x.IncidentChannel = inc.Key, inc.Channel
		return nil
	})
	if err != nil && !errors.Is(err, errAlready) {
		return inc, created, fmt.Errorf("link %s to alert group %s: %w", inc.Key, g.ID, err)
	}
	if err == nil {
		g.State = st
	}
	s.recordAlerts(ctx, g, inc.Key, s.log.With(zap.String("alert_group", g.ID), zap.String("incident", inc.Key)))
	return inc, created, nil
}

// autoDeclare applies the route's declare rule once per group episode: the
// state update claims it, DeclareLinked's dedupe key makes the incident
// once even if a click races it. A silence made meanwhile wins.
func (s *Service) autoDeclare(ctx context.Context, g *bot.AlertGroup, route Route, log *zap.Logger) {
	now := s.clock.Now()
	_, err := s.store.ClaimState(ctx, g.ID, false, func(x *bot.AlertGroupState) error {
		if x.Episode != g.Episode || x.AutoDeclared || x.Incident != "" || x.Silenced(now) {
			return errAlready
		}
		x.AutoDeclared = true
		return nil
	})
	if errors.Is(err, errAlready) {
		return
	}
	if err != nil {
		log.Warn("auto-declare postponed", zap.Error(err))
		return
	}
	inc, created, err := s.declareGroup(ctx, g, route, "")
	if err != nil {
		log.Error("auto-declare failed; retried at the next render", zap.Error(err))
		_, _ = s.store.UpdateState(ctx, g.ID, true, func(x *bot.AlertGroupState) error {
			if x.Episode == g.Episode {
				x.AutoDeclared = false
			}
			return nil
		})
		return
	}
	log.Info("incident declared for alert group by route rule", zap.String("incident", inc.Key), zap.Bool("created", created))
	s.renderNow(ctx, g.ID)
}

// recordAlerts puts the group's alerts into the incident's timeline at
// their own times: each firing and each resolution once (dedupe keys), at
// most maxTimelineAlerts alerts per episode.
func (s *Service) recordAlerts(ctx context.Context, g *bot.AlertGroup, incident string, log *zap.Logger) {
	if s.timeline == nil || incident == "" {
		return
	}
	// Oldest first, so the first maxTimelineAlerts are the ones that
	// started it.
	alerts := append([]bot.Alert(nil), g.Alerts...)
	sortByStart(alerts)
	for i, a := range alerts {
		if i == maxTimelineAlerts {
			break
		}
		base := "alert:" + g.ID + ":" + a.Fingerprint + ":" + strconv.FormatInt(a.StartsAt.UnixMilli(), 10)
		details := map[string]string{"group": g.ID, "fingerprint": a.Fingerprint,
			"alertname": bot.QuoteRaw(clip(a.Labels["alertname"], maxName)),
			"labels":    bot.QuoteRaw(clip(bot.FormatLabels(a.Labels), 500)),
			"starts_at": a.StartsAt.UTC().Format(time.RFC3339Nano)}
		if l := strings.TrimSpace(a.GeneratorURL); l != "" && safeLink(l, "x") != "" {
			details["source"] = l
		}
		text := a.Annotations["summary"]
		if text == "" {
			text = a.Labels["alertname"]
		}
		text = bot.QuoteRaw(clip(oneLine(text), 300))
		s.appendEvent(ctx, incident, bot.TimelineEvent{Type: bot.TLAlertFiring, Actor: actorBot, Time: a.StartsAt,
			Text: text, Details: details, DedupeKey: base + ":firing"}, log)
		if !a.Firing() {
			s.appendEvent(ctx, incident, bot.TimelineEvent{Type: bot.TLAlertResolved, Actor: actorBot, Time: a.EndsAt,
				Text: text, Details: details, DedupeKey: base + ":resolved"}, log)
		}
	}
}

// appendEvent appends a timeline event once per dedupe key: this process
// remembers what it appended, the timeline drops what another appended.
func (s *Service) appendEvent(ctx context.Context, incident string, ev bot.TimelineEvent, log *zap.Logger) {
	k := incident + "/" + ev.DedupeKey
	s.mu.Lock()
	done := s.recorded[k]
	s.mu.Unlock()
	if done {
		return
	}
	ev.ID, ev.Incident = s.ids.New(), incident
	ev.Time = ev.Time.UTC()
	if err := s.timeline.Append(ctx, ev); err != nil {
		log.Warn("alert not recorded in the incident timeline", zap.String("incident", incident), zap.Error(err))
		return
	}
	s.mu.Lock()
	if len(s.recorded) > 100000 {
		s.recorded = map[string]bool{}
	}
	s.recorded[k] = true
	s.mu.Unlock()
}

func sortByStart(as []bot.Alert) {
	sort.Slice(as, func(i, j int) bool {
		if !as[i].StartsAt.Equal(as[j].StartsAt) {
			return as[i].StartsAt.Before(as[j].StartsAt)
		}
		return as[i].Fingerprint < as[j].Fingerprint
	})
}
