package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opsbot/opsbot/bot"
	oredis "github.com/opsbot/opsbot/integrations/redis"
)

// registerTimelineMetrics exposes what the timeline holds until Redis has
// it safely: the spool's depth and age, the events on the primary that wait
// only for replicas, and the events adopted from processes gone.
func registerTimelineMetrics(reg prometheus.Registerer, tl *oredis.Timeline) error {
	gauge := func(name, help string, v func(oredis.TimelineStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return v(tl.Stats()) })
	}
	for _, c := range []prometheus.Collector{
		gauge("opsbot_timeline_held_events", "Timeline events held in the spool until Redis (and its replicas) confirm them.",
			func(s oredis.TimelineStats) float64 { return float64(s.Held) }),
		gauge("opsbot_timeline_oldest_held_seconds", "How long the oldest held timeline event has waited; 0 when none is held.",
			func(s oredis.TimelineStats) float64 { return s.OldestHeld.Seconds() }),
		gauge("opsbot_timeline_awaiting_replicas", "Held timeline events that the Redis primary has and only its replicas have not confirmed.",
			func(s oredis.TimelineStats) float64 { return float64(s.AwaitingReplicas) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "opsbot_timeline_adopted_events_total",
			Help: "Timeline events this process took over from the spool files of opsbot processes that are gone."},
			func() float64 { return float64(tl.Stats().Adopted) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// registerAlertStoreMetrics exposes the alert notifications the alert
// store holds in its spool while Redis is unreachable or its replicas do
// not confirm: until they are merged, the groups' messages in Slack lag
// behind what Alertmanager sent. It registers with reg.Register, as the
// timeline's gauges do, so that a second store in one registry is an error
// rather than a gauge silently reading the first one.
func registerAlertStoreMetrics(reg prometheus.Registerer, st *oredis.Alerts) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "opsbot_alert_notifications_held",
		Help: "Alert notifications held in the spool until Redis (and its replicas) confirm them."},
		func() float64 { return float64(st.Pending()) }))
}

// onCallSyncAge reports, per followed schedule, how old the last good sync
// is (from the cache every replica shares), so an alert can fire when the
// on-call source has been failing for too long.
type onCallSyncAge struct {
	schedules func() []bot.ScheduleConfig
	cache     snapshots
	clock     bot.Clock
	desc      *prometheus.Desc
}

// snapshots is the part of the on-call cache the metric reads.
type snapshots interface {
	Snapshot(ctx context.Context, schedule string) (bot.OnCallSnapshot, bool, error)
}

func newOnCallSyncAge(schedules func() []bot.ScheduleConfig, cache snapshots, clock bot.Clock) *onCallSyncAge {
	return &onCallSyncAge{schedules: schedules, cache: cache, clock: clock, desc: prometheus.NewDesc(
		"opsbot_oncall_sync_age_seconds", "Age of the last good on-call sync of each schedule.", []string{"schedule"}, nil)}
}

func (m *onCallSyncAge) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect reads the cache with a short deadline: a scrape must not hang on
// Redis; a schedule it cannot read is left out.
func (m *onCallSyncAge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, sc := range m.schedules() {
		snap, ok, err := m.cache.Snapshot(ctx, sc.ID)
		if err != nil || !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, m.clock.Now().Sub(snap.SyncedAt).Seconds(), sc.ID)
	}
}

// auditMetrics passes audit records on and counts runbook runs by how they
// ended, in opsbot_runbook_runs_total{outcome}.
type auditMetrics struct {
	bot.AuditLog
	runs *prometheus.CounterVec
}

func newAuditMetrics(next bot.AuditLog, reg prometheus.Registerer) (*auditMetrics, error) {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsbot_runbook_runs_total",
		Help: "Runbook requests that ended, by outcome: succeeded, failed (non-zero exit), not_started, timed_out, killed, refused, denied, expired.",
	}, []string{"outcome"})
	if err := reg.Register(runs); err != nil {
		return nil, err
	}
	return &auditMetrics{AuditLog: next, runs: runs}, nil
}

// AppendAudit implements bot.AuditLog.
func (m *auditMetrics) AppendAudit(ctx context.Context, rec bot.AuditRecord) error {
	if outcome := runOutcome(rec); outcome != "" {
		m.runs.WithLabelValues(outcome).Inc()
	}
	return m.AuditLog.AppendAudit(ctx, rec)
}

// runOutcome names how a run ended, or "" for a record that is not an end.
func runOutcome(rec bot.AuditRecord) string {
	switch rec.Event {
	case bot.AuditFinished:
		if rec.ExitCode != nil && *rec.ExitCode == 0 {
			return "succeeded"
		}
		return "failed"
	case bot.AuditFailed:
		return "not_started"
	case bot.AuditTimedOut:
		return "timed_out"
	case bot.AuditKilled:
		return "killed"
	case bot.AuditRefused:
		return "refused"
	case bot.AuditApprovalDenied:
		return "denied"
	case bot.AuditApprovalExpired:
		return "expired"
	}
	return ""
}
