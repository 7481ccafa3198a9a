// Package incident implements /incident: declaring incidents (by command or
// modal) into their own channels, roles, severity and status, updates and
// notes, resolution and archiving, reminders, timeline capture from pinned
// messages, paging, and the post-mortem export. It works through the bot
// ports only, so it runs the same against Slack, console mode and tests.
package incident

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"text/template"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Config wires a Service.
type Config struct {
	Chat     bot.Chat
	Store    bot.IncidentStore
	Timeline bot.Timeline
	// Locker makes scheduled work run on one replica at a time. Nil lets
	// every replica tick; reminders and archiving still happen once,
	// because the store update that claims them is atomic.
	Locker bot.Locker
	// Deduper drops repeated captures of one pinned message early. May be
	// nil: the timeline's dedupe key still records the pin once.
	Deduper bot.Deduper
	Clock   bot.Clock
	IDs     bot.IDs
	Logger  *zap.Logger
	// OnCall, when set, is invited on declare and on a raise to a
	// severity listed in Settings.OnCallFor.
	OnCall bot.OnCallResolver
	// Pager, when set, backs /incident page.
	Pager bot.Pager
	// TeamID is the workspace served; requests and people of any other are
	// refused. Empty checks nothing (console mode, tests).
	TeamID string
	// Limiter counts declarations and timeline events across replicas
	// (Settings.Limits). Nil enforces only the per-text byte cap.
	Limiter bot.Limiter
	// Secrets keys the seal on forms' metadata, shared by the replicas.
	// Nil keys it per process, which suits a single replica.
	Secrets bot.SecretStore
	// Links, when set, backs /incident link and the summary's "Web page"
	// button.
	Links    Linker
	Settings Settings
	// Followups stores follow-ups; nil turns the follow-up commands off.
	Followups bot.FollowupStore
	// Tracker, when set, mirrors every follow-up to an issue.
	Tracker          bot.Tracker
	FollowupSettings FollowupSettings
	// History lists past incidents for /incident stats; nil uses Store
	// when it has the method.
	History IncidentHistory
	// Registerer receives the incident metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Service is the /incident command family and its scheduled work.
type Service struct {
	chat     bot.Chat
	store    bot.IncidentStore
	timeline bot.Timeline
	locker   bot.Locker
	deduper  bot.Deduper
	clock    bot.Clock
	ids      bot.IDs
	log      *zap.Logger
	oncall   bot.OnCallResolver
	pager    bot.Pager
	team     string
	limiter  bot.Limiter
	sealer   *bot.Sealer
	members  *members
	links    Linker
	set      Settings
	mdTmpl   *template.Template
	family   *bot.Family

	followups bot.FollowupStore
	tracker   bot.Tracker
	fset      FollowupSettings
	history   IncidentHistory
	metrics   *metrics
	// drills are the channels of drills, so that what is posted there is
	// marked as a drill whatever path posts it.
	drills *drillChannels

	// locks serialises changes to one incident within this process, so
	// that the summary and topic are refreshed in the order the changes
	// were stored. Across replicas the store's atomic update keeps the data
	// right; a rare out-of-order refresh there is corrected by the next one.
	locks keyedMutex
	// lastKnown caches incidents by channel so that notes, updates and
	// pins keep working while the store is unreachable.
	lastKnown sync.Map // channel ID -> bot.Incident
	// acks holds acknowledged milestones reached while the store was
	// unreachable, stamped once it answers (learning.go).
	acks pendingAcks
}

var (
	_ bot.IncidentLocator = (*Service)(nil)
	_ bot.OpenIncidents   = (*Service)(nil)
)

// New validates cfg and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Chat == nil || cfg.Store == nil || cfg.Timeline == nil {
		return nil, errors.New("incident: Chat, Store and Timeline are required")
	}
	set, err := cfg.Settings.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("incident settings: %w", err)
	}
	tmpl, err := loadTemplate(set.ExportTemplate)
	if err != nil {
		return nil, fmt.Errorf("incident settings: export_template: %w", err)
	}
	s := &Service{
		chat: cfg.Chat, store: cfg.Store, timeline: cfg.Timeline, locker: cfg.Locker,
		deduper: cfg.Deduper, clock: cfg.Clock, ids: cfg.IDs, log: cfg.Logger,
		oncall: cfg.OnCall, pager: cfg.Pager, links: cfg.Links, set: set, mdTmpl: tmpl,
		team: cfg.TeamID, limiter: cfg.Limiter, sealer: bot.NewSealer(cfg.Secrets),
	}
	if err := s.configureLearning(cfg); err != nil {
		return nil, err
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
	s.members = newMembers(s.clock)
	s.family = s.buildFamily()
	for i := range s.family.Commands {
		s.family.Commands[i].Handler = drillAware(s.family.Commands[i].Handler)
	}
	s.family.Default = drillAware(s.family.Default)
	return s, nil
}

// Settings returns the effective settings, defaults applied.
func (s *Service) Settings() Settings { return s.set }

// Family returns the /incident command family.
func (s *Service) Family() *bot.Family { return s.family }

// Action IDs of the summary message's buttons, and modal callback IDs.
const (
	ActionTakeCommand  = "incident.take_command"
	ActionAssign       = "incident.assign"
	ActionUpdateStatus = "incident.update_status"
	ActionResolve      = "incident.resolve"
	ViewDeclare        = "incident.declare"
	ViewStatusUpdate   = "incident.status_update"
	ViewResolve        = "incident.resolve"
	ViewAssign         = "incident.assign"
)

// Register adds the family, the summary buttons, the modals and the Slack
// events the service listens to.
func (s *Service) Register(r *bot.Router) {
	r.Family(s.family)
	// Buttons and forms need what the matching commands need; each also
	// checks that it acts on the incident it was shown for (interact.go).
	r.Action(ActionTakeCommand, drillAware(s.guard(accessChange, s.onTakeCommand)))
	r.Action(ActionAssign, drillAware(s.guard(accessChange, s.onAssignButton)))
	r.Action(ActionUpdateStatus, drillAware(s.guard(accessChange, s.onUpdateStatusButton)))
	r.Action(ActionResolve, drillAware(s.guard(accessChange, s.onResolveButton, permResolve)))
	r.Action(ActionFollowupDone, drillAware(s.guard(accessChange, s.onFollowupDone)))
	r.Action(ActionWebLink, drillAware(s.guard(accessRead, s.onWebLinkButton)))
	r.View(ViewDeclare, bot.ViewRoute{Validate: s.validateDeclareView, Handler: drillAware(s.guard(accessChange, s.onDeclareView))})
	r.View(ViewStatusUpdate, bot.ViewRoute{Validate: s.validateStatusView, Handler: drillAware(s.guard(accessChange, s.onStatusView))})
	r.View(ViewResolve, bot.ViewRoute{Handler: drillAware(s.guard(accessChange, s.onResolveView, permResolve))})
	r.View(ViewAssign, bot.ViewRoute{Validate: s.validateAssignView, Handler: drillAware(s.guard(accessChange, s.onAssignView))})
	r.Event(bot.EventReactionAdded, s.onReactionAdded)
	r.Event(bot.EventReactionRemoved, s.onReactionRemoved)
	r.Event(bot.EventMessageChanged, s.onMessageChanged)
	r.Event(bot.EventMessageDeleted, s.onMessageDeleted)
	r.Event(bot.EventMemberJoined, s.onMemberJoined)
}

func (s *Service) buildFamily() *bot.Family {
	roles := s.set.RoleNames()
	return &bot.Family{
		Name:        "/incident",
		Description: "declare and run incidents",
		Default:     s.guard(accessChange, s.openDeclareModal),
		Commands: []bot.Command{
			{Name: "declare", Aliases: []string{"new", "start"}, Usage: "declare [--drill] [sev1..sev4] TITLE…",
				Description: "declare an incident (default sev3) with its own channel; --drill rehearses one",
				Examples:    []string{"/incident declare sev2 checkout errors", "/incident declare --drill sev1 region failover"},
				Parse:       bot.Parser(s.parseDeclare), Handler: bot.WithParsed(s.cmdDeclare),
				Middleware: []bot.Middleware{s.need(accessChange)}},
			{Name: "commander", Aliases: []string{"ic", "lead"}, Usage: "commander @user",
				Description: "assign the incident commander", Parse: bot.Parser(s.parseCommander), Handler: bot.WithParsed(s.cmdCommander),
				Middleware: []bot.Middleware{s.need(accessChange)}},
			{Name: "role", Usage: "role " + joinOr(roles) + " @user",
				Description: "assign a role", Parse: bot.Parser(s.parseRoleArgs), Handler: bot.WithParsed(s.cmdRole),
				Middleware: []bot.Middleware{s.need(accessChange)}},
			{Name: "sev", Aliases: []string{"severity"}, Usage: "sev sev1..sev4",
				Description: "change the severity", Parse: bot.Parser(s.parseSeverityArg), Handler: bot.WithParsed(s.cmdSeverity),
				Middleware: []bot.Middleware{s.need(accessChange, permSeverity)}},
			// Resolving through `status resolved` checks permResolve in
			// the handler, where the status is known.
			{Name: "status", Usage: "status investigating|identified|monitoring|resolved",
				Description: "change the status", Parse: bot.Parser(s.parseStatusArg), Handler: bot.WithParsed(s.cmdStatus),
				Middleware: []bot.Middleware{s.need(accessChange)}},
			{Name: "update", Usage: "update TEXT…",
				Description: "post a status update here and in the broadcast channel", Parse: bot.Parser(s.parseUpdate), Handler: bot.WithParsed(s.cmdUpdate),
				Middleware: []bot.Middleware{s.need(accessChange)}},
			{Name: "note", Usage: "note TEXT…", Description: "add a note to the timeline", Parse: bot.Parser(s.parseNote), Handler: bot.WithParsed(s.cmdNote),
				Middleware: []bot.Middleware{s.need(accessNote)}},
			{Name: "resolve", Usage: "resolve [SUMMARY…]", Description: "resolve the incident", Parse: bot.Parser(s.parseResolve), Handler: bot.WithParsed(s.cmdResolve),
				Middleware: []bot.Middleware{s.need(accessChange, permResolve)}},
			{Name: "timeline", Usage: "timeline", Description: "show the timeline (only to you)", Handler: s.cmdTimeline,
				Middleware: []bot.Middleware{s.need(accessRead)}},
			{Name: "export", Usage: "export [md|json]", Description: "upload the post-mortem document here",
				Parse: bot.Parser(s.parseExport), Handler: bot.WithParsed(s.cmdExport), Middleware: []bot.Middleware{s.need(accessRead)}},
			{Name: "list", Aliases: []string{"ls"}, Usage: "list [--all|drills]",
				Description: "open incidents with severity, status, commander and age (drills with --all or drills)", Handler: s.cmdList,
				Middleware: []bot.Middleware{s.need(accessRead)}},
			{Name: "page", Usage: "page SERVICE [MESSAGE…]",
				Description: "page a service's on-call through PagerDuty", Parse: bot.Parser(s.parsePage), Handler: bot.WithParsed(s.cmdPage),
				Middleware: []bot.Middleware{s.need(accessChange, permPage)}},
			s.withAccess(s.followupCommand(), accessChange), s.withAccess(s.followupsCommand(), accessRead),
			s.withAccess(s.statsCommand(), accessRead),
			{Name: "link", Usage: "link", Description: "a signed link to this incident's web page (only to you)",
				Handler: s.cmdLink, Middleware: []bot.Middleware{s.need(accessRead)}},
		},
	}
}

// usage is the usage line of one subcommand, for error replies.
func (s *Service) usage(name string) string { return s.family.CommandUsage(name) }

// IncidentForChannel implements bot.IncidentLocator.
func (s *Service) IncidentForChannel(ctx context.Context, channel string) (string, bool, error) {
	inc, ok, err := s.byChannel(ctx, channel)
	return inc.Key, ok, err
}

// OpenIncidentSummaries implements bot.OpenIncidents.
func (s *Service) OpenIncidentSummaries(ctx context.Context) ([]bot.IncidentSummary, error) {
	incs, err := s.store.Open(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bot.IncidentSummary, 0, len(incs))
	for _, inc := range incs {
		if !inc.Open() {
			continue
		}
		out = append(out, bot.IncidentSummary{Key: inc.Key, Title: inc.Title, Severity: string(inc.Severity),
			Status: string(inc.Status), Commander: inc.Commander, Channel: inc.Channel})
	}
	return out, nil
}

// errNotInIncident is the hint for incident commands typed elsewhere.
var errNotInIncident = bot.Userf("This only works in an incident channel. " +
	"`/incident list` shows the open ones; `/incident declare …` starts a new one.")

// errReadDown tells the user a read failed because the store is unreachable,
// and that what they record meanwhile is not lost.
var errReadDown = bot.Userf("I can't reach the incident store right now, so I can't show that. " +
	"Notes, updates and pinned messages are still recorded and will appear once it is back.")

// errStoreDown tells the user nothing changed because state is unreachable.
var errStoreDown = bot.Userf("I can't reach the incident store right now, so nothing was changed. " +
	"Please try again in a minute.")

// current returns the incident run in the request's channel, or the hint
// that the command only works in one.
func (s *Service) current(ctx context.Context, req *bot.Request) (bot.Incident, error) {
	inc, ok, err := s.byChannel(ctx, req.ChannelID)
	if err != nil {
		return bot.Incident{}, err
	}
	if !ok {
		return bot.Incident{}, errNotInIncident
	}
	return inc, nil
}

// byChannel returns the incident run in channel; ok is false for every other
// channel. While the store is unreachable it falls back to the last known
// record, so read-mostly work (notes, updates, timeline, pins) keeps going.
func (s *Service) byChannel(ctx context.Context, channel string) (inc bot.Incident, ok bool, err error) {
	inc, err = s.store.ByChannel(ctx, channel)
	if errors.Is(err, bot.ErrIncidentNotFound) {
		return bot.Incident{}, false, nil
	}
	if err != nil {
		if v, ok := s.lastKnown.Load(channel); ok {
			bot.Logger(ctx).Warn("incident store unreachable; using last known incident", zap.Error(err))
			inc := v.(bot.Incident)
			noteIncident(ctx, &inc)
			return inc, true, nil
		}
		return bot.Incident{}, false, fmt.Errorf("find incident for channel %s: %w", channel, err)
	}
	s.remember(inc)
	noteIncident(ctx, &inc)
	return inc, true, nil
}

func (s *Service) remember(inc bot.Incident) {
	if inc.Channel != "" {
		s.lastKnown.Store(inc.Channel, inc)
	}
	s.drills.note(&inc)
}

// mutate applies fn to the stored incident under the per-incident lock and,
// when it changed, refreshes topic, purpose, summary and announcement. User
// errors from fn pass through; a store outage becomes errStoreDown.
func (s *Service) mutate(ctx context.Context, key string, fn func(*bot.Incident) error) (bot.Incident, error) {
	unlock := s.locks.lock(key)
	defer unlock()
	var before bot.Incident
	inc, err := s.store.Update(ctx, key, func(i *bot.Incident) error {
		before = *i // fields read by refresh are values, so a shallow copy will do
		return fn(i)
	})
	if err != nil {
		var ue *bot.UserError
		if errors.As(err, &ue) {
			return bot.Incident{}, err
		}
		bot.Logger(ctx).Error("incident update failed", zap.String("incident", key), zap.Error(err))
		return bot.Incident{}, errStoreDown
	}
	s.remember(inc)
	s.refresh(ctx, &before, inc)
	return inc, nil
}

// record appends a timeline event, filling ID, incident and time.
func (s *Service) record(ctx context.Context, inc *bot.Incident, ev bot.TimelineEvent) error {
	ev.ID = s.ids.New()
	ev.Incident = inc.Key
	if ev.Time.IsZero() {
		ev.Time = s.clock.Now().UTC()
	}
	if err := s.timeline.Append(ctx, ev); err != nil {
		return fmt.Errorf("append %s event to %s timeline: %w", ev.Type, inc.Key, err)
	}
	s.noteMilestones(ctx, inc, &ev)
	return nil
}

// parallel runs fns concurrently and joins their errors. Slack calls that do
// not depend on each other go through it, so a declare costs a few round
// trips rather than one per call.
func parallel(ctx context.Context, fns ...func(context.Context) error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		if fn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("panic: %v", p)
				}
			}()
			errs[i] = fn(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// keyedMutex is a mutex per key, dropped when nobody holds or waits for it.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
