package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/commands/incident/web"
	"github.com/opsbot/opsbot/integrations/console"
	"github.com/opsbot/opsbot/integrations/oncallfile"
	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/slack"
	"github.com/opsbot/opsbot/runbooks"
)

// shutdownGrace is how long in-flight requests and runbook runs get after
// SIGTERM; Kubernetes' default grace period is 30 s.
const shutdownGrace = 25 * time.Second

// The sample configuration of console mode; the on-call part is added only
// when the sample rotation file is there to read.
var (
	//go:embed console.yaml
	consoleConfig []byte
	//go:embed console-oncall.yaml
	consoleOnCall []byte
)

func newLogger(level string, w io.Writer, human bool) *zap.Logger {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		lvl = zapcore.InfoLevel
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder = zapcore.NewJSONEncoder(encCfg)
	if human {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	// Locked: background loops and requests log at once, and w need not be
	// safe for concurrent writes (a test's buffer is not).
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl))
}

// noRedisMessage is why Socket Mode refuses to start without Redis, and how
// to run anyway.
const noRedisMessage = "Socket Mode needs Redis, and none is configured: set REDIS_URL, or redis.addrs in the config file " +
	"(with redis.master_name for Sentinel). Without Redis, incidents, timelines and approvals would live only in this " +
	"process's memory: lost when it exits, and not shared with other replicas. For a throwaway trial, set " +
	"OPSBOT_ALLOW_EPHEMERAL_STORE=1 to run on an in-memory store anyway; `opsbot console` needs neither Slack nor Redis."

// errNoRedis is returned by connectRedis when Redis is not configured and
// the in-memory store is not allowed.
var errNoRedis = errors.New(noRedisMessage)

// connectRedis connects to REDIS_URL or the config file's Sentinel/Cluster
// addresses. With neither, it starts the embedded in-memory store and says
// so loudly when embedded is allowed, else it returns errNoRedis.
func connectRedis(ctx context.Context, cfg *config.Config, log *zap.Logger, embedded bool) (oredis.Client, func(), error) {
	if !cfg.HasRedis() {
		if !embedded {
			return nil, nil, errNoRedis
		}
		c, stop, err := oredis.Embedded()
		if err != nil {
			return nil, nil, err
		}
		log.Warn(oredis.EmbeddedWarning)
		// The embedded store has no replicas, and cannot count them (no
		// INFO replication): asking would only warn, once per store, that
		// writes are not confirmed on replicas.
		cfg.File.Redis.MinReplicas = oredis.ReplicasNone
		return c, stop, nil
	}
	oredis.SetLibraryLogger(log.Named("go-redis"))
	c, err := oredis.New(ctx, redisConfig(*cfg))
	if err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}

// storeWithTempSpool connects to Redis (or the embedded store) with a
// throwaway spool directory, for the short-lived modes (console, export)
// whose held events have nowhere lasting to go.
func storeWithTempSpool(ctx context.Context, cfg *config.Config, log *zap.Logger) (oredis.Client, string, func(), error) {
	rdb, closeRedis, err := connectRedis(ctx, cfg, log, true)
	if err != nil {
		return nil, "", nil, err
	}
	spool, err := os.MkdirTemp("", "opsbot-spool-")
	if err != nil {
		closeRedis()
		return nil, "", nil, err
	}
	return rdb, spool, func() { os.RemoveAll(spool); closeRedis() }, nil
}

// redisConfig is how to reach Redis: REDIS_URL, else the config file's
// Sentinel or Cluster addresses.
func redisConfig(cfg config.Config) oredis.Config {
	return oredis.Config{URL: cfg.RedisURL.Reveal(), Addrs: cfg.File.Redis.Addrs, MasterName: cfg.File.Redis.MasterName,
		Username: cfg.File.Redis.Username, Password: cfg.RedisPassword.Reveal(), DB: cfg.File.Redis.DB, TLS: cfg.File.Redis.TLS}
}

// spoolDir is where timeline events wait while Redis is unreachable. It must
// survive a restart of the process to keep its promise, so it defaults to a
// state directory rather than a temporary one.
func spoolDir(cfg config.Config) string {
	if cfg.File.Redis.SpoolDir != "" {
		return cfg.File.Redis.SpoolDir
	}
	if cfg.StateDir != "" {
		return filepath.Join(cfg.StateDir, "spool")
	}
	if err := os.MkdirAll("/var/lib/opsbot/spool", 0o700); err == nil {
		return "/var/lib/opsbot/spool"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "opsbot", "spool")
	}
	return filepath.Join(os.TempDir(), "opsbot-spool")
}

// runSlack runs the bot in Socket Mode until SIGTERM.
func runSlack(ctx context.Context, cfg config.Config, stderr io.Writer) int {
	log := newLogger(cfg.LogLevel, stderr, false)
	defer log.Sync()
	log.Info("starting", zap.String("version", version), zap.String("commit", commit))

	reg := newRegistry()
	rdb, closeRedis, err := connectRedis(ctx, &cfg, log, cfg.AllowEphemeralStore())
	if errors.Is(err, errNoRedis) {
		log.Error("refusing to start: " + noRedisMessage)
		return 1
	}
	if err != nil {
		log.Error("redis", zap.Error(err))
		return 1
	}
	// Closed last, after the ordered shutdown below.
	defer closeRedis()
	sc, err := slack.New(slack.Config{
		AppToken: cfg.SlackAppToken.Reveal(), BotToken: cfg.SlackBotToken.Reveal(), APIURL: cfg.SlackAPIURL,
		Logger: log.Named("slack"), Registerer: reg,
	})
	if err != nil {
		log.Error("slack", zap.Error(err))
		return 1
	}
	team := cfg.File.TeamID
	if team == "" {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		id, err := sc.Identity(actx)
		cancel()
		if err != nil {
			log.Error("slack auth.test failed: check SLACK_BOT_TOKEN and SLACK_API_URL", zap.Error(err))
			return 1
		}
		team = id.TeamID
		log.Info("connected to workspace", zap.String("team", id.TeamName), zap.String("team_id", team), zap.String("bot_user", id.UserID))
	}
	a, err := buildApp(cfg, appDeps{Chat: sc, Redis: rdb, Logger: log, Registry: reg, SpoolDir: spoolDir(cfg), TeamID: team})
	if err != nil {
		log.Error("start", zap.Error(err))
		return 1
	}
	for _, w := range a.catalog.Warnings {
		log.Warn("runbook", zap.String("problem", w.String()))
	}

	// The parts run until shutdown stops them, in order, not when the
	// signal arrives.
	a.start(context.WithoutCancel(ctx))
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	// The pages get their own listener when OPSBOT_WEB_ADDR is set (so they
	// can be exposed without /metrics), else they share the HTTP one. Their
	// own listener stops taking requests first at shutdown.
	webCtx, stopWeb := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWeb()
	var pages []route
	webErr := make(<-chan error)
	if a.web != nil {
		switch {
		case cfg.WebAddr != "":
			ln, err := net.Listen("tcp", cfg.WebAddr)
			if err != nil {
				log.Error("web view", zap.Error(err))
				sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
				defer cancel()
				_ = a.shutdown(sctx)
				return 1
			}
			webErr = serve(webCtx, ln, a.web, "web view", log)
		case cfg.HTTPAddr != "":
			pages = []route{{web.PathPrefix, a.web}}
		default:
			log.Warn("the web view has no listener: set OPSBOT_WEB_ADDR or OPSBOT_HTTP_ADDR; links given out will not open")
		}
	}
	httpErr := make(<-chan error)
	if cfg.HTTPAddr != "" {
		_, httpErr, err = serveHTTP(httpCtx, cfg.HTTPAddr, reg, []readiness{
			{"slack", func(context.Context) (bool, string, error) {
				if !sc.Connected() {
					return false, "socket mode not connected", nil
				}
				return true, "ok", nil
			}},
			{"redis", func(ctx context.Context) (bool, string, error) {
				if err := oredis.Ping(ctx, rdb); err != nil {
					return false, "unreachable", err
				}
				return true, "ok", nil
			}},
			{"timeline", func(context.Context) (bool, string, error) { return true, timelineState(a.timeline.Stats()), nil }},
		}, a.hooks(), log, append(pages, profiling(cfg)...)...)
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			// Another opsbot on this host with the same configuration
			// serves it; this one still runs, without an HTTP server.
			log.Warn("http address in use (another opsbot on this host?); this process serves no /healthz, /readyz, /metrics, "+
				"webhooks or pages: give each process its own OPSBOT_HTTP_ADDR to probe and scrape it", zap.String("addr", cfg.HTTPAddr))
			httpErr = make(<-chan error)
		case err != nil:
			log.Error("http", zap.Error(err))
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			_ = a.shutdown(sctx)
			return 1
		}
	}

	listenCtx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	listenErr := make(chan error, 1)
	go func() { listenErr <- sc.Listen(listenCtx, a.engine) }()
	code, listening := 0, true
	select {
	case err := <-listenErr:
		listening = false
		if err != nil && ctx.Err() == nil {
			log.Error("socket mode stopped", zap.Error(err))
			code = 1
		}
	case err := <-httpErr:
		log.Error("http server stopped", zap.Error(err))
		code = 1
	case err := <-webErr:
		log.Error("web view server stopped", zap.Error(err))
		code = 1
	case <-ctx.Done():
	}
	log.Info("shutting down: no new envelopes; finishing the ones in flight")
	// Intake first: from here on no envelope, webhook or page request is
	// taken.
	stopWeb()
	stopListen()
	if listening {
		<-listenErr
	}
	stopHTTP()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := a.shutdown(sctx); err != nil {
		log.Warn("shutdown", zap.Error(err))
	}
	log.Info("stopped")
	return code
}

// timelineState is the timeline's line in /readyz: held events do not make
// opsbot unready (they are safe in the spool), but an operator should see
// them.
func timelineState(st oredis.TimelineStats) string {
	if st.Held == 0 {
		return "ok"
	}
	s := fmt.Sprintf("ok, %d events held for up to %s", st.Held, st.OldestHeld.Round(time.Second))
	if st.AwaitingReplicas > 0 {
		s += fmt.Sprintf(" (%d waiting for replicas)", st.AwaitingReplicas)
	}
	return s
}

// consoleUsers is the sample workspace of console mode. E-mails match the
// sample on-call file, so on-call people map to console users.
var consoleUsers = []bot.User{
	{ID: "U0ALICE", Name: "alice", RealName: "Alice Example", Email: "alice@example.com"},
	{ID: "U0BOB", Name: "bob", RealName: "Bob Example", Email: "bob@example.com"},
	{ID: "U0CAROL", Name: "carol", RealName: "Carol Example", Email: "carol@example.com"},
	{ID: "U0DANA", Name: "dana", RealName: "Dana Lead", Email: "dana@example.com"},
	{ID: "U0ERIN", Name: "erin", RealName: "Erin Lead", Email: "erin@example.com"},
	{ID: "U0FRANK", Name: "frank", RealName: "Frank Ops", Email: "frank@example.com"},
	{ID: "U0GUEST", Name: "gus", RealName: "Gus Guest", Email: "gus@partner.example", IsRestricted: true},
}

const consoleTeam = "T0CONSOLE"

func newConsoleWorkspace(out io.Writer, clock bot.Clock) *console.Workspace {
	ws := console.NewWorkspace(out, clock, consoleTeam)
	for _, u := range consoleUsers {
		ws.AddUser(u)
	}
	var everyone []string
	for _, u := range consoleUsers {
		everyone = append(everyone, u.ID)
	}
	ws.AddChannel("C0GENERAL", "general", everyone...)
	ws.AddChannel("C0INCIDENTS", "incidents", everyone...)
	ws.AddChannel("C0OPS", "ops", "U0ALICE", "U0BOB", "U0CAROL")
	ws.AddChannel("C0PAYMENTS", "payments", "U0ALICE", "U0BOB", "U0CAROL")
	ws.AddChannel("C0PLATFORM", "platform", "U0FRANK")
	ws.AddUsergroup("S0SRE", "sre", "U0ALICE", "U0BOB")
	ws.AddUsergroup("S0SRELEADS", "sre-leads", "U0CAROL", "U0DANA")
	ws.AddUsergroup("S0ONCALLPAY", "oncall-payments")
	return ws
}

// runConsole runs console mode: the real dispatcher and handlers on an
// in-memory workspace and an embedded store, driven from stdin.
func runConsole(ctx context.Context, cfg config.Config, stdin io.Reader, stdout, stderr io.Writer) int {
	level := cfg.LogLevel
	if !cfg.LogLevelSet {
		level = "warn"
	}
	log := newLogger(level, stderr, true)
	defer log.Sync()
	if cfg.ConfigPath == "" {
		raw := slices.Clone(consoleConfig)
		if _, err := os.Stat(sampleOnCallFile); err == nil {
			raw = append(raw, consoleOnCall...)
		} else {
			log.Warn("sample on-call file not found (run from the repository root to use it); /oncall is off", zap.String("file", sampleOnCallFile))
		}
		f, err := config.ParseFile("console config", raw)
		if err != nil {
			fmt.Fprintf(stderr, "opsbot: %v\n", err)
			return 1
		}
		cfg.File = f
	}
	if cfg.RunbooksDir == "" {
		cfg.RunbooksDir = cfg.File.Runbooks.Dir
	}
	if _, err := os.Stat(cfg.RunbooksDir); cfg.RunbooksDir != "" && err != nil {
		log.Warn("runbooks directory not found (run from the repository root to use the examples); no runbooks", zap.String("dir", cfg.RunbooksDir))
		cfg.RunbooksDir = ""
	}
	rdb, spool, cleanup, err := storeWithTempSpool(ctx, &cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "opsbot: %v\n", err)
		return 1
	}
	defer cleanup()

	// The web view is served on localhost, and /incident link prints links
	// to it.
	webLn, err := consoleWeb(&cfg)
	if err != nil {
		fmt.Fprintf(stderr, "opsbot: %v\n", err)
		return 1
	}
	defer webLn.Close()

	clock := bot.SystemClock
	ws := newConsoleWorkspace(stdout, clock)
	var silences muter
	if cfg.File.AlertsEnabled() {
		// The console plays Alertmanager itself (:alert), so the hooks need
		// no token from outside, and silences go to an in-process stand-in
		// unless the config names a real Alertmanager.
		if cfg.AlertsToken == "" {
			cfg.AlertsToken = config.Secret(randomToken())
		}
		if cfg.File.Alerts.AlertmanagerURL == "" {
			standIn, url, stop, err := startSilenceStandIn(clock)
			if err != nil {
				fmt.Fprintf(stderr, "opsbot: %v\n", err)
				return 1
			}
			defer stop()
			cfg.File.Alerts.AlertmanagerURL = url
			silences = standIn
			log.Info("silences go to an in-process stand-in for Alertmanager's API (console mode only): :alert leaves out what they match")
		}
	}
	a, err := buildApp(cfg, appDeps{Chat: ws, Redis: rdb, Clock: clock, Logger: log, SpoolDir: spool, TeamID: consoleTeam, Workers: 4,
		SilenceStandIn: silences != nil})
	if err != nil {
		fmt.Fprintf(stderr, "opsbot: %v\n", err)
		return 1
	}
	for _, w := range a.catalog.Warnings {
		log.Warn("runbook", zap.String("problem", w.String()))
	}
	a.start(context.WithoutCancel(ctx))
	webCtx, stopWeb := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWeb()
	serve(webCtx, webLn, a.web, "web view", log)

	interactive := false
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		interactive = true
	}
	if interactive {
		fmt.Fprintln(stdout, "opsbot console: you are @alice in #general. Type /incident help, or :help for the console's own commands.")
		fmt.Fprintln(stdout, "Nothing here is persisted; set SLACK_APP_TOKEN and SLACK_BOT_TOKEN to run in Slack.")
		fmt.Fprintf(stdout, "Incident pages are served on %s: /incident link in an incident's channel prints a signed link.\n", cfg.PublicURL)
	}
	repl := &console.REPL{Workspace: ws, Handler: a.engine, Clock: clock, User: "U0ALICE", Channel: "C0GENERAL", Team: consoleTeam, Prompt: interactive}
	if a.alerts != nil {
		repl.Commands = map[string]console.Command{
			":alert": newConsoleAlerts(a.alerts, a.hooks(), cfg.AlertsToken.Reveal(), clock, silences).command(),
		}
	}
	runErr := repl.Run(ctx, stdin, ws.Output())

	stopWeb()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := a.shutdown(sctx); err != nil {
		log.Warn("shutdown", zap.Error(err))
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "opsbot: reading input: %v\n", runErr)
		return 1
	}
	return 0
}

const sampleOnCallFile = "integrations/oncallfile/oncall.example.yaml"

// runValidate reports the configuration's problems (earlier, from
// config.Load), then checks the on-call file and every runbook definition,
// printing file:line messages, and exits 1 when anything is wrong.
func runValidate(cfg config.Config, stdout, stderr io.Writer, earlier ...string) int {
	if cfg.ConfigPath == "" && cfg.RunbooksDir == "" && len(earlier) == 0 {
		// Passing silently would let a wrong path in CI look like a pass.
		fmt.Fprintln(stderr, "opsbot validate: nothing to check: no config file (--config, OPSBOT_CONFIG or ./opsbot.yaml) "+
			"and no runbooks directory (--runbooks, OPSBOT_RUNBOOKS or runbooks.dir)")
		return 1
	}
	problems := slices.Clone(earlier)
	if oc := cfg.File.OnCall; oc.File != "" {
		if _, err := oncallfile.Load(oc.File); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", oc.File, err))
		}
	}
	if cfg.RunbooksDir != "" {
		cat, err := runbooks.LoadDir(cfg.RunbooksDir)
		var ps runbooks.Problems
		switch {
		case errors.As(err, &ps):
			for _, p := range ps {
				problems = append(problems, p.String())
			}
		case err != nil:
			problems = append(problems, err.Error())
		default:
			for _, w := range cat.Warnings {
				fmt.Fprintf(stdout, "warning: %s\n", w)
			}
			fmt.Fprintf(stdout, "runbooks: %d valid in %s\n", len(cat.All()), cfg.RunbooksDir)
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "%d problem(s)\n", len(problems))
		return 1
	}
	if cfg.ConfigPath != "" {
		fmt.Fprintf(stdout, "config: %s is valid\n", cfg.ConfigPath)
	}
	return 0
}

// runExport prints an incident's post-mortem from Redis.
func runExport(ctx context.Context, cfg config.Config, o exportOptions, stdout, stderr io.Writer) int {
	log := newLogger(cfg.LogLevel, stderr, true)
	if cfg.RedisURL == "" && len(cfg.File.Redis.Addrs) == 0 {
		fmt.Fprintln(stderr, "opsbot export: set REDIS_URL (or redis.addrs in the config file): incidents live in Redis")
		return 1
	}
	rdb, spool, cleanup, err := storeWithTempSpool(ctx, &cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "opsbot export: %v\n", err)
		return 1
	}
	defer cleanup()
	cfg.RunbooksDir = ""
	// With Slack tokens the document names people; without, it shows IDs.
	var chat frontEnd = console.NewWorkspace(io.Discard, bot.SystemClock, "")
	if !cfg.Console() {
		sc, err := slack.New(slack.Config{AppToken: cfg.SlackAppToken.Reveal(), BotToken: cfg.SlackBotToken.Reveal(),
			APIURL: cfg.SlackAPIURL, Logger: log.Named("slack")})
		if err != nil {
			fmt.Fprintf(stderr, "opsbot export: %v\n", err)
			return 1
		}
		chat = sc
	}
	a, err := buildApp(cfg, appDeps{Chat: chat, Redis: rdb, Logger: log, SpoolDir: spool})
	if err != nil {
		fmt.Fprintf(stderr, "opsbot export: %v\n", err)
		return 1
	}
	defer a.shutdown(context.Background())
	doc, err := a.incidents.Export(ctx, o.incident, o.format)
	if err != nil {
		fmt.Fprintf(stderr, "opsbot export: %s\n", bot.UserMessage(err, ""))
		return 1
	}
	stdout.Write(doc)
	return 0
}

// profiling is the profile routes when OPSBOT_PPROF asks for them.
func profiling(cfg config.Config) []route {
	if !cfg.Profiling() {
		return nil
	}
	return profileRoutes()
}
