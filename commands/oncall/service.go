// Package oncall is the /oncall command family and the on-call automation
// around it: a periodic sync of the followed schedules from the on-call
// provider (PagerDuty or a rotation file) into a shared cache, one handoff
// message per shift change however many replicas run, an Acknowledge button
// with a reminder, Slack user groups kept equal to the current on-call, and
// the current on-call for incidents (bot.OnCallResolver). People arrange
// cover from Slack: a cover request that the first eligible click takes
// (one override however many click, on however many replicas), direct
// overrides, and /oncall me; handoffs follow the overrides and carry a
// read-in (open incidents, firing alerts, follow-ups due), also sent to the
// incoming person. Times in messages use Slack's date markup, so each
// reader sees their own zone.
//
// Answers are computed from a snapshot of the shifts from a day before to a
// week after the sync, so they stay right at shift boundaries between syncs
// and, when the provider fails, come from the last good snapshot with its
// age shown.
package oncall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Chat is what the service needs from the chat workspace.
type Chat interface {
	bot.Messenger
	bot.Directory
}

// Settings is the `oncall:` section of the config file.
type Settings struct {
	// SyncInterval is how often schedules are synced (default 1m).
	SyncInterval time.Duration `yaml:"sync_interval"`
	// File is the rotation file used when PagerDuty is not configured; the
	// composition root loads it into the provider.
	File      string               `yaml:"file"`
	Schedules []bot.ScheduleConfig `yaml:"schedules"`
	// AckReminderAfter is how long a handoff may stay unacknowledged before
	// the incoming person is reminded (default 15m; negative turns it off).
	AckReminderAfter time.Duration `yaml:"ack_reminder_after"`
	// TimeZone shows times in messages (default UTC).
	TimeZone string `yaml:"timezone"`
	// Lookahead is how far ahead each sync reads shifts (default 7 days).
	Lookahead time.Duration `yaml:"lookahead"`
	// CoverMax is the longest window a cover request or a direct override
	// may have (default 14 days): longer ones are usually typing mistakes,
	// and belong in the rotation itself.
	CoverMax time.Duration `yaml:"cover_max"`
}

// Config wires a Service.
type Config struct {
	Provider bot.OnCallProvider
	// ProviderName is shown to users when the provider fails ("PagerDuty").
	ProviderName string
	Chat         Chat
	// Cache is shared by replicas (Redis); it holds snapshots, claims and
	// handoffs.
	Cache bot.OnCallStore
	// Locker runs the periodic sync on one replica at a time; nil runs it
	// on every replica (handoffs stay exactly-once through Cache claims).
	Locker bot.Locker
	// Incidents lists open incidents for handoff messages; may be nil.
	Incidents bot.OpenIncidents
	// Alerts lists firing alert groups for handoffs and read-ins; nil until
	// alert intake exists.
	Alerts bot.AlertGroups
	// Followups lists follow-ups due for handoffs and read-ins; may be nil.
	Followups bot.DueFollowups
	// Overrides makes overrides (cover requests, /oncall override); nil
	// means the Provider's own when it has them, else they are off.
	Overrides Overrider
	// Covers keeps cover requests and override records (Redis); required
	// for cover requests and overrides.
	Covers CoverStore
	IDs    bot.IDs
	Clock  bot.Clock
	Logger *zap.Logger
	// Admins may run /oncall sync.
	Admins   []string
	Settings Settings
	// ProviderTimeout bounds one read from the provider (default 8s).
	ProviderTimeout time.Duration
}

// Service is the /oncall family and on-call automation.
type Service struct {
	cfg       Config
	set       Settings
	log       *zap.Logger
	clock     bot.Clock
	loc       *time.Location
	schedules []bot.ScheduleConfig
	admins    map[string]bool

	// emails maps e-mail addresses to Slack user IDs ("" for nobody).
	emails *bot.TTLCache[string]

	mu       sync.Mutex
	unmapped map[string]bot.Person
	groups   map[string]string // user group → members last seen or set, joined
	// failedAt is when a read of each schedule last failed; until the next
	// sync interval, commands answer from the cache at once rather than
	// wait for a provider that is down.
	failedAt map[string]time.Time
}

// How long e-mail → Slack look-ups are trusted. Misses are retried sooner,
// since they are usually fixed by inviting the person.
const (
	emailHitTTL  = 6 * time.Hour
	emailMissTTL = 15 * time.Minute
	emailsCached = 10_000
	// lookback is how far before now a snapshot starts, so that the
	// incoming shift's true start (the handoff's identity) is in it.
	lookback = 24 * time.Hour
	claimTTL = 8 * 24 * time.Hour
	// AckAction is the action ID of the handoff's Acknowledge button.
	AckAction = "oncall.ack"
)

var _ bot.OnCallResolver = (*Service)(nil)

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Provider == nil || cfg.Chat == nil || cfg.Cache == nil {
		return nil, errors.New("oncall: provider, chat and cache are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = bot.SystemClock
	}
	if cfg.IDs == nil {
		cfg.IDs = bot.RandomIDs
	}
	if cfg.Overrides == nil {
		if o, ok := cfg.Provider.(Overrider); ok {
			cfg.Overrides = o
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ProviderName == "" {
		cfg.ProviderName = "the on-call provider"
	}
	if cfg.ProviderTimeout <= 0 {
		cfg.ProviderTimeout = 8 * time.Second
	}
	set := cfg.Settings
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if set.SyncInterval == 0 {
		set.SyncInterval = time.Minute
	}
	if set.AckReminderAfter == 0 {
		set.AckReminderAfter = 15 * time.Minute
	}
	if set.Lookahead <= 0 {
		set.Lookahead = 7 * 24 * time.Hour
	}
	if set.CoverMax == 0 {
		set.CoverMax = 14 * 24 * time.Hour
	}
	loc := time.UTC
	if set.TimeZone != "" {
		if l, err := time.LoadLocation(set.TimeZone); err == nil { // checked by Validate
			loc = l
		}
	}
	var schedules []bot.ScheduleConfig
	for _, sc := range set.Schedules {
		if sc.Name == "" {
			sc.Name = sc.ID
		}
		schedules = append(schedules, sc)
	}
	admins := map[string]bool{}
	for _, a := range cfg.Admins {
		admins[a] = true
	}
	return &Service{
		cfg: cfg, set: set, log: cfg.Logger.With(zap.String("component", "oncall")), clock: cfg.Clock, loc: loc,
		schedules: schedules, admins: admins,
		emails: bot.NewTTLCache[string](emailsCached, cfg.Clock), unmapped: map[string]bot.Person{}, groups: map[string]string{},
		failedAt: map[string]time.Time{},
	}, nil
}

// Schedules returns the followed schedules, defaults applied.
func (s *Service) Schedules() []bot.ScheduleConfig { return slices.Clone(s.schedules) }

// logger returns the request's logger, which carries the envelope ID, when
// ctx serves a request, else the service's (scheduled syncs).
func (s *Service) logger(ctx context.Context) *zap.Logger { return bot.LoggerOr(ctx, s.log) }

// view is who is on call for one schedule, from a live read or the cache.
type view struct {
	sc   bot.ScheduleConfig
	snap bot.OnCallSnapshot
	// stale is set when the provider failed and snap came from the cache.
	stale bool
	// err is set when there is nothing to show at all.
	err error
}

// fetch reads a schedule from the provider and stores the snapshot.
func (s *Service) fetch(ctx context.Context, sc bot.ScheduleConfig, now time.Time) (bot.OnCallSnapshot, error) {
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	defer cancel()
	shifts, err := s.cfg.Provider.Shifts(pctx, sc.ID, now.Add(-lookback), now.Add(s.set.Lookahead))
	s.mu.Lock()
	if err != nil {
		s.failedAt[sc.ID] = now
	} else {
		delete(s.failedAt, sc.ID)
	}
	s.mu.Unlock()
	if err != nil {
		return bot.OnCallSnapshot{}, fmt.Errorf("read schedule %q (%s): %w", sc.Name, sc.ID, err)
	}
	return bot.OnCallSnapshot{Schedule: sc.ID, SyncedAt: now, Shifts: shifts}, nil
}

// look answers for one schedule: live when preferLive or the cache is older
// than two sync intervals, else from the cache; the cache when the provider
// fails.
func (s *Service) look(ctx context.Context, sc bot.ScheduleConfig, preferLive bool) view {
	now := s.clock.Now()
	log := s.logger(ctx).With(zap.String("schedule", sc.ID))
	cached, ok, cerr := s.cfg.Cache.Snapshot(ctx, sc.ID)
	if cerr != nil {
		log.Warn("on-call cache unavailable", zap.Error(cerr))
	}
	if ok && !preferLive && now.Sub(cached.SyncedAt) <= 2*s.set.SyncInterval {
		return view{sc: sc, snap: cached}
	}
	s.mu.Lock()
	failedAt, failed := s.failedAt[sc.ID]
	s.mu.Unlock()
	if ok && failed && now.Sub(failedAt) < s.set.SyncInterval {
		return view{sc: sc, snap: cached, stale: true}
	}
	// Only the sync saves snapshots: the previous snapshot is how the sync
	// sees a shift change, so a command must not store one in between.
	snap, err := s.fetch(ctx, sc, now)
	if err == nil {
		return view{sc: sc, snap: snap}
	}
	if ok {
		log.Warn("on-call provider failed; answering from the cache", zap.Error(err),
			zap.Time("synced_at", cached.SyncedAt))
		return view{sc: sc, snap: cached, stale: true}
	}
	log.Error("on-call provider failed and nothing is cached", zap.Error(err))
	return view{sc: sc, err: err}
}

func (s *Service) lookAll(ctx context.Context, scs []bot.ScheduleConfig, preferLive bool) []view {
	out := make([]view, len(scs))
	var wg sync.WaitGroup
	for i, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The engine recovers the handler's goroutine, not this one.
			defer func() {
				if p := recover(); p != nil {
					s.logger(ctx).Error("on-call look-up panicked", zap.String("schedule", sc.ID), zap.Any("panic", p))
					out[i] = view{sc: sc, err: fmt.Errorf("look up schedule %q: panic: %v", sc.ID, p)}
				}
			}()
			out[i] = s.look(ctx, sc, preferLive)
		}()
	}
	wg.Wait()
	return out
}

// run is one person's uninterrupted time on call at one level: consecutive
// shifts of the same person joined, so "until" means when they hand over.
type run struct {
	level      int
	person     bot.Person
	start, end time.Time
}

// runs joins consecutive shifts of the same person per level.
func runs(shifts []bot.Shift) []run {
	s := slices.Clone(shifts)
	bot.SortShifts(s)
	var out []run
	for _, sh := range s {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.level == sh.Level && last.person.Key() == sh.Person.Key() && !last.end.IsZero() && !sh.Start.After(last.end) {
				if sh.End.IsZero() || sh.End.After(last.end) {
					last.end = sh.End
				}
				continue
			}
		}
		out = append(out, run{level: sh.Level, person: sh.Person, start: sh.Start, end: sh.End})
	}
	return out
}

func (r run) covers(t time.Time) bool {
	return (r.start.IsZero() || !t.Before(r.start)) && (r.end.IsZero() || t.Before(r.end))
}

// current returns the runs covering t, levels filtered by sc.
func current(sc bot.ScheduleConfig, snap bot.OnCallSnapshot, t time.Time) []run {
	var out []run
	for _, r := range runs(snap.Shifts) {
		if r.covers(t) && sc.ShowsLevel(r.level) {
			out = append(out, r)
		}
	}
	return out
}

// next returns, per level, the first run starting after t with someone
// other than who is on call at t.
func next(sc bot.ScheduleConfig, snap bot.OnCallSnapshot, t time.Time) []run {
	all := runs(snap.Shifts)
	onNow := map[int]map[string]bool{}
	for _, r := range all {
		if r.covers(t) {
			if onNow[r.level] == nil {
				onNow[r.level] = map[string]bool{}
			}
			onNow[r.level][r.person.Key()] = true
		}
	}
	done := map[int]bool{}
	var out []run
	for _, r := range all {
		if done[r.level] || !sc.ShowsLevel(r.level) || !r.start.After(t) || onNow[r.level][r.person.Key()] {
			continue
		}
		done[r.level] = true
		out = append(out, r)
	}
	return out
}

// primaryKeys identifies who is on call at level 1, for change detection.
func primaryKeys(rs []run) []string {
	var keys []string
	for _, r := range rs {
		if r.level == 1 {
			keys = append(keys, r.person.Key())
		}
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

// slackID maps a person to a Slack user by e-mail, with a cache. ok is
// false for people not found in Slack (reported in logs and by Unmapped).
func (s *Service) slackID(ctx context.Context, p bot.Person) (string, bool) {
	email := strings.ToLower(strings.TrimSpace(p.Email))
	if email == "" {
		s.noteUnmapped(p, "no e-mail address at the provider")
		return "", false
	}
	id, err := s.emails.GetOrLoad(ctx, email, func(ctx context.Context) (string, time.Duration, error) {
		u, err := s.cfg.Chat.UserByEmail(ctx, email)
		switch {
		case errors.Is(err, bot.ErrNotFound):
			return "", emailMissTTL, nil
		case err != nil:
			// Not cached: a Slack hiccup is not a verdict on the person.
			return "", 0, err
		}
		return u.ID, emailHitTTL, nil
	})
	if err != nil {
		s.log.Warn("slack user look-up by e-mail failed", zap.String("email", email), zap.Error(err))
		return "", false
	}
	if id == "" {
		s.noteUnmapped(p, "no Slack user has this e-mail address")
		return "", false
	}
	s.mu.Lock()
	delete(s.unmapped, email)
	s.mu.Unlock()
	return id, true
}

func (s *Service) noteUnmapped(p bot.Person, why string) {
	key := strings.ToLower(p.Email)
	if key == "" {
		key = p.Key()
	}
	s.mu.Lock()
	_, known := s.unmapped[key]
	s.unmapped[key] = p
	s.mu.Unlock()
	if !known {
		s.log.Warn("on-call person not mapped to Slack", zap.String("name", p.Name),
			zap.String("email", p.Email), zap.String("provider_id", p.ProviderID), zap.String("reason", why))
	}
}

// Unmapped lists the on-call people last found to have no Slack user, for
// `opsbot doctor`.
func (s *Service) Unmapped() []bot.Person {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bot.Person, 0, len(s.unmapped))
	for _, p := range s.unmapped {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out
}

// CurrentOnCall implements bot.OnCallResolver: the Slack users on call at
// level 1 of every followed schedule, from the cache when it is fresh.
func (s *Service) CurrentOnCall(ctx context.Context) ([]string, error) {
	now := s.clock.Now()
	var ids []string
	var errs []error
	for _, v := range s.lookAll(ctx, s.schedules, false) {
		if v.err != nil {
			errs = append(errs, v.err)
			continue
		}
		ids = append(ids, s.primarySlackIDs(ctx, current(v.sc, v.snap, now))...)
	}
	sort.Strings(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("current on-call: %w", errors.Join(errs...))
	}
	return ids, nil
}

// primarySlackIDs maps the first-level people of rs to Slack users, sorted
// and each once; people not found in Slack are left out.
func (s *Service) primarySlackIDs(ctx context.Context, rs []run) []string {
	var ids []string
	for _, r := range rs {
		if r.level != 1 {
			continue
		}
		if id, ok := s.slackID(ctx, r.person); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}
