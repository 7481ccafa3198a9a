package incident

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// IncidentHistory lists past incidents, for statistics. The Redis incident
// store implements it.
type IncidentHistory interface {
	// DeclaredSince returns the incidents declared at or after since.
	DeclaredSince(ctx context.Context, since time.Time) ([]bot.Incident, error)
}

// configureLearning sets up what follows incidents: follow-ups and their
// tracker, drills, milestones, statistics and metrics.
func (s *Service) configureLearning(cfg Config) error {
	s.drills = &drillChannels{}
	s.chat = drillChat{Chat: s.chat, channels: s.drills}
	s.followups, s.tracker = cfg.Followups, cfg.Tracker
	if s.tracker != nil && s.followups == nil {
		return errors.New("incident: a follow-up tracker needs the follow-up store")
	}
	s.fset = cfg.FollowupSettings.withDefaults()
	s.history = cfg.History
	if s.history == nil {
		if h, ok := cfg.Store.(IncidentHistory); ok {
			s.history = h
		}
	}
	m, err := newMetrics(cfg.Registerer, s)
	if err != nil {
		return fmt.Errorf("incident metrics: %w", err)
	}
	s.metrics = m
	return nil
}

// Milestones. Declared, mitigated (the first move to monitoring, or the
// resolution when there was none) and resolved are stamped by the changes
// that reach them; detected comes with the declaration from an alert. The
// one that no single command reaches is "acknowledged": the first time
// somebody takes the incident in hand after it was declared. It is stamped
// here, from the events as they are recorded: the first action of the
// commander, a change of commander, or the first status update by anyone.
// The declaration itself (and the declarer becoming commander with it)
// does not count, or every incident would be acknowledged at once.

// acknowledges says whether ev is the kind of event that acknowledges inc.
func acknowledges(inc *bot.Incident, ev *bot.TimelineEvent) bool {
	if ev.Actor == "" || ev.Actor == actorBot {
		return false
	}
	switch ev.Type {
	case bot.TLDeclared, bot.TLMilestone, bot.TLFollowup, bot.TLReminder, bot.TLArchived,
		bot.TLUnpinned, bot.TLMessageEdited, bot.TLMessageDeleted:
		return false
	case bot.TLUpdate:
		return true
	case bot.TLRoleAssigned:
		if ev.Details["role"] == string(bot.RoleCommander) {
			// The declaration's own assignment has no predecessor.
			return ev.Details["previous"] != ""
		}
	case bot.TLPinned:
		return inc.Commander != "" && ev.Details["pinned_by"] == inc.Commander
	}
	return inc.Commander != "" && ev.Actor == inc.Commander
}

// noteMilestones stamps the acknowledged milestone when ev reaches it. The
// store update that sets AcknowledgedAt only when it is unset is the claim:
// however many replicas record acknowledging events at once, one stamps it
// and records the milestone.
func (s *Service) noteMilestones(ctx context.Context, inc *bot.Incident, ev *bot.TimelineEvent) {
	if !inc.AcknowledgedAt.IsZero() || !acknowledges(inc, ev) {
		return
	}
	at := ev.Time
	if at.Before(inc.DeclaredAt) {
		at = inc.DeclaredAt
	}
	a := pendingAck{key: inc.Key, at: at, actor: ev.Actor, by: ev.Type}
	stamped, err := s.stampAck(ctx, a)
	if err != nil {
		// The event itself is held by the timeline's spool; the milestone
		// is stamped at its own time once the store answers (Tick), so an
		// outage does not move time to acknowledge to whatever comes next.
		bot.Logger(ctx).Warn("acknowledged milestone not stamped; will be once the store answers",
			zap.String("incident", inc.Key), zap.Error(err))
		s.acks.hold(a)
		return
	}
	inc.AcknowledgedAt = stamped
}

// stampAck sets the acknowledged milestone of a.key to a.at unless it is
// set, and records the milestone event when this call set it. It returns
// the milestone as stored.
func (s *Service) stampAck(ctx context.Context, a pendingAck) (time.Time, error) {
	claimed := false
	updated, err := s.store.Update(ctx, a.key, func(i *bot.Incident) error {
		claimed = i.AcknowledgedAt.IsZero()
		if claimed {
			i.AcknowledgedAt = a.at
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	if !claimed {
		return updated.AcknowledgedAt, nil
	}
	s.remember(updated)
	details := map[string]string{"milestone": "acknowledged", "by_event": string(a.by),
		"seconds_since_declared": fmt.Sprint(int64(a.at.Sub(updated.DeclaredAt).Round(time.Second) / time.Second))}
	if err := s.record(ctx, &updated, bot.TimelineEvent{Type: bot.TLMilestone, Actor: a.actor, Time: a.at,
		Details: details, DedupeKey: "milestone:acknowledged"}); err != nil {
		bot.Logger(ctx).Warn("acknowledged milestone not recorded", zap.String("incident", a.key), zap.Error(err))
	}
	return updated.AcknowledgedAt, nil
}

// pendingAck is an acknowledged milestone reached while the store could
// not be written: which incident, when, by whom and by what event.
type pendingAck struct {
	key   string
	at    time.Time
	actor string
	by    bot.TimelineEventType
}

// pendingAcks holds them, the earliest per incident, in this process (a
// replica that dies meanwhile loses them: the next acknowledging event
// then stamps the milestone, later than it was).
type pendingAcks struct {
	mu sync.Mutex
	m  map[string]pendingAck
}

func (p *pendingAcks) hold(a pendingAck) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]pendingAck{}
	}
	if old, ok := p.m[a.key]; !ok || a.at.Before(old.at) {
		p.m[a.key] = a
	}
}

func (p *pendingAcks) take() []pendingAck {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]pendingAck, 0, len(p.m))
	for _, a := range p.m {
		out = append(out, a)
	}
	p.m = nil
	return out
}

// stampHeldAcks stamps the milestones held during an outage; those the
// store still refuses are held again.
func (s *Service) stampHeldAcks(ctx context.Context) {
	for _, a := range s.acks.take() {
		if _, err := s.stampAck(ctx, a); err != nil {
			s.acks.hold(a)
			continue
		}
		s.log.Info("acknowledged milestone reached during an outage stamped", zap.String("incident", a.key), zap.Time("at", a.at))
	}
}

// metrics are the incident family's Prometheus metrics. Drills are left
// out of all of them.
type metrics struct {
	declared *prometheus.CounterVec
	ttr      *prometheus.HistogramVec
}

// openCollector reports open incidents by severity from the store at
// scrape time, so that every replica reports the same numbers.
type openCollector struct {
	s    *Service
	desc *prometheus.Desc
}

func (c openCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c openCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	incs, err := c.s.store.Open(ctx)
	if err != nil {
		c.s.log.Warn("open incidents not counted for metrics", zap.Error(err))
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	counts := map[bot.Severity]int{}
	for _, inc := range incs {
		if inc.Open() && !inc.Drill {
			counts[inc.Severity]++
		}
	}
	for _, sev := range bot.Severities {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[sev]), string(sev))
	}
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{
		declared: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opsbot_incidents_declared_total",
			Help: "Incidents declared, by severity at declaration (drills excluded)."}, []string{"severity"}),
		ttr: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "opsbot_incident_time_to_resolve_seconds",
			Help:    "Time from declaration to resolution, by the highest severity the incident had (drills excluded).",
			Buckets: []float64{300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600}}, []string{"severity"}),
	}
	if reg == nil {
		return m, nil
	}
	open := openCollector{s: s, desc: prometheus.NewDesc("opsbot_incidents_open",
		"Open incidents by current severity (drills excluded).", []string{"severity"}, nil)}
	for _, c := range []prometheus.Collector{m.declared, m.ttr, open} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) incidentDeclared(inc *bot.Incident) {
	if !inc.Drill {
		m.declared.WithLabelValues(string(inc.Severity)).Inc()
	}
}

func (m *metrics) incidentResolved(inc *bot.Incident) {
	if !inc.Drill && !inc.ResolvedAt.IsZero() {
		m.ttr.WithLabelValues(string(inc.Highest())).Observe(inc.ResolvedAt.Sub(inc.DeclaredAt).Seconds())
	}
}
