package alerts

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// AlertLister is what reconciliation needs of Alertmanager's API v2.
//
// Alertmanager leaves muted alerts (silenced or inhibited) out of its
// notifications, also when they resolve, and forgets them once resolved: a
// group silenced from its message whose alerts resolve meanwhile, or an
// inhibited alert that resolves, would stay firing here for ever. So a
// group Alertmanager has not said anything new about for a while is checked
// against what Alertmanager holds, and its alerts that Alertmanager no
// longer has are resolved here too.
type AlertLister interface {
	// HeldAlerts returns the fingerprints of the alerts Alertmanager holds
	// (firing, muted or not) that have every label in labels.
	HeldAlerts(ctx context.Context, labels map[string]string) (map[string]bool, error)
	// StartedAt is when Alertmanager started: it keeps no alerts across a
	// restart, so until its senders have sent them again it holds fewer
	// than fire.
	StartedAt(ctx context.Context) (time.Time, error)
}

const (
	// reconcileKind is the timer queue of groups to check against
	// Alertmanager; a claimed check comes back every reconcileEvery while
	// the group fires.
	reconcileKind  = "reconcile"
	reconcileEvery = 10 * time.Minute
	// reconcileQuiet is how long Alertmanager must have said nothing new
	// about a group before it is checked; amWarmup how long Alertmanager
	// must have run (Prometheus re-sends firing alerts every minute or so).
	reconcileQuiet = 10 * time.Minute
	amWarmup       = 10 * time.Minute
)

// scheduleReconcile (re)starts the periodic check of a firing Alertmanager
// group.
func (s *Service) scheduleReconcile(ctx context.Context, g *bot.AlertGroup, log *zap.Logger) {
	if s.lister == nil || g.Source != bot.AlertSourceAlertmanager || g.Firing == 0 {
		return
	}
	if err := s.store.ScheduleTimer(ctx, reconcileKind, g.ID, s.clock.Now().Add(reconcileEvery)); err != nil {
		log.Warn("reconciliation with Alertmanager not scheduled", zap.Error(err))
	}
}

// reconcileDue checks the groups whose check is due; each is leased, so one
// replica checks it and the lease brings it back reconcileEvery later.
func (s *Service) reconcileDue(ctx context.Context, now time.Time) {
	if s.lister == nil {
		return
	}
	ids, err := s.store.ClaimTimers(ctx, reconcileKind, now, reconcileEvery, 20)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reconciliations not claimed", zap.Error(err))
		}
		return
	}
	for _, id := range ids {
		s.reconcile(context.WithoutCancel(ctx), id)
	}
}

// reconcile resolves the alerts of a quiet firing group that Alertmanager
// no longer holds, at the time they were found gone (their own end is not
// known), through the same merge as a notification.
func (s *Service) reconcile(ctx context.Context, id string) {
	log := s.log.With(zap.String("alert_group", id))
	g, err := s.store.Group(ctx, id)
	if errors.Is(err, bot.ErrAlertGroupNotFound) {
		_ = s.store.CancelTimer(ctx, reconcileKind, id)
		return
	}
	if err != nil {
		log.Warn("reconciliation postponed: alert group not read", zap.Error(err))
		return
	}
	if g.Firing == 0 || g.Source != bot.AlertSourceAlertmanager {
		_ = s.store.CancelTimer(ctx, reconcileKind, id)
		return
	}
	now := s.clock.Now()
	if now.Sub(g.UpdatedAt) < reconcileQuiet {
		return // Alertmanager is talking about it
	}
	started, err := s.lister.StartedAt(ctx)
	if err != nil {
		log.Warn("reconciliation postponed: Alertmanager status not read", zap.Error(err))
		return
	}
	if now.Sub(started) < amWarmup {
		return
	}
	held, err := s.lister.HeldAlerts(ctx, g.GroupLabels)
	if err != nil {
		log.Warn("reconciliation postponed: Alertmanager's alerts not listed", zap.Error(err))
		return
	}
	var gone []bot.Alert
	for _, a := range g.Alerts {
		if !a.Firing() || held[a.Fingerprint] {
			continue
		}
		a.Status, a.EndsAt = bot.AlertResolved, now.UTC()
		if a.EndsAt.Before(a.StartsAt) {
			a.EndsAt = a.StartsAt
		}
		gone = append(gone, a)
	}
	if len(gone) == 0 {
		return
	}
	status := bot.AlertFiring
	if len(gone) == g.Firing {
		status = bot.AlertResolved
	}
	n := bot.AlertNotification{Source: g.Source, Receiver: g.Receiver, Status: status, GroupKey: g.GroupKey,
		GroupLabels: g.GroupLabels, CommonLabels: g.CommonLabels, CommonAnnotations: g.CommonAnnotations,
		ExternalURL: g.ExternalURL, TruncatedAlerts: g.TruncatedAlerts, OrgID: g.OrgID, Title: g.Title,
		Alerts: gone, ReceivedAt: now.UTC()}
	if err := s.store.Record(ctx, id, n); err != nil {
		log.Warn("alerts gone from Alertmanager not resolved here", zap.Error(err))
		return
	}
	log.Info("alerts Alertmanager no longer holds (they resolved while muted) resolved here too",
		zap.Int("alerts", len(gone)), zap.Int("firing_before", g.Firing))
	s.kick()
}
