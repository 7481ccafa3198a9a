// Package alerts implements the alerts family: Alertmanager and Grafana
// notifications received on the HTTP server (Intake) become one live Slack
// message per alert group, posted when the group starts firing and edited in
// place as alerts join and resolve, with Acknowledge, Silence and Declare
// incident buttons; route rules declare incidents and escalate to PagerDuty
// when nobody acknowledges; /alerts lists firing groups and silences and
// creates silences. It works through the bot ports only: the webhook
// decoders, the Redis store, Alertmanager's API and PagerDuty are injected.
//
// A notification is answered 200 only once it is recorded durably (Redis,
// or the store's spool while Redis is down). Rendering is separate: every
// replica runs the publisher (Run), which renders groups that are due under
// a per-group lock, so each group gets one message however many replicas
// and duplicate deliveries there are, and at most one edit per
// EditInterval.
package alerts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// DecodeFunc turns a webhook body into a notification; now is when it was
// received. Every error it returns is the sender's fault, and its message is
// the short reason the 400 answer gives.
type DecodeFunc func(body []byte, now time.Time) (bot.AlertNotification, error)

// Config wires a Service.
type Config struct {
	Chat  bot.Chat
	Store bot.AlertStore
	// Locker serialises the rendering of one group across replicas.
	Locker bot.Locker
	// Timeline receives the alerts of groups linked to an incident.
	Timeline bot.Timeline
	// Incidents declares incidents (Declare button, auto-declare); nil
	// hides the button.
	Incidents bot.IncidentDeclarer
	// Silencer creates silences in Alertmanager; nil hides the Silence
	// buttons and /alerts silence.
	Silencer bot.Silencer
	// Lister checks quiet firing groups against what Alertmanager holds,
	// so that alerts that resolved while muted do not stay firing here;
	// nil turns that off (console mode's stand-in holds no alerts).
	Lister AlertLister
	// Pager pages through a REST incident; EventPager through the Events
	// API, used for services with a routing key.
	Pager      bot.Pager
	EventPager bot.EventPager
	// PageResolver resolves the REST incidents of escalations when their
	// group resolves (the Events API resolves through EventPager); nil
	// leaves them open.
	PageResolver bot.PageResolver
	// RoutingKeys maps service names to Events API routing keys. Secrets:
	// never logged.
	RoutingKeys map[string]string
	// Token is the bearer token senders must present (OPSBOT_ALERTS_TOKEN);
	// empty leaves the intake answering 404.
	Token string
	// Decoders decode each source's webhook body.
	Decoders map[bot.AlertSource]DecodeFunc
	Clock    bot.Clock
	IDs      bot.IDs
	Logger   *zap.Logger
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	Settings   Settings
	// Workers bounds concurrent renders (default 8); PollInterval is how
	// often each replica looks for due work without being woken (default
	// 1s); EscalationLease is how long a claimed escalation waits before
	// another replica retries it (default 1m).
	Workers         int
	PollInterval    time.Duration
	EscalationLease time.Duration
}

// Service is the alerts family.
type Service struct {
	chat      bot.Chat
	store     bot.AlertStore
	locker    bot.Locker
	timeline  bot.Timeline
	incidents bot.IncidentDeclarer
	silencer  bot.Silencer
	lister    AlertLister
	pager     bot.Pager
	events    bot.EventPager
	resolver  bot.PageResolver
	keys      map[string]string
	token     string
	decoders  map[bot.AlertSource]DecodeFunc
	clock     bot.Clock
	ids       bot.IDs
	log       *zap.Logger
	set       Settings
	metrics   *metrics
	family    *bot.Family

	workers      int
	pollInterval time.Duration
	lease        time.Duration

	wake     chan struct{}
	mu       sync.Mutex
	inflight map[string]bool
	failures map[string]int
	shown    map[string]shownMessage // group ID -> the message this process last showed
	pending  map[string]pendingPost  // group ID -> message posted, not yet recorded
	recorded map[string]bool         // timeline dedupe keys recorded by this process
}

var _ bot.AlertGroups = (*Service)(nil)

// New validates cfg and returns the service. It starts nothing; Run does.
func New(cfg Config) (*Service, error) {
	if cfg.Chat == nil || cfg.Store == nil || cfg.Locker == nil {
		return nil, errors.New("alerts: Chat, Store and Locker are required")
	}
	set := cfg.Settings
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if set.EditInterval == 0 {
		set.EditInterval = DefaultEditInterval
	}
	if set.Timezone == nil {
		set.Timezone = time.UTC
	}
	for _, r := range set.Routes {
		if e := r.Escalate; e != nil && cfg.Pager == nil && (cfg.EventPager == nil || cfg.RoutingKeys[e.Service] == "") {
			return nil, fmt.Errorf("alerts: route at line %d escalates to %q, but neither PAGERDUTY_TOKEN nor a routing key for it is set", r.Line, e.Service)
		}
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{
		chat: cfg.Chat, store: cfg.Store, locker: cfg.Locker, timeline: cfg.Timeline, incidents: cfg.Incidents,
		silencer: cfg.Silencer, lister: cfg.Lister, pager: cfg.Pager, events: cfg.EventPager, resolver: cfg.PageResolver,
		keys: cfg.RoutingKeys, token: cfg.Token,
		decoders: cfg.Decoders, clock: cfg.Clock, ids: cfg.IDs, log: cfg.Logger, set: set, metrics: m,
		workers: cfg.Workers, pollInterval: cfg.PollInterval, lease: cfg.EscalationLease,
		wake: make(chan struct{}, 1), inflight: map[string]bool{}, failures: map[string]int{},
		shown: map[string]shownMessage{}, recorded: map[string]bool{}, pending: map[string]pendingPost{},
	}
	if s.clock == nil {
		s.clock = bot.SystemClock
	}
	if s.ids == nil {
		s.ids = bot.RandomIDs
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.workers <= 0 {
		s.workers = 8
	}
	if s.pollInterval <= 0 {
		s.pollInterval = time.Second
	}
	if s.lease <= 0 {
		s.lease = time.Minute
	}
	s.family = s.buildFamily()
	return s, nil
}

// Settings returns the effective settings.
func (s *Service) Settings() Settings { return s.set }

// Family returns the /alerts command family.
func (s *Service) Family() *bot.Family { return s.family }

// Action IDs of the alert message's buttons.
const (
	ActionAck       = "alerts.ack"
	ActionSilence1h = "alerts.silence.1h"
	ActionSilence4h = "alerts.silence.4h"
	ActionSilence1d = "alerts.silence.24h"
	ActionExpire    = "alerts.expire"
	ActionDeclare   = "alerts.declare"
)

// silenceActions maps the Silence buttons to their durations.
var silenceActions = map[string]time.Duration{
	ActionSilence1h: time.Hour, ActionSilence4h: 4 * time.Hour, ActionSilence1d: 24 * time.Hour,
}

// Register adds the family and the buttons.
func (s *Service) Register(r *bot.Router) {
	r.Family(s.family)
	r.Action(ActionAck, s.onAck)
	for id, d := range silenceActions {
		r.Action(id, s.onSilence(d))
	}
	r.Action(ActionExpire, s.onExpire)
	r.Action(ActionDeclare, s.onDeclare)
}

// GroupID is opsbot's ID of an alert group: a hash of the source, Grafana
// organisation, receiver and group key, so it fits any key or button value
// whatever the sender put in them.
func GroupID(n bot.AlertNotification) string {
	h := sha256.New()
	for _, part := range []string{string(n.Source), strconv.FormatInt(n.OrgID, 10), n.Receiver, n.GroupKey} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// kick wakes the publisher.
func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run renders due groups and fires due escalations until ctx ends, then
// waits for the renders in flight. Every replica runs it.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.escalationLoop(ctx)
	}()
	// Page resolutions have their own loop: a PagerDuty that hangs (each
	// call may take the client's whole timeout, 20 per pass) must not hold
	// up the next escalation.
	go func() {
		defer wg.Done()
		s.pollLoop(ctx, func(ctx context.Context) { s.unpageDue(ctx, s.clock.Now()) })
	}()
	s.publishLoop(ctx)
	wg.Wait()
	return nil
}

func (s *Service) publishLoop(ctx context.Context) {
	sem := make(chan struct{}, s.workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(s.pollInterval)
	defer tick.Stop()
	for {
		// Groups still due behind those started are looked at again when a
		// render finishes (it kicks) or at the next tick.
		s.dispatchDue(ctx, sem, &wg)
		s.refreshGauge(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// dispatchDue starts a render for every due group not already rendering
// here, at most Workers at a time.
func (s *Service) dispatchDue(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) {
	for {
		ids, err := s.store.Due(ctx, s.clock.Now(), 4*s.workers)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("alert groups due not listed", zap.Error(err))
			}
			return
		}
		progress := false
		for _, id := range ids {
			if !s.claimLocal(id) {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				s.releaseLocal(id)
				return
			}
			progress = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				defer s.releaseLocal(id)
				defer s.kick()
				defer func() {
					if p := recover(); p != nil {
						s.log.Error("alert group render panicked", zap.String("alert_group", id), zap.Any("panic", p))
					}
				}()
				s.render(context.WithoutCancel(ctx), id)
			}()
		}
		if !progress || len(ids) < 4*s.workers {
			return
		}
	}
}

func (s *Service) claimLocal(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] {
		return false
	}
	s.inflight[id] = true
	return true
}

func (s *Service) releaseLocal(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, id)
}

func (s *Service) refreshGauge(ctx context.Context) {
	if ids, err := s.store.Firing(ctx); err == nil {
		s.metrics.firing.Set(float64(len(ids)))
	}
}

func (s *Service) escalationLoop(ctx context.Context) { s.pollLoop(ctx, s.escalateDue) }

// pollLoop runs pass at once and then every pollInterval until ctx ends.
func (s *Service) pollLoop(ctx context.Context, pass func(context.Context)) {
	tick := time.NewTicker(s.pollInterval)
	defer tick.Stop()
	for {
		pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Flush renders every group due now and fires due escalations, in the
// caller's goroutine. Console mode uses it so that a scripted session shows
// the alert message right after the notification.
func (s *Service) Flush(ctx context.Context) {
	s.renderDue(ctx)
	s.escalateDue(ctx)
	// After the escalations, which may queue the page of a group that
	// resolved meanwhile.
	s.unpageDue(ctx, s.clock.Now())
	s.renderDue(ctx) // what the escalations changed
}

// renderDue renders what is due now, waiting for renders in progress
// elsewhere so that the caller sees their result.
func (s *Service) renderDue(ctx context.Context) {
	seen := map[string]int{}
	for i := 0; i < 100; i++ {
		ids, err := s.store.Due(ctx, s.clock.Now(), 100)
		if err != nil || len(ids) == 0 {
			return
		}
		progress := false
		for _, id := range ids {
			if seen[id] >= 3 {
				continue // failing: it waits for its backoff
			}
			seen[id]++
			progress = true
			s.renderNow(ctx, id)
		}
		if !progress {
			return
		}
	}
}

// Settle renders every group due now or within the next `within`, waiting
// for those, so that console mode shows an edit its edit interval holds
// back before the next line of a script.
func (s *Service) Settle(ctx context.Context, within time.Duration) {
	deadline := s.clock.Now().Add(within)
	for {
		s.Flush(ctx)
		ids, err := s.store.Due(ctx, deadline, 1)
		if err != nil || len(ids) == 0 || !s.clock.Now().Before(deadline) {
			return
		}
		if bot.Sleep(ctx, 50*time.Millisecond) != nil {
			return
		}
	}
}

// FiringAlertGroups implements bot.AlertGroups.
func (s *Service) FiringAlertGroups(ctx context.Context) ([]bot.AlertGroupSummary, error) {
	ids, err := s.store.Firing(ctx)
	if err != nil {
		return nil, fmt.Errorf("list firing alert groups: %w", err)
	}
	out := make([]bot.AlertGroupSummary, 0, len(ids))
	for _, id := range ids {
		g, err := s.store.Group(ctx, id)
		if errors.Is(err, bot.ErrAlertGroupNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read alert group %s: %w", id, err)
		}
		if g.Firing == 0 {
			continue
		}
		st := g.State
		if st.Episode != g.Episode {
			st = bot.AlertGroupState{}
		}
		out = append(out, bot.AlertGroupSummary{ID: id, Name: g.Name(), Firing: g.Firing, Since: g.EpisodeStart,
			Channel: st.Channel, Message: st.Message, AckedBy: st.AckedBy, Incident: st.Incident})
	}
	return out, nil
}
