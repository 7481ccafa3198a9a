package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/commands/alerts"
	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/commands/incident/web"
	"github.com/opsbot/opsbot/commands/oncall"
	"github.com/opsbot/opsbot/commands/runbook"
	"github.com/opsbot/opsbot/integrations/alertmanager"
	"github.com/opsbot/opsbot/integrations/github"
	"github.com/opsbot/opsbot/integrations/oncallfile"
	"github.com/opsbot/opsbot/integrations/pagerduty"
	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/runbooks"
)

// frontEnd is what a chat front end gives the bot: the Slack integration and
// the console workspace both are one.
type frontEnd interface {
	bot.Chat
	bot.Responder
}

// appDeps are the parts the composition root is handed rather than builds,
// so that tests and console mode substitute their own.
type appDeps struct {
	Chat     frontEnd
	Redis    oredis.Client
	Clock    bot.Clock
	IDs      bot.IDs
	Logger   *zap.Logger
	Registry prometheus.Registerer
	// HTTPClient is used for PagerDuty.
	HTTPClient *http.Client
	// SpoolDir holds timeline events while Redis is unreachable.
	SpoolDir string
	// TeamID is the Slack workspace (from auth.test).
	TeamID string
	// Workers bounds concurrent handlers (default 16).
	Workers int
	// SilenceStandIn says alerts.alertmanager_url is console mode's
	// stand-in, which holds no alerts to check groups against.
	SilenceStandIn bool
}

// app is opsbot wired together: the one place where every package meets.
type app struct {
	cfg       config.Config
	log       *zap.Logger
	router    *bot.Router
	engine    *bot.Engine
	timeline  *oredis.Timeline
	incidents *incident.Service
	runbooks  *runbook.Service
	oncall    *oncall.Service
	catalog   *runbooks.Catalog
	pager     *pagerduty.Client
	// web serves the incident pages; nil when the web view is off.
	web *web.Server
	// alerts is nil when the config file has no alerts: section;
	// alertStore and silencer belong to it (silencer nil without
	// alerts.alertmanager_url).
	alerts     *alerts.Service
	alertStore *oredis.Alerts
	silencer   *alertmanager.Client
	// running is set by start.
	running *running
}

// buildApp wires every family onto one router and engine. cfg is valid
// (config.Load checked it), so wiring only copies its values.
func buildApp(cfg config.Config, d appDeps) (*app, error) {
	if d.Clock == nil {
		d.Clock = bot.SystemClock
	}
	if d.IDs == nil {
		d.IDs = bot.RandomIDs
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	a := &app{cfg: cfg, log: d.Logger, router: bot.NewRouter()}

	// Every store confirms what it must not lose on the replicas that
	// redis.min_replicas asks for (see integrations/redis Durability).
	durability := cfg.File.Redis.Durability()
	storeOpts := []oredis.Option{oredis.WithDurability(durability), oredis.WithLogger(d.Logger.Named("redis"))}
	if err := oredis.InstrumentErrors(d.Redis, d.Registry); err != nil {
		return nil, fmt.Errorf("redis metrics: %w", err)
	}
	tl, err := oredis.NewTimeline(oredis.TimelineConfig{Client: d.Redis, SpoolDir: d.SpoolDir, Durability: durability,
		Logger: d.Logger.Named("timeline"), Clock: d.Clock})
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	a.timeline = tl
	if err := registerTimelineMetrics(d.Registry, tl); err != nil {
		return nil, fmt.Errorf("timeline metrics: %w", err)
	}
	store, err := oredis.NewIncidents(d.Redis, storeOpts...)
	if err != nil {
		return nil, fmt.Errorf("incident store: %w", err)
	}
	locker := oredis.NewLocker(d.Redis, storeOpts...)
	deduper := oredis.NewDeduper(d.Redis, storeOpts...)
	onCallCache := oredis.NewOnCall(d.Redis, storeOpts...)

	// On-call: PagerDuty when a token is set, else the rotation file.
	var provider bot.OnCallProvider
	var providerName string
	ocSettings, incSettings := cfg.File.OnCall, cfg.File.Incidents
	if cfg.PagerDutyToken != "" {
		pd, err := pagerduty.New(pagerduty.Config{
			Token: cfg.PagerDutyToken.Reveal(), APIURL: cfg.PagerDutyAPIURL, HTTPClient: d.HTTPClient,
			FromEmail: cfg.File.PagerDuty.FromEmail, Services: cfg.File.PagerDuty.Services,
			Logger: d.Logger.Named("pagerduty"), Clock: d.Clock,
		})
		if err != nil {
			return nil, fmt.Errorf("pagerduty: %w", err)
		}
		a.pager, provider, providerName = pd, pd, "PagerDuty"
	} else if ocSettings.File != "" {
		fp, err := oncallfile.Load(ocSettings.File)
		if err != nil {
			return nil, fmt.Errorf("oncall file: %w", err)
		}
		// Overrides made from chat (cover requests, /oncall override) live
		// in Redis, since the file is read-only.
		provider, providerName = fp.WithOverrides(oredis.NewFileOverrides(d.Redis, storeOpts...)), "the on-call file"
	}

	incSettings.Admins = cfg.File.Admins
	for name := range cfg.File.PagerDuty.Services {
		incSettings.PageServices = append(incSettings.PageServices, name)
	}
	sort.Strings(incSettings.PageServices)

	// The families need each other (incidents invite the on-call, handoffs
	// list open incidents and firing alert groups, alerts declare
	// incidents); the late binding breaks the cycle.
	open := &lateIncidents{}
	firing := &lateAlerts{}
	if provider != nil {
		a.oncall, err = oncall.New(oncall.Config{
			Provider: provider, ProviderName: providerName, Chat: d.Chat, Cache: onCallCache,
			Covers: oredis.NewCovers(d.Redis, storeOpts...), IDs: d.IDs, Alerts: firing,
			Locker: locker, Incidents: open, Followups: open, Clock: d.Clock, Logger: d.Logger.Named("oncall"), Admins: cfg.File.Admins, Settings: ocSettings,
		})
		if err != nil {
			return nil, fmt.Errorf("oncall: %w", err)
		}
	}

	followups, err := oredis.NewFollowups(d.Redis, storeOpts...)
	if err != nil {
		return nil, fmt.Errorf("follow-up store: %w", err)
	}
	incCfg := incident.Config{
		Chat: d.Chat, Store: store, Timeline: tl, Locker: locker, Deduper: deduper,
		Clock: d.Clock, IDs: d.IDs, Logger: d.Logger.Named("incident"), Settings: incSettings,
		Followups: followups, FollowupSettings: cfg.File.Followups, Registerer: d.Registry,
		// The limiter's counts are not confirmed on replicas: see
		// oredis.Limiter for why a limit is not worth a replica round trip.
		TeamID: d.TeamID, Limiter: oredis.NewLimiter(d.Redis, d.Clock), Secrets: oredis.NewSecrets(d.Redis),
	}
	switch fs := cfg.File.Followups; {
	case cfg.GitHubToken != "" && fs.GitHubRepo != "":
		gh, err := github.New(github.Config{Token: cfg.GitHubToken.Reveal(), Repo: fs.GitHubRepo, APIURL: fs.GitHubAPIURL,
			Labels: fs.GitHubLabels, HTTPClient: d.HTTPClient, Logger: d.Logger.Named("github")})
		if err != nil {
			return nil, fmt.Errorf("github: %w", err)
		}
		incCfg.Tracker = gh
	case fs.GitHubRepo != "":
		d.Logger.Warn("followups.github_repo is set but GITHUB_TOKEN is not: follow-ups stay in opsbot", zap.String("repo", fs.GitHubRepo))
	case cfg.GitHubToken != "":
		d.Logger.Warn("GITHUB_TOKEN is set but followups.github_repo is not: follow-ups stay in opsbot")
	}
	if a.oncall != nil {
		incCfg.OnCall = a.oncall
	}
	if a.pager != nil {
		incCfg.Pager = a.pager
	}
	// The web view reads incidents and the family hands out its links.
	links := &lateLinks{}
	if cfg.WebView() {
		incCfg.Links = links
	}
	a.incidents, err = incident.New(incCfg)
	if err != nil {
		return nil, fmt.Errorf("incidents: %w", err)
	}
	open.s = a.incidents
	if cfg.WebView() {
		if a.web, err = buildWeb(cfg, d, a.incidents); err != nil {
			return nil, err
		}
		links.s = a.web
	}

	if cfg.RunbooksDir == "" {
		a.catalog, err = runbooks.NewCatalog()
	} else {
		a.catalog, err = runbooks.LoadDir(cfg.RunbooksDir)
	}
	if err != nil {
		return nil, fmt.Errorf("runbooks: %w", err)
	}
	rbStore, err := oredis.NewRunbooks(d.Redis, storeOpts...)
	if err != nil {
		return nil, fmt.Errorf("runbook store: %w", err)
	}
	audit, err := newAuditMetrics(rbStore, d.Registry)
	if err != nil {
		return nil, fmt.Errorf("runbook metrics: %w", err)
	}
	a.runbooks, err = runbook.New(runbook.Config{
		// Runbooks run in a drill's channel say so like everything else there.
		Catalog: a.catalog, Chat: a.incidents.MarkDrills(d.Chat), Approvals: rbStore, Audit: audit, Locks: rbStore, Slots: rbStore,
		Timeline: tl, Incidents: a.incidents, Admins: cfg.File.Admins, TeamID: d.TeamID,
		Clock: d.Clock, IDs: d.IDs, Logger: d.Logger.Named("runbook"),
		Redact: cfg.File.Runbooks.Redact, MaxOutput: cfg.File.Runbooks.MaxOutput, ApprovalTTL: cfg.File.Runbooks.ApprovalTTL,
		MaxRunsPerPerson: cfg.File.Runbooks.MaxRunsPerPerson, Isolation: cfg.File.Runbooks.Isolation,
		// Every credential of the configuration; a secret the bot gets
		// elsewhere (a key it loads from Redis at start) is appended here.
		Secrets: secretValues(cfg),
	})
	if err != nil {
		return nil, fmt.Errorf("runbook: %w", err)
	}

	if cfg.File.AlertsEnabled() {
		if err := a.buildAlerts(cfg, d, tl, locker); err != nil {
			return nil, err
		}
		firing.s = a.alerts
		a.alerts.Register(a.router)
	} else {
		a.router.Family(&bot.Family{Name: "/alerts", Description: "alert groups from Alertmanager and Grafana",
			Default: noAlerts, Fallback: noAlerts})
	}
	a.incidents.Register(a.router)
	a.runbooks.Register(a.router)
	if a.oncall != nil {
		if err := d.Registry.Register(newOnCallSyncAge(a.oncall.Schedules, onCallCache, d.Clock)); err != nil {
			return nil, fmt.Errorf("oncall metrics: %w", err)
		}
		a.oncall.Register(a.router)
	} else {
		a.router.Family(&bot.Family{Name: "/oncall", Description: "who is on call",
			Default: noOnCall, Fallback: noOnCall})
	}

	a.engine, err = bot.NewEngine(bot.EngineConfig{
		Router: a.router, Responder: d.Chat, Deduper: deduper, Logger: d.Logger.Named("engine"),
		Observer: newHandlerMetrics(d.Registry), Workers: d.Workers, TeamID: d.TeamID,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return a, nil
}

// buildAlerts wires the alerts family: its store (with a spool next to the
// timeline's), Alertmanager's API for silences, PagerDuty's Events API for
// escalations with a routing key, and the webhook decoders.
func (a *app) buildAlerts(cfg config.Config, d appDeps, tl bot.Timeline, locker bot.Locker) error {
	set := cfg.File.Alerts
	set.Timezone = a.incidents.Settings().Timezone
	set.PageServices, set.RoutingKeys = sortedNames(cfg.File.PagerDuty.Services), sortedNames(cfg.File.PagerDuty.RoutingKeys)
	store, err := oredis.NewAlerts(oredis.AlertsConfig{Client: d.Redis, SpoolDir: d.SpoolDir, Logger: d.Logger,
		Durability: cfg.File.Redis.Durability()})
	if err != nil {
		return fmt.Errorf("alert store: %w", err)
	}
	a.alertStore = store
	if err := registerAlertStoreMetrics(d.Registry, store); err != nil {
		return fmt.Errorf("alert store metrics: %w", err)
	}
	acfg := alerts.Config{
		Chat: d.Chat, Store: store, Locker: locker, Timeline: tl, Incidents: a.incidents,
		Token: cfg.AlertsToken.Reveal(), Clock: d.Clock, IDs: d.IDs, Logger: d.Logger.Named("alerts"),
		Registerer: d.Registry, Settings: set,
		Decoders: map[bot.AlertSource]alerts.DecodeFunc{
			bot.AlertSourceAlertmanager: alertmanager.Decode, bot.AlertSourceGrafana: alertmanager.DecodeGrafana},
	}
	if set.AlertmanagerURL != "" {
		a.silencer, err = alertmanager.New(alertmanager.Config{URL: set.AlertmanagerURL, HTTPClient: d.HTTPClient})
		if err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		acfg.Silencer = a.silencer
		if !d.SilenceStandIn {
			acfg.Lister = a.silencer
		}
	}
	if a.pager != nil {
		acfg.Pager, acfg.PageResolver = a.pager, a.pager
	}
	if len(cfg.File.PagerDuty.RoutingKeys) > 0 {
		ev, err := pagerduty.NewEvents(pagerduty.EventsConfig{URL: cfg.PagerDutyEventsURL, HTTPClient: d.HTTPClient,
			Logger: d.Logger.Named("pagerduty-events")})
		if err != nil {
			return fmt.Errorf("pagerduty events: %w", err)
		}
		acfg.EventPager, acfg.RoutingKeys = ev, cfg.File.PagerDuty.RoutingKeys
	}
	a.alerts, err = alerts.New(acfg)
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	return nil
}

// hooks is the handler of the alert webhooks, answering 404 when alerts
// are not configured.
func (a *app) hooks() http.Handler {
	if a.alerts == nil {
		return alerts.NotConfigured
	}
	return a.alerts.Intake()
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lateAlerts forwards to the alerts family once it exists; without one,
// no group fires.
type lateAlerts struct{ s *alerts.Service }

func (l *lateAlerts) FiringAlertGroups(ctx context.Context) ([]bot.AlertGroupSummary, error) {
	if l.s == nil {
		return nil, nil
	}
	return l.s.FiringAlertGroups(ctx)
}

func noAlerts(context.Context, *bot.Request) (bot.Response, error) {
	return bot.Reply("Alerts are not set up here: add an `alerts:` section to the config file (see deploy/README.md)."), nil
}

// lateIncidents forwards to the incident service once it exists.
type lateIncidents struct{ s *incident.Service }

func (l *lateIncidents) OpenIncidentSummaries(ctx context.Context) ([]bot.IncidentSummary, error) {
	return l.s.OpenIncidentSummaries(ctx)
}

// FollowupsDue implements bot.DueFollowups for handoffs.
func (l *lateIncidents) FollowupsDue(ctx context.Context, by time.Time) ([]bot.FollowupSummary, error) {
	return l.s.FollowupsDue(ctx, by)
}

func noOnCall(context.Context, *bot.Request) (bot.Response, error) {
	return bot.Reply("No on-call source is configured: set PAGERDUTY_TOKEN, or `oncall.file` in the config file."), nil
}

// running is what start started, for shutdown to stop in order.
type running struct {
	stopSchedulers, stopFlusher  context.CancelFunc
	schedulers, flusher, workers sync.WaitGroup
}

// start starts the long-running parts other than intake: the request
// workers, the flushers of the timeline and the alert store, and the
// schedulers (reminders and archiving, on-call sync, the runbook approval
// sweeper, alert escalations). Intake (Socket
// Mode, HTTP, the console) is the caller's, and it stops intake before it
// calls shutdown. Constructors start nothing; each part has its Run.
func (a *app) start(ctx context.Context) { a.startParts(ctx, true) }

// startParts is start, with background false for tests that drive the
// flusher and the schedulers themselves: only the request workers run.
func (a *app) startParts(ctx context.Context, background bool) {
	r := &running{}
	var schedCtx, flushCtx context.Context
	schedCtx, r.stopSchedulers = context.WithCancel(ctx)
	flushCtx, r.stopFlusher = context.WithCancel(ctx)
	a.goRun(&r.workers, "requests", ctx, a.engine.Run)
	if background {
		a.goRun(&r.flusher, "timeline", flushCtx, a.timeline.Run)
		a.goRun(&r.schedulers, "incidents", schedCtx, a.incidents.Run)
		a.goRun(&r.schedulers, "runbook approvals", schedCtx, a.runbooks.Run)
		if a.oncall != nil {
			a.goRun(&r.schedulers, "oncall", schedCtx, a.oncall.Run)
		}
		if a.alerts != nil {
			// The alert store's flusher stops with the timeline's; the
			// alert service's rounds (escalations, expiries) are schedulers.
			a.goRun(&r.flusher, "alert store", flushCtx, a.alertStore.Run)
			a.goRun(&r.schedulers, "alerts", schedCtx, a.alerts.Run)
		}
	}
	a.running = r
}

// goRun runs f in a goroutine counted by wg, logging how it ended.
func (a *app) goRun(wg *sync.WaitGroup, name string, ctx context.Context, f func(context.Context) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if p := recover(); p != nil {
				a.log.Error("background task panicked", zap.String("task", name), zap.Any("panic", p))
			}
		}()
		if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("background task stopped", zap.String("task", name), zap.Error(err))
		}
	}()
}

// shutdown is the one way down, in order, once the caller has stopped
// intake (no envelope or webhook is taken any more):
//
//  1. the schedulers stop, so that no reminder, archive or sync starts
//     behind shutdown's back, and one in progress ends (whatever it
//     recorded reaches the timeline, which is still open);
//  2. requests and runbook runs in flight finish, until ctx ends (runs
//     still going then are killed and audited as such);
//  3. the flusher stops and held timeline events get a last flush;
//  4. the timeline closes: what is still held stays in its spool file for
//     the next process to adopt.
//
// The caller closes Redis after it. shutdown also serves an app that was
// never started (export), and a second call does nothing more.
func (a *app) shutdown(ctx context.Context) error {
	var errs []error
	r := a.running
	if r != nil {
		r.stopSchedulers()
		waitGroup(ctx, &r.schedulers)
	}
	if err := a.engine.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.runbooks.Wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("runbook runs: %w", err))
	}
	if r != nil {
		waitGroup(ctx, &r.workers)
		r.stopFlusher()
		r.flusher.Wait() // returns at once: Run ends with its context
	}
	if err := a.timeline.Flush(ctx); err != nil && !errors.Is(err, oredis.ErrTimelineClosed) {
		a.log.Warn("timeline events still held at exit; they are in the spool and are written by the next process to start",
			zap.Int("held", a.timeline.Pending()), zap.Error(err))
	}
	if err := a.timeline.Close(); err != nil {
		errs = append(errs, err)
	}
	if a.alertStore != nil {
		// Notifications still held stay in the spool for the next start.
		if err := a.alertStore.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitGroup waits for wg, or until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
