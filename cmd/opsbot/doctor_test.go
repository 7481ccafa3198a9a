package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

const doctorPDToken = "pd-doctor-token-123"

// doctorSetup is a healthy installation against the fakes; each test case
// breaks one thing in it.
type doctorSetup struct {
	t     *testing.T
	slack *fakeslack.Server
	pd    *fakepd.Server
	env   map[string]string
	// scopes is what the Slack proxy reports in X-OAuth-Scopes on
	// auth.test; nil sends no header.
	scopes []string
	// notMember lists channels the proxy reports the bot is not in: the fake
	// puts the bot in every channel it creates.
	notMember map[string]bool

	teamID                                  string
	admins, responderUsers, responderGroups []string
	broadcast, handoff, scheduleID          string
	handoffGroup                            string
	services                                map[string]string
	spoolDir                                string
	runbooks                                map[string]string
	// runbookIsolation is runbooks.isolation in the config ("": unset).
	runbookIsolation string
	// alerts is the config's alerts: section, indented ("": none).
	alerts string
	// privateInfoError, when set, is the error the proxy answers to
	// conversations.info for private channels, as Slack may for an app
	// without groups:read (the manifest does not request it).
	privateInfoError string
}

// slackProxy sits in front of the fake Slack and adds the X-OAuth-Scopes
// header that real Slack sends with every Web API answer, so each case
// decides which scopes the installed app has. It also clears is_member in
// conversations.info answers for the channels in s.notMember.
func slackProxy(t *testing.T, target string, s *doctorSetup) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if s.scopes != nil {
			r.Header.Set("X-OAuth-Scopes", strings.Join(s.scopes, ","))
		}
		if !strings.HasSuffix(r.Request.URL.Path, "/conversations.info") {
			return nil
		}
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			ch, ok := m["channel"].(map[string]any)
			switch {
			case ok && ch["is_private"] == true && s.privateInfoError == "missing_scope":
				body, _ = json.Marshal(map[string]any{"ok": false, "error": "missing_scope", "needed": "groups:read",
					"provided": strings.Join(s.scopes, ",")})
			case ok && ch["is_private"] == true && s.privateInfoError != "":
				body, _ = json.Marshal(map[string]any{"ok": false, "error": s.privateInfoError})
			case ok && s.notMember[fmt.Sprint(ch["id"])]:
				ch["is_member"] = false
				body, _ = json.Marshal(m)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL + "/api/"
}

func newDoctorSetup(t *testing.T, redisURL string) *doctorSetup {
	t.Helper()
	s := &doctorSetup{t: t, scopes: deploy.BotScopes(), notMember: map[string]bool{}}
	s.slack = fakeslack.New(t)
	s.slack.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"})
	s.slack.AddUser(fakeslack.User{ID: "U0BOB", Name: "bob", Email: "bob@example.com"})
	s.broadcast = s.slack.AddChannel("incidents", fakeslack.BotUserID)
	s.handoff = s.slack.AddChannel("payments-oncall", fakeslack.BotUserID, "U0ALICE")
	ops := s.slack.AddChannel("ops", "U0ALICE") // runbooks may run here; the bot needs no membership
	sre := s.slack.AddUsergroup("sre", "U0ALICE", "U0BOB")
	s.handoffGroup = s.slack.AddUsergroup("oncall-payments", "U0ALICE")

	s.pd = fakepd.New(t, doctorPDToken)
	s.pd.AddUser(fakepd.User{ID: "PUSER1", Name: "Alice", Email: "alice@example.com"})
	now := time.Now().UTC()
	s.pd.SetSchedule(fakepd.Schedule{ID: "PSCHED01", Name: "Payments primary",
		Layers: [][]fakepd.Entry{{{UserID: "PUSER1", Start: now.Add(-time.Hour), End: now.Add(7 * 24 * time.Hour)}}}})
	s.pd.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP1", Name: "payments", Rules: []fakepd.Rule{{Level: 1, ScheduleID: "PSCHED01"}}})
	s.pd.AddService(fakepd.Service{ID: "PSVC001", Name: "Checkout", EscalationPolicyID: "PEP1"})

	s.teamID = fakeslack.TeamID
	s.admins = []string{"U0ALICE"}
	s.responderUsers = []string{"U0BOB"}
	s.responderGroups = []string{sre}
	s.scheduleID = "PSCHED01"
	s.services = map[string]string{"checkout": "PSVC001"}
	s.spoolDir = filepath.Join(t.TempDir(), "spool")
	s.runbooks = map[string]string{
		"disk-usage.yaml": fmt.Sprintf(`name: disk-usage
description: Disk usage of the bot's file systems
command: ["df", "-h"]
timeout: 10s
allow: {usergroups: [%s], channels: [%s]}
`, sre, ops),
	}
	s.env = map[string]string{
		"SLACK_APP_TOKEN":   s.slack.AppToken(),
		"SLACK_BOT_TOKEN":   s.slack.BotToken(),
		"SLACK_API_URL":     slackProxy(t, s.slack.URL(), s),
		"PAGERDUTY_TOKEN":   doctorPDToken,
		"PAGERDUTY_API_URL": s.pd.URL,
		"REDIS_URL":         redisURL,
	}
	return s
}

func yamlList(ids []string) string { return "[" + strings.Join(ids, ", ") + "]" }

// run writes the config and runbooks, loads the configuration the way
// main does and runs the doctor.
func (s *doctorSetup) run() (string, int) {
	t := s.t
	t.Helper()
	dir := t.TempDir()
	var services strings.Builder
	for name, id := range s.services {
		fmt.Fprintf(&services, "    %s: %s\n", name, id)
	}
	cfgYAML := fmt.Sprintf(`admins: %s
team_id: %q
incidents:
  broadcast_channel: %s
  responders: {users: %s, usergroups: %s}
oncall:
  schedules:
    - {id: %s, name: payments, handoff_channel: %s, usergroup: %s}
pagerduty:
  from_email: opsbot@example.com
  services:
%sredis:
  spool_dir: %s
`, yamlList(s.admins), s.teamID, s.broadcast, yamlList(s.responderUsers), yamlList(s.responderGroups),
		s.scheduleID, s.handoff, s.handoffGroup, services.String(), s.spoolDir)
	if s.runbookIsolation != "" {
		cfgYAML += "runbooks: {isolation: " + s.runbookIsolation + "}\n"
	}
	if s.alerts != "" {
		cfgYAML += "alerts:\n" + s.alerts
	}
	cfgPath := filepath.Join(dir, "opsbot.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range s.runbooks {
		if err := os.WriteFile(filepath.Join(rbDir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"OPSBOT_CONFIG": cfgPath, "OPSBOT_RUNBOOKS": rbDir}
	for k, v := range s.env {
		env[k] = v
	}
	cfg, _, err := config.Load(nil, func(k string) string { return env[k] }, os.ReadFile)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	var out bytes.Buffer
	code := runDoctor(context.Background(), cfg, &out)
	return out.String(), code
}

// linesWith returns the output lines of a level.
func linesWith(out, level string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, level+"  ") {
			got = append(got, l)
		}
	}
	return got
}

func TestDoctor(t *testing.T) {
	healthyRedis := redistest.NewServer(t, redistest.WithAppendOnly())
	tests := []struct {
		name string
		// redis picks the store: "" the healthy shared server with AOF,
		// "nopersist", "down" or "unset".
		redis    string
		breakIt  func(s *doctorSetup)
		wantCode int
		// want are substrings of lines at the given level; wantLevel is the
		// level expected for them.
		wantLevel string
		want      []string
	}{
		{
			name:      "healthy",
			wantCode:  0,
			wantLevel: levelPass,
			want: []string{
				"slack auth.test: bot @opsbot (U0BOT) in team Fake (T0FAKE)",
				fmt.Sprintf("slack scopes: all %d scopes of the manifest are granted", len(deploy.BotScopes())),
				"slack app token: Socket Mode connections can be opened",
				"#incidents (incidents.broadcast_channel)",
				"#payments-oncall (oncall.schedules[payments].handoff_channel)",
				"#ops (runbook disk-usage allow.channels)",
				"@sre (incidents.responders.usergroups, runbook disk-usage allow.usergroups)",
				"@oncall-payments (oncall.schedules[payments].usergroup)",
				"slack user U0ALICE @alice (admins)",
				"slack user U0BOB @bob (incidents.responders.users)",
				"reachable and writable",
				"persistence on (appendonly yes)",
				"spool_dir",
				"pagerduty token: accepted",
				`pagerduty schedule PSCHED01 (payments): "Payments primary"`,
				`pagerduty service PSVC001 (pagerduty.services.checkout): "Checkout"`,
				"runbook disk-usage: ",
				"oncall: 1 of 1 people on call in the next 14 days map to Slack users",
				"runbook isolation: each run in its own PID namespace",
				"runbook processes: a runbook process cannot read opsbot's environment or memory",
			},
		},
		{
			name:    "runbooks held by their process group only",
			breakIt: func(s *doctorSetup) { s.runbookIsolation = "group" },
			// As root, the fallback lets runbooks read opsbot (next case).
			wantCode: rootCode(1, 0), wantLevel: levelWarn,
			want: []string{"runbook isolation: process group only (configured (runbooks.isolation: group)): a runbook that calls setsid and clears its environment can outlive its run"},
		},
		{
			name:     "root without namespaces: runbooks can read opsbot",
			breakIt:  func(s *doctorSetup) { s.runbookIsolation = "group" },
			wantCode: rootCode(1, 0), wantLevel: rootLevel(levelFail, levelPass),
			want: []string{rootLevel("runbook processes: a runbook process read opsbot's environment (group isolation, uid 0)",
				"runbook processes: a runbook process cannot read opsbot's environment or memory")},
		},
		{
			name: "runbook can name the bot's own Redis",
			breakIt: func(s *doctorSetup) {
				s.runbooks["flush.yaml"] = "name: flush\ndescription: flush a cache\n" +
					"command: [\"/bin/echo\", \"{{host}}\"]\nparams: {host: {enum: [cache.internal, localhost], default: cache.internal}}\n"
			},
			wantCode: 0, wantLevel: levelWarn,
			want: []string{"runbook flush: parameter host can be localhost, opsbot's own Redis"},
		},
		{
			name: "on-call person without a Slack account",
			breakIt: func(s *doctorSetup) {
				now := time.Now().UTC()
				s.pd.AddUser(fakepd.User{ID: "PZED", Name: "Zed Contractor", Email: "zed@contractor.example"})
				s.pd.SetSchedule(fakepd.Schedule{ID: "PSCHED01", Name: "Payments primary", Layers: [][]fakepd.Entry{{
					{UserID: "PUSER1", Start: now.Add(-time.Hour), End: now.Add(24 * time.Hour)},
					{UserID: "PZED", Start: now.Add(24 * time.Hour), End: now.Add(48 * time.Hour)},
				}}})
			},
			wantCode: 0, wantLevel: levelWarn,
			want: []string{"oncall Zed Contractor <zed@contractor.example> (payments): no Slack user has this e-mail"},
		},
		{
			// The on-call service only logs a failed look-up; the doctor
			// reports it.
			name:     "on-call e-mail look-up refused",
			breakIt:  func(s *doctorSetup) { s.slack.FailNext("users.lookupByEmail", "missing_scope") },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"oncall Alice <alice@example.com>: users.lookupByEmail: missing_scope: the app lacks a scope"},
		},
		{
			name:     "no slack tokens",
			breakIt:  func(s *doctorSetup) { delete(s.env, "SLACK_APP_TOKEN"); delete(s.env, "SLACK_BOT_TOKEN") },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"slack: SLACK_APP_TOKEN and SLACK_BOT_TOKEN must both be set"},
		},
		{
			name:     "bot token revoked",
			breakIt:  func(s *doctorSetup) { s.env["SLACK_BOT_TOKEN"] = "xoxb-revoked" },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"slack auth.test: invalid_auth: the token is wrong or was revoked"},
		},
		{
			name:     "app token wrong",
			breakIt:  func(s *doctorSetup) { s.env["SLACK_APP_TOKEN"] = "xapp-1-wrong" },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"slack app token: apps.connections.open: invalid_auth"},
		},
		{
			name: "scope missing",
			breakIt: func(s *doctorSetup) {
				s.scopes = slices.DeleteFunc(slices.Clone(s.scopes), func(x string) bool { return x == "pins:write" })
			},
			wantCode: 1, wantLevel: levelFail,
			want: []string{"slack scope missing: pins:write"},
		},
		{
			name:     "scope granted but unused",
			breakIt:  func(s *doctorSetup) { s.scopes = append(slices.Clone(s.scopes), "chat:write.public") },
			wantCode: 0, wantLevel: levelWarn,
			want: []string{"slack scope not needed: chat:write.public"},
		},
		{
			name:     "scopes not reported",
			breakIt:  func(s *doctorSetup) { s.scopes = nil },
			wantCode: 0, wantLevel: levelWarn,
			want: []string{"slack scopes: Slack did not report the granted scopes"},
		},
		{
			name:     "broadcast channel does not exist",
			breakIt:  func(s *doctorSetup) { s.broadcast = "C0NOPE" },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"slack channel C0NOPE (incidents.broadcast_channel): channel_not_found"},
		},
		{
			name:     "bot not in the handoff channel",
			breakIt:  func(s *doctorSetup) { s.notMember[s.handoff] = true },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"#payments-oncall (oncall.schedules[payments].handoff_channel): the bot is not a member", "/invite @opsbot"},
		},
		{
			name: "broadcast channel archived",
			breakIt: func(s *doctorSetup) {
				api := slack.New(s.slack.BotToken(), slack.OptionAPIURL(s.slack.APIURL()))
				if err := api.ArchiveConversation(s.broadcast); err != nil {
					s.t.Fatalf("archive: %v", err)
				}
			},
			wantCode: 1, wantLevel: levelFail,
			want: []string{"#incidents (incidents.broadcast_channel): archived"},
		},
		{
			name:     "user group does not exist",
			breakIt:  func(s *doctorSetup) { s.responderGroups = []string{"S0NOPE"} },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"slack user group S0NOPE (incidents.responders.usergroups): not found"},
		},
		{
			name:     "admin does not exist",
			breakIt:  func(s *doctorSetup) { s.admins = []string{"U0NOBODY"} },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"slack user U0NOBODY (admins): user_not_found"},
		},
		{
			name: "redis down", redis: "down",
			wantCode: 1, wantLevel: levelFail,
			want: []string{"unreachable"},
		},
		{
			name: "redis without persistence", redis: "nopersist",
			wantCode: 0, wantLevel: levelWarn,
			want: []string{`no persistence (appendonly no, save "")`},
		},
		{
			name: "redis not configured", redis: "unset",
			wantCode: 1, wantLevel: levelFail,
			want: []string{"redis: not configured (REDIS_URL, or redis.addrs", "Socket Mode refuses to start without Redis"},
		},
		{
			name: "redis not configured, ephemeral store allowed", redis: "unset",
			breakIt:  func(s *doctorSetup) { s.env["OPSBOT_ALLOW_EPHEMERAL_STORE"] = "1" },
			wantCode: 0, wantLevel: levelWarn,
			want: []string{"redis: not configured (REDIS_URL, or redis.addrs", "lost on restart"},
		},
		{
			name:     "spool directory not writable",
			breakIt:  func(s *doctorSetup) { s.spoolDir = "/dev/null/spool" },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"redis spool_dir /dev/null/spool: cannot create"},
		},
		{
			name:     "pagerduty token rejected",
			breakIt:  func(s *doctorSetup) { s.env["PAGERDUTY_TOKEN"] = "wrong-token" },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"pagerduty token: 401 unauthorized"},
		},
		{
			name:     "followed schedule does not exist",
			breakIt:  func(s *doctorSetup) { s.scheduleID = "PNOPE" },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"pagerduty schedule PNOPE (payments): not found"},
		},
		{
			name:     "paging service does not exist",
			breakIt:  func(s *doctorSetup) { s.services = map[string]string{"checkout": "PNOSVC"} },
			wantCode: 1, wantLevel: levelFail,
			want: []string{"pagerduty service PNOSVC (pagerduty.services.checkout): not found"},
		},
		{
			name: "runbook command missing",
			breakIt: func(s *doctorSetup) {
				s.runbooks["gone.yaml"] = "name: gone\ndescription: needs a tool\ncommand: [\"opsbot-no-such-tool\", \"x\"]\ntimeout: 5s\n"
			},
			wantCode: 1, wantLevel: levelFail,
			want: []string{"runbook gone: ", "opsbot-no-such-tool"},
		},
		{
			name: "runbook invalid",
			breakIt: func(s *doctorSetup) {
				s.runbooks["bad.yaml"] = "name: bad\ndescription: typo\ncommand: [\"df\"]\ntimeout: 5s\nallwo: {}\n"
			},
			wantCode: 1, wantLevel: levelFail,
			want: []string{"runbooks: ", "bad.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redisURL := healthyRedis.URL()
			switch tt.redis {
			case "nopersist":
				redisURL = redistest.NewServer(t).URL()
			case "down":
				srv := redistest.NewServer(t)
				redisURL = srv.URL()
				srv.Stop()
			case "unset":
				redisURL = ""
			}
			s := newDoctorSetup(t, redisURL)
			if redisURL == "" {
				delete(s.env, "REDIS_URL")
			}
			if tt.breakIt != nil {
				tt.breakIt(s)
			}
			out, code := s.run()
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, tt.wantCode, out)
			}
			lines := strings.Join(linesWith(out, tt.wantLevel), "\n")
			for _, w := range tt.want {
				if !strings.Contains(lines, w) {
					t.Errorf("no %s line contains %q; got:\n%s", tt.wantLevel, w, out)
				}
			}
			if tt.name == "healthy" {
				if bad := append(linesWith(out, levelWarn), linesWith(out, levelFail)...); len(bad) > 0 {
					t.Errorf("healthy installation got WARN/FAIL lines:\n%s", strings.Join(bad, "\n"))
				}
			} else if got := len(linesWith(out, levelFail)); (got > 0) != (tt.wantCode == 1) {
				t.Errorf("got %d FAIL lines with exit code %d:\n%s", got, code, out)
			}
			for _, secret := range []string{s.slack.BotToken(), s.slack.AppToken(), doctorPDToken, "xoxb-revoked", "xapp-1-wrong", "wrong-token"} {
				if strings.Contains(out, secret) {
					t.Errorf("output contains the token %q", secret)
				}
			}
			if !strings.Contains(out, "doctor: ") {
				t.Errorf("no summary line:\n%s", out)
			}
		})
	}
}

// TestDoctorSubcommand runs `opsbot doctor` through main's dispatch: the
// exit code of the report is the exit code of the process.
func TestDoctorSubcommand(t *testing.T) {
	s := newDoctorSetup(t, "")
	delete(s.env, "REDIS_URL")
	tests := []struct {
		name     string
		env      map[string]string
		wantCode int
		wantLine string
	}{
		{"healthy but no redis", s.env, 1, "FAIL  redis: not configured"},
		{"revoked bot token", map[string]string{"SLACK_APP_TOKEN": s.slack.AppToken(), "SLACK_BOT_TOKEN": "xoxb-revoked",
			"SLACK_API_URL": s.env["SLACK_API_URL"]}, 1, "FAIL  slack auth.test: invalid_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"doctor"}, func(k string) string { return tt.env[k] }, strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantLine) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantLine, stdout.String())
			}
		})
	}
}

// rootCode and rootLevel pick what doctor reports depending on whether the
// tests (and so the doctor, and its runbooks) run as root.
func rootCode(asRoot, otherwise int) int {
	if os.Geteuid() == 0 {
		return asRoot
	}
	return otherwise
}

func rootLevel(asRoot, otherwise string) string {
	if os.Geteuid() == 0 {
		return asRoot
	}
	return otherwise
}

// TestDoctorPrivateAlertChannel: an alert route's channel that is private
// is reported, because opsbot's crash recovery cannot search its history,
// however Slack answers conversations.info for it without groups:read.
func TestDoctorPrivateAlertChannel(t *testing.T) {
	redis := redistest.NewServer(t, redistest.WithAppendOnly())
	const recovery = "crash recovery cannot search it (conversations.history needs groups:history, which opsbot does not request), " +
		"so a crash right after posting may leave two messages for one alert group; use a public channel for alerts"
	tests := []struct {
		name string
		// privateRoute makes the route's channel private, privateBroadcast
		// the incident broadcast channel.
		privateRoute, privateBroadcast bool
		privateInfoError               string
		wantCode                       int
		want                           map[string][]string // level → substrings of its lines
	}{
		{
			name: "public alert channels", wantCode: 0,
			want: map[string][]string{levelPass: {"#alerts (alerts.default_channel)", "#alerts-db (alerts.routes[0].channel)"}},
		},
		{
			name: "private route channel", privateRoute: true, wantCode: 0,
			want: map[string][]string{
				levelWarn: {"#alerts-db (alerts.routes[0].channel): a private channel: opsbot can post there once invited, but its " + recovery},
				levelPass: {"#alerts (alerts.default_channel)"},
			},
		},
		{
			name: "private route channel, Slack answers missing_scope", privateRoute: true, privateInfoError: "missing_scope", wantCode: 0,
			want: map[string][]string{levelWarn: {
				"(alerts.routes[0].channel): Slack answered missing_scope, which it may for a private channel when the app lacks groups:read",
				"doctor cannot check the channel. If it is private, opsbot can post there once invited, but its " + recovery,
			}},
		},
		{
			name: "private route channel, Slack answers channel_not_found", privateRoute: true, privateInfoError: "channel_not_found", wantCode: 1,
			want: map[string][]string{levelFail: {
				"(alerts.routes[0].channel): channel_not_found: no such channel, or a private channel the bot is not in or cannot see without groups:read",
				"If it is private, opsbot can post there once invited, but its " + recovery,
			}},
		},
		{
			// Only alert messages are looked for in a channel's history.
			name: "private broadcast channel", privateBroadcast: true, wantCode: 0,
			want: map[string][]string{levelPass: {"#incidents-private (incidents.broadcast_channel)", "#alerts-db (alerts.routes[0].channel)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newDoctorSetup(t, redis.URL())
			api := slack.New(s.slack.BotToken(), slack.OptionAPIURL(s.slack.APIURL()))
			channel := func(name string, private bool) string {
				if !private {
					return s.slack.AddChannel(name, fakeslack.BotUserID)
				}
				ch, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: name, IsPrivate: true})
				if err != nil {
					t.Fatalf("create private channel: %v", err)
				}
				return ch.ID
			}
			if tt.privateBroadcast {
				s.broadcast = channel("incidents-private", true)
			}
			s.alerts = fmt.Sprintf("  default_channel: %s\n  routes:\n    - match: {team: db}\n      channel: %s\n",
				channel("alerts", false), channel("alerts-db", tt.privateRoute))
			s.env["OPSBOT_ALERTS_TOKEN"] = "0123456789abcdef"
			s.privateInfoError = tt.privateInfoError
			out, code := s.run()
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, tt.wantCode, out)
			}
			for level, want := range tt.want {
				lines := strings.Join(linesWith(out, level), "\n")
				for _, w := range want {
					if !strings.Contains(lines, w) {
						t.Errorf("no %s line contains %q; got:\n%s", level, w, out)
					}
				}
			}
			if !tt.privateRoute && strings.Contains(out, "crash recovery") {
				t.Errorf("warned about crash recovery with public alert channels:\n%s", out)
			}
		})
	}
}
