package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/runbook"
)

const (
	testAppToken = "xapp-1-A0TEST-1234567890-SECRETAPPTOKENVALUE"
	testBotToken = "xoxb-1234-5678-SECRETBOTTOKENVALUE"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func noFile(string) ([]byte, error) { return nil, os.ErrNotExist }

func files(m map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if s, ok := m[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		files   map[string]string
		wantErr []string // substrings, all must appear
		check   func(t *testing.T, c Config)
	}{
		{
			name: "no configuration is console mode",
			check: func(t *testing.T, c Config) {
				if !c.Console() {
					t.Errorf("Console() = false, want true")
				}
				if c.HTTPAddr != "" {
					t.Errorf("HTTPAddr = %q, want off in console mode", c.HTTPAddr)
				}
				if c.SlackAPIURL != "https://slack.com/api/" {
					t.Errorf("SlackAPIURL = %q", c.SlackAPIURL)
				}
			},
		},
		{
			name: "both tokens select socket mode with defaults",
			env:  map[string]string{"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken},
			check: func(t *testing.T, c Config) {
				if c.Console() {
					t.Errorf("Console() = true, want false")
				}
				if c.HTTPAddr != ":8080" || c.LogLevel != "info" || c.PagerDutyAPIURL != "https://api.pagerduty.com" {
					t.Errorf("defaults: got %q %q %q", c.HTTPAddr, c.LogLevel, c.PagerDutyAPIURL)
				}
			},
		},
		{
			name:    "app token with wrong prefix",
			env:     map[string]string{"SLACK_APP_TOKEN": "xoxb-" + "NOTANAPPTOKEN", "SLACK_BOT_TOKEN": testBotToken},
			wantErr: []string{"SLACK_APP_TOKEN must start with xapp-"},
		},
		{
			name:    "bot token with wrong prefix",
			env:     map[string]string{"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": "xoxp-USERTOKEN"},
			wantErr: []string{"SLACK_BOT_TOKEN must start with xoxb-"},
		},
		{
			name:    "one token only",
			env:     map[string]string{"SLACK_BOT_TOKEN": testBotToken},
			wantErr: []string{"SLACK_APP_TOKEN is not set"},
		},
		{
			name:    "every problem reported at once",
			env:     map[string]string{"SLACK_API_URL": "https://slack.example/api", "OPSBOT_LOG_LEVEL": "loud", "REDIS_URL": "http://user:hunter2@redis:6379"},
			wantErr: []string{"SLACK_API_URL must end with /", "OPSBOT_LOG_LEVEL", "REDIS_URL must use redis or rediss"},
		},
		{
			name:    "profiling switch",
			env:     map[string]string{"OPSBOT_PPROF": "yes please"},
			wantErr: []string{"OPSBOT_PPROF must be true or false"},
		},
		{
			name: "profiling on",
			env:  map[string]string{"OPSBOT_PPROF": "true"},
			check: func(t *testing.T, c Config) {
				if !c.Profiling() {
					t.Error("Profiling() = false with OPSBOT_PPROF=true")
				}
			},
		},
		{
			name: "profiling off by default",
			check: func(t *testing.T, c Config) {
				if c.Profiling() {
					t.Error("Profiling() = true without OPSBOT_PPROF")
				}
			},
		},
		{
			name: "env wins over flags",
			args: []string{"--runbooks", "from-flag", "--log-level", "debug"},
			env:  map[string]string{"OPSBOT_RUNBOOKS": "from-env"},
			check: func(t *testing.T, c Config) {
				if c.RunbooksDir != "from-env" || c.LogLevel != "debug" {
					t.Errorf("got runbooks %q level %q, want from-env, debug", c.RunbooksDir, c.LogLevel)
				}
			},
		},
		{
			name:  "config file read and strictly decoded",
			env:   map[string]string{"OPSBOT_CONFIG": "ops.yaml"},
			files: map[string]string{"ops.yaml": "admins: [U0ADMIN]\nrunbooks: {dir: rb}\npagerduty: {from_email: a@b.c, services: {checkout: PSVC001}}\n"},
			check: func(t *testing.T, c Config) {
				if len(c.File.Admins) != 1 || c.RunbooksDir != "rb" || c.File.PagerDuty.Services["checkout"] != "PSVC001" {
					t.Errorf("file not applied: %+v", c.File)
				}
			},
		},
		{
			name:    "unknown key in config file",
			env:     map[string]string{"OPSBOT_CONFIG": "ops.yaml"},
			files:   map[string]string{"ops.yaml": "admins: [U0ADMIN]\nadmnis: [U0TYPO]\n"},
			wantErr: []string{"ops.yaml", "admnis"},
		},
		{
			name:    "explicit config file missing",
			env:     map[string]string{"OPSBOT_CONFIG": "nope.yaml"},
			wantErr: []string{"config file"},
		},
		{
			name:    "admin that is not a user ID",
			env:     map[string]string{"OPSBOT_CONFIG": "ops.yaml"},
			files:   map[string]string{"ops.yaml": "admins: ['@alice']\n"},
			wantErr: []string{"admins[0] must be a Slack user ID"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env == nil {
				tt.env = map[string]string{}
			}
			c, _, err := Load(tt.args, envOf(tt.env), files(tt.files))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got no error, want one containing %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestSecretsNeverPrinted proves that tokens and Redis passwords do not reach
// error texts or log lines, whichever way they are formatted.
func TestSecretsNeverPrinted(t *testing.T) {
	secrets := []string{testAppToken, testBotToken, "pdSECRETTOKEN", "hunter2", "sentinelSECRET"}
	env := map[string]string{
		"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken,
		"PAGERDUTY_TOKEN": "pdSECRETTOKEN", "REDIS_URL": "redis://:hunter2@localhost:6379/0",
		"REDIS_PASSWORD": "sentinelSECRET",
	}
	c, _, err := Load(nil, envOf(env), noFile)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	log.Info("config", zap.Any("config", c), zap.Stringer("app", c.SlackAppToken), zap.Any("redis", c.RedisURL))
	log.Info("config", zap.String("formatted", fmt.Sprintf("%v %+v %#v %s", c, c, c, c.SlackBotToken)))

	bad := env
	bad["SLACK_API_URL"] = "nope"
	bad["REDIS_URL"] = "http://:hunter2@x"
	bad["SLACK_APP_TOKEN"] = "xoxb-" + testAppToken
	_, _, err = Load(nil, envOf(bad), noFile)
	if err == nil {
		t.Fatal("want an error for bad configuration")
	}
	texts := []string{err.Error()}
	for _, e := range logs.All() {
		texts = append(texts, fmt.Sprint(e.Message, e.ContextMap()))
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("secret %q leaked in %q", s, text)
			}
		}
	}
	if len(logs.All()) != 2 {
		t.Fatalf("got %d log lines, want 2", len(logs.All()))
	}
}

// Errors in a family's section name the line in the file, not in the
// section, and the section and key.
func TestSectionErrorsCarryFileLines(t *testing.T) {
	file := "admins: [U0ADMIN]\nrunbooks: {dir: rb}\nincidents:\n  broadcast_channel: C0INC\n  update_reminders: {sev1: soon}\n"
	_, _, err := Load(nil, envOf(map[string]string{"OPSBOT_CONFIG": "ops.yaml"}), files(map[string]string{"ops.yaml": file}))
	if err == nil || !strings.Contains(err.Error(), `ops.yaml:5: incidents.update_reminders.sev1: "soon" is not a duration`) {
		t.Errorf("got %v, want an error naming ops.yaml:5 and incidents.update_reminders.sev1", err)
	}
}

// A config file with several mistakes gets one file:line message for each,
// in the file's terms (keys, lists) rather than Go's (types), whichever
// section they are in, along with the environment's.
func TestLoadReportsEveryProblemWithFileLine(t *testing.T) {
	body := strings.Join([]string{
		"admin: [U0ADMIN]", // 1: top-level typo
		"pagerduty:",
		"  from_emial: a@b.c", // 3
		"incidents:",
		"  update_reminders: {sev1: soon}", // 5
		"oncall:",
		"  schedules:",
		"    - {id: P1, name: pay, handof_channel: C0PAY}", // 8
		"runbooks:",
		"  dir: rb",
		"  redact: x",          // 11: a value where a list belongs
		"  max_output: lots",   // 12
		"  approval_ttl: soon", // 13
		"redis:",
		"  addrs: [redis-1]",       // 15
		"  db: -1",                 // 16
		"  min_replicas: most",     // 17
		"  replica_timeout: 1m",    // 18
		"admins: ['@alice', U0OK]", // 19
		"team_id: acme",            // 20
	}, "\n") + "\n"
	c, _, err := Load(nil, envOf(map[string]string{"OPSBOT_CONFIG": "ops.yaml", "OPSBOT_LOG_LEVEL": "loud"}), files(map[string]string{"ops.yaml": body}))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want Problems", err)
	}
	want := Problems{
		`ops.yaml:1: unknown top-level key "admin"`,
		`ops.yaml:3: pagerduty: unknown key "from_emial"`,
		`ops.yaml:5: incidents.update_reminders.sev1: "soon" is not a duration like 30m`,
		`ops.yaml:8: oncall.schedules: unknown key "handof_channel"`,
		"ops.yaml:11: runbooks.redact: expected a list, got text `x`",
		"ops.yaml:12: runbooks.max_output: expected a whole number, got text `lots`",
		"ops.yaml:13: runbooks.approval_ttl: expected a duration such as 30s or 5m, got text `soon`",
		`ops.yaml:15: redis.addrs: "redis-1" is not a host:port address`,
		"ops.yaml:16: redis.db: -1 is negative",
		`ops.yaml:17: redis.min_replicas: "most": want auto or a number of replicas (0 for none)`,
		"ops.yaml:18: redis.replica_timeout: 1m0s: want a duration up to 5s",
		"ops.yaml:19: admins[0] must be a Slack user ID like U0123ABCD",
		`ops.yaml:20: team_id: "acme" is not a Slack team ID like T0123ABCD`,
		"OPSBOT_LOG_LEVEL must be debug, info, warn or error",
	}
	if diff := cmp.Diff(want, ps); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if c.RunbooksDir != "rb" {
		t.Errorf("RunbooksDir = %q, want rb: what could be read is kept for validate", c.RunbooksDir)
	}
}

// Within the incidents section too, every value problem comes back at once,
// each as file:line: incidents.key: message, with the decoder's.
func TestLoadReportsEveryIncidentsProblem(t *testing.T) {
	body := strings.Join([]string{
		"incidents:",
		"  broadcast_channel: \"#incidents\"", // 2
		"  archive_afer: 24h",                 // 3
		"  responders:",
		"    users: [U0ALICE, bob]",  // 5
		"  oncall_for: [sev1, sev9]", // 6
	}, "\n") + "\n"
	_, _, err := Load(nil, envOf(map[string]string{"OPSBOT_CONFIG": "ops.yaml"}), files(map[string]string{"ops.yaml": body}))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want Problems", err)
	}
	want := Problems{
		`ops.yaml:2: incidents.broadcast_channel: "#incidents" is not a channel ID like C0123ABCD (names are not identities)`,
		`ops.yaml:3: incidents: unknown key "archive_afer"`,
		`ops.yaml:5: incidents.responders.users: "bob" is not a user ID like U0123ABCD (names are not identities)`,
		`ops.yaml:6: incidents.oncall_for: unknown severity "sev9" (want sev1..sev4)`,
	}
	if diff := cmp.Diff(want, ps); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// The families' own checks run at load time, with the line of the value
// concerned, so that nothing fails later during wiring.
func TestLoadRunsSectionChecks(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"broadcast channel by name", "incidents:\n  channel_prefix: inc\n  broadcast_channel: \"#incidents\"\n",
			`ops.yaml:3: incidents.broadcast_channel: "#incidents" is not a channel ID`},
		{"oncall_for severity", "incidents:\n  oncall_for: [sev1, sev9]\n", `ops.yaml:2: incidents.oncall_for: unknown severity "sev9"`},
		{"schedule name", "oncall:\n  sync_interval: 1m\n  schedules:\n    - {id: P1}\n    - {id: P2, name: my payments}\n",
			`ops.yaml:5: oncall: schedules[1] (P2): name "my payments" must be one word`},
		{"oncall time zone", "oncall:\n  timezone: Mars/Olympus\n", `ops.yaml:2: oncall: timezone "Mars/Olympus": unknown zone`},
		{"redact pattern", "runbooks:\n  redact: ['ok', '(']\n", `ops.yaml:2: runbooks.redact: "(" is not a regular expression`},
		{"negative approval ttl", "runbooks:\n  approval_ttl: -5m\n", "ops.yaml:2: runbooks.approval_ttl: -5m0s is negative"},
		{"service name", "pagerduty:\n  services:\n    check out: PSVC1\n", `ops.yaml:3: pagerduty.services: name "check out" must be one word`},
		{"from email", "pagerduty:\n  from_email: opsbot\n", `ops.yaml:2: pagerduty.from_email: "opsbot" is not an e-mail address`},
		{"syntax error", "admins: [U0A]\nincidents: broadcast_channel: C0\n", "ops.yaml:2: mapping values are not allowed in this context"},
		{"repeated key", "admins: [U0A]\nadmins: [U0B]\n", `ops.yaml:2: key "admins" is given twice (first on line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(nil, envOf(map[string]string{"OPSBOT_CONFIG": "ops.yaml"}), files(map[string]string{"ops.yaml": tt.file}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// A valid file arrives decoded into the families' own types, defaults left
// to the families.
func TestLoadDecodesSections(t *testing.T) {
	body := `admins: [U0ADMIN]
team_id: T0TEAM
incidents:
  broadcast_channel: C0INC
  update_reminders: {sev1: 10m, sev4: none}
oncall:
  sync_interval: 2m
  schedules:
    - {id: PSCHED01, name: payments, handoff_channel: C0PAY, levels: [1]}
pagerduty:
  from_email: opsbot@example.com
  services: {checkout: PSVC001}
runbooks:
  dir: rb
  redact: ['secret-\d+']
  max_output: 1024
  approval_ttl: 5m
redis:
  addrs: [sentinel-1:26379, sentinel-2:26379]
  master_name: main
  db: 2
  tls: true
  spool_dir: /var/lib/opsbot/spool
  min_replicas: 1
  replica_timeout: 500ms
`
	c, _, err := Load(nil, envOf(map[string]string{"OPSBOT_CONFIG": "ops.yaml"}), files(map[string]string{"ops.yaml": body}))
	if err != nil {
		t.Fatal(err)
	}
	f := c.File
	if f.TeamID != "T0TEAM" || f.Incidents.BroadcastChannel != "C0INC" || f.Incidents.UpdateReminders[bot.Sev1] != 10*time.Minute {
		t.Errorf("team %q, incidents %+v", f.TeamID, f.Incidents)
	}
	if f.OnCall.SyncInterval != 2*time.Minute || len(f.OnCall.Schedules) != 1 || f.OnCall.Schedules[0].HandoffChannel != "C0PAY" {
		t.Errorf("oncall %+v", f.OnCall)
	}
	if diff := cmp.Diff(runbook.Settings{Dir: "rb", Redact: []string{`secret-\d+`}, MaxOutput: 1024, ApprovalTTL: 5 * time.Minute}, f.Runbooks); diff != "" {
		t.Errorf("runbooks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(PagerDuty{FromEmail: "opsbot@example.com", Services: map[string]string{"checkout": "PSVC001"}}, f.PagerDuty); diff != "" {
		t.Errorf("pagerduty (-want +got):\n%s", diff)
	}
	wantRedis := Redis{Addrs: []string{"sentinel-1:26379", "sentinel-2:26379"}, MasterName: "main", DB: 2, TLS: true, SpoolDir: "/var/lib/opsbot/spool",
		MinReplicas: 1, ReplicaTimeout: 500 * time.Millisecond}
	if diff := cmp.Diff(wantRedis, f.Redis); diff != "" {
		t.Errorf("redis (-want +got):\n%s", diff)
	}
	if c.RunbooksDir != "rb" {
		t.Errorf("RunbooksDir = %q, want the file's rb", c.RunbooksDir)
	}
}

// Every variable Load reads is listed by EnvNames, and nothing else.
func TestEnvNames(t *testing.T) {
	var read []string
	_, _, _ = Load(nil, func(k string) string { read = append(read, k); return "" }, noFile)
	if diff := cmp.Diff(EnvNames(), read); diff != "" {
		t.Errorf("variables (-EnvNames +read by Load):\n%s", diff)
	}
}

// OPSBOT_ALLOW_EPHEMERAL_STORE lets Socket Mode run without Redis; Redis
// counts as configured by REDIS_URL or redis.addrs.
func TestEphemeralStoreAndHasRedis(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		file      string
		wantAllow bool
		wantRedis bool
		wantErr   string
	}{
		{name: "nothing", env: map[string]string{}},
		{name: "allowed", env: map[string]string{"OPSBOT_ALLOW_EPHEMERAL_STORE": "1"}, wantAllow: true},
		{name: "refused explicitly", env: map[string]string{"OPSBOT_ALLOW_EPHEMERAL_STORE": "false"}},
		{name: "not a boolean", env: map[string]string{"OPSBOT_ALLOW_EPHEMERAL_STORE": "please"}, wantErr: "OPSBOT_ALLOW_EPHEMERAL_STORE must be 1, true, 0 or false"},
		{name: "REDIS_URL", env: map[string]string{"REDIS_URL": "redis://localhost:6379/0"}, wantRedis: true},
		{name: "redis.addrs", env: map[string]string{"OPSBOT_CONFIG": "ops.yaml"}, file: "redis: {addrs: ['s1:26379'], master_name: main}\n", wantRedis: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(nil, envOf(tt.env), files(map[string]string{"ops.yaml": tt.file}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AllowEphemeralStore() != tt.wantAllow || c.HasRedis() != tt.wantRedis {
				t.Errorf("AllowEphemeralStore %v, HasRedis %v; want %v, %v", c.AllowEphemeralStore(), c.HasRedis(), tt.wantAllow, tt.wantRedis)
			}
		})
	}
}
