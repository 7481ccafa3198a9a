package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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

func TestLoadConfig(t *testing.T) {
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
			c, _, err := loadConfig(tt.args, envOf(tt.env), files(tt.files))
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
	secrets := []string{testAppToken, testBotToken, "pdSECRETTOKEN", "hunter2"}
	env := map[string]string{
		"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken,
		"PAGERDUTY_TOKEN": "pdSECRETTOKEN", "REDIS_URL": "redis://:hunter2@localhost:6379/0",
	}
	c, _, err := loadConfig(nil, envOf(env), noFile)
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
	_, _, err = loadConfig(nil, envOf(bad), noFile)
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

// Errors in a family's section name the line in the file, not in the section.
func TestSectionErrorsCarryFileLines(t *testing.T) {
	file := "admins: [U0ADMIN]\nrunbooks: {dir: rb}\nincidents:\n  broadcast_channel: C0INC\n  update_reminders: {sev1: soon}\n"
	c, _, err := loadConfig(nil, envOf(map[string]string{"OPSBOT_CONFIG": "ops.yaml"}), files(map[string]string{"ops.yaml": file}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeSections(c.File)
	if err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("got %v, want an error naming line 5", err)
	}
	var out, errOut strings.Builder
	if code := runValidate(c, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "ops.yaml:5: ") {
		t.Errorf("validate: exit %d, stderr %q; want 1 and ops.yaml:5:", code, errOut.String())
	}
}

// A config file with several mistakes gets one file:line message for each,
// in the file's terms (keys, lists) rather than Go's (types), and validate
// goes on to the runbooks instead of stopping at the first.
func TestValidateReportsEveryConfigProblemWithFileLine(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rb, "bad.yaml"), []byte("name: bad\ncommand: [true]\ncolour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "ops.yaml")
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
		"  dir: " + rb,
		"  redact: x", // 11: a value where a list belongs
	}, "\n") + "\n"
	if err := os.WriteFile(cfgFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	code := run([]string{"validate", "--config", cfgFile}, envOf(nil), strings.NewReader(""), &out, &errOut)
	got := errOut.String()
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		cfgFile + `:1: unknown top-level key "admin"`,
		cfgFile + `:3: pagerduty: unknown key "from_emial"`,
		cfgFile + ":5: ",
		cfgFile + `:8: oncall.schedules: unknown key "handof_channel"`,
		cfgFile + ":11: expected a list, got text `x`",
		filepath.Join(rb, "bad.yaml") + ":3: colour",
		"6 problem(s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
	for _, internal := range []string{"main.", "bot.", "[]string", "unmarshal"} {
		if strings.Contains(got, internal) {
			t.Errorf("stderr shows Go internals %q:\n%s", internal, got)
		}
	}
	// Outside validate the same file stops the bot with the same lines.
	errOut.Reset()
	if code := run([]string{"export", "INC-1", "--config", cfgFile}, envOf(nil), strings.NewReader(""), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), cfgFile+`:3: pagerduty: unknown key "from_emial"`) {
		t.Errorf("export: exit %d, stderr %q", code, errOut.String())
	}
}

// --help and -h print the usage and succeed, whatever the subcommand.
func TestHelpFlagPrintsUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"validate", "--help"}, {"help"}} {
		var out, errOut strings.Builder
		code := run(args, envOf(nil), strings.NewReader(""), &out, &errOut)
		if code != 0 || !strings.Contains(out.String(), "usage: opsbot") || errOut.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and the usage", args, code, out.String(), errOut.String())
		}
	}
}

// validate with nothing to validate says so and fails, rather than passing
// silently (a wrong path in CI would look like a pass).
func TestValidateWithNothingToCheckFails(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./opsbot.yaml
	var out, errOut strings.Builder
	if code := run([]string{"validate"}, envOf(nil), strings.NewReader(""), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "nothing to check") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and \"nothing to check\"", code, out.String(), errOut.String())
	}
}

// validate catches what would stop the bot at start even where no on-call
// provider is configured, and channels given by name rather than ID.
func TestValidateChecksOnCallSchedulesAndIDs(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "ops.yaml")
	body := "incidents:\n  broadcast_channel: \"#incidents\"\noncall:\n  schedules:\n    - {id: P1, name: my payments}\n"
	if err := os.WriteFile(cfgFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	code := run([]string{"validate", "--config", cfgFile}, envOf(nil), strings.NewReader(""), &out, &errOut)
	for _, want := range []string{
		cfgFile + `:2: incidents: broadcast_channel "#incidents" is not a channel ID`,
		`name "my payments" must be one word`,
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}
