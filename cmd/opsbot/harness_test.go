package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// world is the fake Slack workspace end-to-end tests run in, with the IDs
// the fake gave its channels and user groups.
type world struct {
	Slack *fakeslack.Server
	// Redis is the test's own client on the data the bots use; Target
	// says which deployment that is and how a bot is pointed at it.
	Redis  oredis.Client
	Target redistest.Target
	// Channel IDs.
	General, Incidents, Ops, Payments string
	// User group IDs.
	SRE, SRELeads, OnCallPay string
}

// People of the test workspace. Their e-mails match the sample on-call file
// and fakepd fixtures.
const (
	alice = "U0ALICE" // admin
	bob   = "U0BOB"
	carol = "U0CAROL" // SRE lead
	dana  = "U0DANA"
	guest = "U0GUEST" // multi-channel guest
)

// newWorld starts a fake Slack with the test workspace and a real Redis
// server.
func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOn(t, redistest.KindSingle)
}

// onEveryTopology runs an end-to-end test with Redis as a single server,
// through Sentinel and as a Cluster: the same test, not a copy, so that what
// it checks holds on each deployment opsbot supports.
func onEveryTopology(t *testing.T, test func(t *testing.T, kind redistest.Kind)) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) { test(t, kind) })
	}
}

// redisSettings points a bot at target as an operator would: REDIS_URL for
// a single server, the config file's redis: section for Sentinel and
// Cluster.
func redisSettings(tg redistest.Target) (env map[string]string, yaml string) {
	if tg.Kind == redistest.KindSingle {
		return map[string]string{"REDIS_URL": tg.URL}, ""
	}
	yaml = fmt.Sprintf("\nredis:\n  addrs: [%s]\n", strings.Join(tg.Addrs, ", "))
	if tg.MasterName != "" {
		yaml += fmt.Sprintf("  master_name: %s\n  db: %d\n", tg.MasterName, tg.DB)
	}
	return nil, yaml
}

// connectRedisForTest connects to Redis from cfg as runSlack does, minus
// the process-wide go-redis logger, and closes the client when the test
// ends.
func connectRedisForTest(t *testing.T, cfg config.Config) oredis.Client {
	t.Helper()
	c, err := oredis.New(testCtx(t), redisConfig(cfg))
	if err != nil {
		t.Fatalf("connect to redis from the config: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newWorldOn starts a fake Slack with the test workspace and Redis as the
// kind of deployment given.
func newWorldOn(t *testing.T, kind redistest.Kind) *world {
	t.Helper()
	return newWorldWith(t, redistest.Shared(t, kind))
}

// newWorldWith starts a fake Slack with the test workspace on the given
// Redis target (a topology the test owns, to kill its processes).
func newWorldWith(t *testing.T, tg redistest.Target) *world {
	t.Helper()
	fs := fakeslack.New(t)
	for _, u := range []fakeslack.User{
		{ID: alice, Name: "alice", RealName: "Alice Example", Email: "alice@example.com"},
		{ID: bob, Name: "bob", RealName: "Bob Example", Email: "bob@example.com"},
		{ID: carol, Name: "carol", RealName: "Carol Example", Email: "carol@example.com"},
		{ID: dana, Name: "dana", RealName: "Dana Lead", Email: "dana@example.com"},
		{ID: guest, Name: "gus", RealName: "Gus Guest", Email: "gus@partner.example", IsRestricted: true},
	} {
		fs.AddUser(u)
	}
	w := &world{Slack: fs, Redis: tg.Client, Target: tg}
	w.General = fs.AddChannel("general", alice, bob, carol, dana, guest)
	w.Incidents = fs.AddChannel("incidents", alice, bob, carol, dana)
	w.Ops = fs.AddChannel("ops", alice, bob, carol)
	w.Payments = fs.AddChannel("payments", alice, bob, carol)
	w.SRE = fs.AddUsergroup("sre", alice, bob)
	w.SRELeads = fs.AddUsergroup("sre-leads", carol, dana)
	w.OnCallPay = fs.AddUsergroup("oncall-payments")
	return w
}

// botOptions tune one bot instance.
type botOptions struct {
	// ConfigYAML is the config file's content; empty means a default with
	// alice as admin and #incidents as broadcast channel.
	ConfigYAML string
	// RunbooksDir defaults to no runbooks.
	RunbooksDir string
	// Env adds environment variables (e.g. PAGERDUTY_TOKEN, PAGERDUTY_API_URL).
	Env   map[string]string
	Clock bot.Clock
	// SpoolDir defaults to a fresh temporary directory.
	SpoolDir string
	// NoBackground skips reminders, on-call sync and the timeline flusher
	// loop (a test drives them itself).
	NoBackground bool
}

// testBot is one running bot instance (one replica) connected to the world.
type testBot struct {
	App    *app
	Client *slack.Client
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	t      *testing.T
}

func (w *world) defaultConfig() string {
	return fmt.Sprintf("admins: [%s]\nincidents:\n  broadcast_channel: %s\n", alice, w.Incidents)
}

// startBot wires a full opsbot exactly as main does (config from env and
// file, Redis, Slack client, Socket Mode listener) against the world.
func (w *world) startBot(t *testing.T, o botOptions) *testBot {
	t.Helper()
	if o.ConfigYAML == "" {
		o.ConfigYAML = w.defaultConfig()
	}
	env := map[string]string{
		"SLACK_APP_TOKEN": w.Slack.AppToken(), "SLACK_BOT_TOKEN": w.Slack.BotToken(),
		"SLACK_API_URL": w.Slack.APIURL(), "OPSBOT_CONFIG": "opsbot.yaml",
	}
	if o.RunbooksDir != "" {
		env["OPSBOT_RUNBOOKS"] = o.RunbooksDir
	}
	redisEnv, redisYAML := redisSettings(w.Target)
	for k, v := range redisEnv {
		env[k] = v
	}
	for k, v := range o.Env {
		env[k] = v
	}
	cfg, _, err := config.Load(nil, func(k string) string { return env[k] }, func(p string) ([]byte, error) {
		if p == "opsbot.yaml" {
			return []byte(o.ConfigYAML + redisYAML), nil
		}
		return os.ReadFile(p)
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := zaptest.NewLogger(t)
	reg := prometheus.NewRegistry()
	sc, err := slack.New(slack.Config{AppToken: cfg.SlackAppToken.Reveal(), BotToken: cfg.SlackBotToken.Reveal(),
		APIURL: cfg.SlackAPIURL, Logger: log.Named("slack"), Registerer: reg})
	if err != nil {
		t.Fatalf("slack: %v", err)
	}
	if o.SpoolDir == "" {
		o.SpoolDir = t.TempDir()
	}
	rdb := connectRedisForTest(t, cfg)
	a, err := buildApp(cfg, appDeps{Chat: sc, Redis: rdb, Clock: o.Clock, Logger: log, Registry: reg,
		SpoolDir: o.SpoolDir, TeamID: fakeslack.TeamID})
	if err != nil {
		t.Fatalf("build app: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &testBot{App: a, Client: sc, cancel: cancel, done: make(chan struct{}), t: t}
	a.startParts(context.Background(), !o.NoBackground)
	go func() {
		defer close(b.done)
		_ = sc.Listen(ctx, a.engine)
	}()
	t.Cleanup(b.stop)
	return b
}

// stop shuts the instance down as SIGTERM does: intake first, then the
// ordered shutdown.
func (b *testBot) stop() {
	b.once.Do(func() {
		b.cancel()
		<-b.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.App.shutdown(ctx); err != nil {
			b.t.Logf("shutdown: %v", err)
		}
	})
}

// ctx returns a context bounded for one end-to-end step.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// slash sends a slash command as user in channel and waits for its ack.
func (w *world) slash(t *testing.T, user, channel, command, text string) fakeslack.Sent {
	t.Helper()
	sent, err := w.Slack.SendSlashCommand(fakeslack.SlashCommand{Command: command, Text: text, UserID: user, ChannelID: channel})
	if err != nil {
		t.Fatalf("send %s %s: %v", command, text, err)
	}
	if _, err := w.Slack.WaitAck(testCtx(t), sent.EnvelopeID); err != nil {
		t.Fatalf("ack of %s %s: %v", command, text, err)
	}
	return sent
}

// waitFor waits until cond holds, failing with what it was waiting for.
func (w *world) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := w.Slack.WaitUntil(testCtx(t), cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// ephemeralContaining waits for an ephemeral message to user in channel
// containing text and returns it.
func (w *world) ephemeralContaining(t *testing.T, channel, user, text string) fakeslack.Ephemeral {
	t.Helper()
	var found fakeslack.Ephemeral
	w.waitFor(t, fmt.Sprintf("ephemeral to %s containing %q", user, text), func() bool {
		for _, e := range w.Slack.Ephemerals(channel, user) {
			if strings.Contains(bot.DateFallbacks(e.Rendered()), text) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// messageContaining waits for a channel message containing text.
func (w *world) messageContaining(t *testing.T, channel, text string) fakeslack.Message {
	t.Helper()
	var found fakeslack.Message
	w.waitFor(t, fmt.Sprintf("message in %s containing %q", channel, text), func() bool {
		for _, m := range w.Slack.Messages(channel) {
			if strings.Contains(bot.DateFallbacks(m.Rendered()), text) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}
