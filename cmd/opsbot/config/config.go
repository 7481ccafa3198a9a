// Package config is opsbot's configuration: the environment (which wins),
// the command-line flags and the YAML config file, loaded and checked in one
// place so that the composition root (cmd/opsbot/app.go) wires only values
// that are already valid.
//
// Load reads everything through the functions it is given (getenv,
// readFile), never the process itself, so it is table-tested. It decodes the
// config file once, into File, and reports every problem at once as
// "file:line: section.key: message", so an operator fixes them in one go.
//
// # Adding a config file section
//
// A section is a field of File whose type lives in the package that owns
// the setting (commands/incident's Settings is the model):
//
//  1. In your package, declare the type with yaml tags and a doc comment on
//     each field, durations as time.Duration, IDs as strings.
//  2. Give it an UnmarshalYAML that calls yamlconf.Decode(n, "section", s)
//     (unknown keys, lists, durations, each with its line) and then checks
//     what YAML cannot (IDs, ranges), returning yamlconf.Errorf(line,
//     "section.key", …) problems; bot/yamlconf's package doc shows one.
//     Unit-test it with yaml.Unmarshal in your package.
//  3. Add the field to File here with its yaml tag, and document the keys
//     in deploy/README.md's "Config file reference" (deploy/reference_test.go
//     compares the two).
//  4. Wire the decoded value in cmd/opsbot/app.go (buildApp): it is already
//     valid there, so wiring only copies it into your service's Config.
//
// A key inside an existing section (incidents.permissions,
// redis.min_replicas) is a field of that section's type, decoded the same
// way.
//
// # Adding an environment variable
//
// Add a row to envVars (the field it fills) and, when it needs a check,
// a line in Config.check; then add the variable to the Environment tables
// of README.md and deploy/README.md (deploy/reference_test.go compares them
// with EnvNames). A flag, if any, goes next to the others in Load.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/opsbot/opsbot/commands/incident/web"
	"github.com/opsbot/opsbot/integrations/weblink"
)

// Secret holds a credential. It formats as "[redacted]" everywhere (fmt, zap,
// JSON) so that a token cannot reach a log line or an error by accident; the
// value is read only through Reveal, at the one place that needs it.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalText hides the value from encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the credential.
func (s Secret) Reveal() string { return string(s) }

// Config is opsbot's configuration: the environment (which wins), flags and
// the YAML config file.
type Config struct {
	SlackAppToken Secret
	SlackBotToken Secret
	SlackAPIURL   string
	RedisURL      Secret // may carry a password
	// RedisPassword authenticates to the servers of redis.addrs (Sentinel's
	// data nodes, or the Cluster's), which a URL cannot carry.
	RedisPassword   Secret
	PagerDutyToken  Secret
	PagerDutyAPIURL string
	// GitHubToken lets follow-ups become GitHub issues in
	// followups.github_repo.
	GitHubToken Secret
	// PagerDutyEventsURL is the Events API v2 base URL, for escalations
	// through pagerduty.routing_keys.
	PagerDutyEventsURL string
	// AlertsToken is the bearer token Alertmanager and Grafana present on
	// the alert hooks; unset, the hooks answer 404.
	AlertsToken Secret
	// ConfigPath is the config file read; empty when there is none.
	ConfigPath  string
	RunbooksDir string
	HTTPAddr    string
	// PProf is OPSBOT_PPROF: "true" or "1" serves Go's profiles under
	// /debug/pprof/ on HTTPAddr (see Profiling).
	PProf    string
	LogLevel string
	// LogLevelSet says the level was asked for (env or flag), so console
	// mode keeps it instead of its quieter default.
	LogLevelSet bool
	// StateDir is systemd's STATE_DIRECTORY, the default home of the spool.
	StateDir string
	// PublicURL is the base of links to the web view (web.public_url);
	// WebAddr its own listener (web.addr), empty for the HTTP listener.
	PublicURL string
	WebAddr   string
	// LinkKey signs links to the web view; LinkKeyPrevious, after a
	// rotation, is still accepted until web.previous_key_until.
	LinkKey         Secret
	LinkKeyPrevious Secret
	// EphemeralStore is OPSBOT_ALLOW_EPHEMERAL_STORE: a true value lets
	// Socket Mode run without Redis, on an in-memory store, for a
	// throwaway trial (see AllowEphemeralStore).
	EphemeralStore string
	// File is the decoded config file (zero when there is none).
	File File
}

// Profiling reports whether Go's profiles are served on the HTTP address
// (OPSBOT_PPROF), for finding where time goes under load; off by default,
// as the profiles show the process's internals.
func (c Config) Profiling() bool { return c.PProf == "1" || c.PProf == "true" }

// Console reports whether opsbot runs in console mode: no Slack tokens.
func (c Config) Console() bool { return c.SlackAppToken == "" && c.SlackBotToken == "" }

// HasRedis reports whether Redis is configured: REDIS_URL or redis.addrs.
func (c Config) HasRedis() bool { return c.RedisURL != "" || len(c.File.Redis.Addrs) > 0 }

// AllowEphemeralStore reports whether OPSBOT_ALLOW_EPHEMERAL_STORE lets
// Socket Mode run on an in-memory store when no Redis is configured.
func (c Config) AllowEphemeralStore() bool {
	ok, _ := strconv.ParseBool(c.EphemeralStore)
	return ok
}

// envVar is one environment variable Load reads and the field it fills.
type envVar struct {
	name string
	dst  *string
}

// envVars are the environment variables Load reads, in the README's order.
// Secrets are filled through their string form.
func (c *Config) envVars() []envVar {
	return []envVar{
		{"SLACK_APP_TOKEN", (*string)(&c.SlackAppToken)},
		{"SLACK_BOT_TOKEN", (*string)(&c.SlackBotToken)},
		{"SLACK_API_URL", &c.SlackAPIURL},
		{"REDIS_URL", (*string)(&c.RedisURL)},
		{"REDIS_PASSWORD", (*string)(&c.RedisPassword)},
		{"PAGERDUTY_TOKEN", (*string)(&c.PagerDutyToken)},
		{"PAGERDUTY_API_URL", &c.PagerDutyAPIURL},
		{"GITHUB_TOKEN", (*string)(&c.GitHubToken)},
		{"PAGERDUTY_EVENTS_URL", &c.PagerDutyEventsURL},
		{"OPSBOT_ALERTS_TOKEN", (*string)(&c.AlertsToken)},
		{"OPSBOT_CONFIG", &c.ConfigPath},
		{"OPSBOT_RUNBOOKS", &c.RunbooksDir},
		{"OPSBOT_HTTP_ADDR", &c.HTTPAddr},
		{"OPSBOT_PPROF", &c.PProf},
		{"OPSBOT_LOG_LEVEL", &c.LogLevel},
		{"OPSBOT_ALLOW_EPHEMERAL_STORE", &c.EphemeralStore},
		{"STATE_DIRECTORY", &c.StateDir},
		{"OPSBOT_PUBLIC_URL", &c.PublicURL},
		{"OPSBOT_WEB_ADDR", &c.WebAddr},
		{"OPSBOT_LINK_KEY", (*string)(&c.LinkKey)},
		{"OPSBOT_LINK_KEY_PREVIOUS", (*string)(&c.LinkKeyPrevious)},
	}
}

// EnvNames lists the environment variables Load reads.
func EnvNames() []string {
	var c Config
	vars := c.envVars()
	names := make([]string, len(vars))
	for i, v := range vars {
		names[i] = v.name
	}
	return names
}

// DefaultConfigPath is read when no config file is named; it may be absent.
const DefaultConfigPath = "opsbot.yaml"

// Load reads flags from args, the environment through getenv and the
// config file through readFile. It never reads the process environment
// itself, so it is table-tested. It returns the arguments left after the
// flags. When anything is wrong the error is Problems listing all of it,
// and the Config holds what could be read, so that `opsbot validate` can
// go on to the runbooks.
func Load(args []string, getenv func(string) string, readFile func(string) ([]byte, error)) (Config, []string, error) {
	var c Config
	fs := flag.NewFlagSet("opsbot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.ConfigPath, "config", "", "path to the YAML config file")
	fs.StringVar(&c.RunbooksDir, "runbooks", "", "directory of runbook YAML files")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "address for /healthz, /readyz, /metrics")
	fs.StringVar(&c.LogLevel, "log-level", "", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, nil, fmt.Errorf("flags: %w", err)
	}
	for _, v := range c.envVars() {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			*v.dst = s
		}
	}

	explicit := c.ConfigPath != ""
	if !explicit {
		c.ConfigPath = DefaultConfigPath
	}
	var problems Problems
	if data, err := readFile(c.ConfigPath); err == nil {
		c.File, err = ParseFile(c.ConfigPath, data)
		// The file's problems do not stop the rest of the checks: every
		// problem is reported at once. They still stop the bot.
		var ps Problems
		if errors.As(err, &ps) {
			problems = append(problems, ps...)
		} else if err != nil {
			return c, nil, err
		}
	} else if explicit || !errors.Is(err, os.ErrNotExist) {
		return c, nil, fmt.Errorf("config file: %w", err)
	} else {
		c.ConfigPath = ""
	}

	if c.SlackAPIURL == "" {
		c.SlackAPIURL = "https://slack.com/api/"
	}
	if c.PagerDutyAPIURL == "" {
		c.PagerDutyAPIURL = "https://api.pagerduty.com"
	}
	if c.PagerDutyEventsURL == "" {
		c.PagerDutyEventsURL = "https://events.pagerduty.com"
	}
	if c.RunbooksDir == "" {
		c.RunbooksDir = c.File.Runbooks.Dir
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	} else {
		c.LogLevelSet = true
	}
	if c.HTTPAddr == "" && !c.Console() {
		c.HTTPAddr = ":8080"
	}
	if c.PublicURL == "" {
		c.PublicURL = c.File.Web.PublicURL
	}
	if c.WebAddr == "" {
		c.WebAddr = c.File.Web.Addr
	}
	problems = append(problems, c.check()...)
	if len(problems) > 0 {
		return c, fs.Args(), problems
	}
	return c, fs.Args(), nil
}

// Problems is everything wrong with the configuration, one "where: what"
// line each (file:line for the config file).
type Problems []string

func (p Problems) Error() string {
	return "invalid configuration:\n  " + strings.Join(p, "\n  ")
}

// check reports every problem of the environment and flags at once.
// Messages name the variable, never its value.
func (c Config) check() Problems {
	var problems Problems
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch {
	case c.SlackAppToken == "" && c.SlackBotToken != "":
		add("SLACK_APP_TOKEN is not set (SLACK_BOT_TOKEN is): Socket Mode needs both")
	case c.SlackBotToken == "" && c.SlackAppToken != "":
		add("SLACK_BOT_TOKEN is not set (SLACK_APP_TOKEN is): Socket Mode needs both")
	}
	if c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken.Reveal(), "xapp-") {
		add("SLACK_APP_TOKEN must start with xapp- (an app-level token with connections:write)")
	}
	if c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken.Reveal(), "xoxb-") {
		add("SLACK_BOT_TOKEN must start with xoxb- (the bot user OAuth token)")
	}
	if err := checkURL(c.SlackAPIURL, "http", "https"); err != nil {
		add("SLACK_API_URL %v", err)
	} else if !strings.HasSuffix(c.SlackAPIURL, "/") {
		add("SLACK_API_URL must end with /")
	}
	if c.RedisURL != "" {
		if err := checkURL(c.RedisURL.Reveal(), "redis", "rediss", "unix"); err != nil {
			add("REDIS_URL %v", err)
		}
	}
	if err := checkURL(c.PagerDutyAPIURL, "http", "https"); err != nil {
		add("PAGERDUTY_API_URL %v", err)
	}
	if err := checkURL(c.PagerDutyEventsURL, "http", "https"); err != nil {
		add("PAGERDUTY_EVENTS_URL %v", err)
	}
	if t := c.AlertsToken.Reveal(); t != "" && (len(t) < 16 || strings.ContainsAny(t, " \t\r\n")) {
		add("OPSBOT_ALERTS_TOKEN must be at least 16 characters without spaces (it is the only thing guarding the alert hooks)")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("OPSBOT_LOG_LEVEL must be debug, info, warn or error")
	}
	if c.EphemeralStore != "" {
		if _, err := strconv.ParseBool(c.EphemeralStore); err != nil {
			add("OPSBOT_ALLOW_EPHEMERAL_STORE must be 1, true, 0 or false")
		}
	}
	switch c.PProf {
	case "", "0", "1", "false", "true":
	default:
		add("OPSBOT_PPROF must be true or false")
	}
	problems = append(problems, c.checkWeb()...)
	return problems
}

// WebView reports whether the web view is on: a public URL and a key to
// sign links with. Console mode serves it on localhost regardless.
func (c Config) WebView() bool { return c.PublicURL != "" && c.LinkKey != "" }

// checkWeb checks the web view's variables: both or neither of the URL and
// the key, a key long enough to sign with, and addresses that parse. Keys
// are never quoted.
func (c Config) checkWeb() Problems {
	var problems Problems
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.PublicURL != "" {
		if _, err := web.ParsePublicURL(c.PublicURL); err != nil {
			add("OPSBOT_PUBLIC_URL (or web.public_url): %v", err)
		}
	}
	switch {
	case c.PublicURL != "" && c.LinkKey == "":
		add("OPSBOT_LINK_KEY is not set (a public URL is): links to the web view must be signed; generate a key with `openssl rand -base64 48`")
	case c.LinkKey != "" && c.PublicURL == "" && !c.Console():
		add("OPSBOT_PUBLIC_URL (or web.public_url) is not set (OPSBOT_LINK_KEY is): links need the address readers open")
	}
	if n := len(c.LinkKey); n > 0 && n < weblink.MinKeyLen {
		add("OPSBOT_LINK_KEY must be at least %d bytes (it is %d); generate one with `openssl rand -base64 48`", weblink.MinKeyLen, n)
	}
	if n := len(c.LinkKeyPrevious); n > 0 {
		switch {
		case c.LinkKey == "":
			add("OPSBOT_LINK_KEY_PREVIOUS is set without OPSBOT_LINK_KEY")
		case n < weblink.MinKeyLen:
			add("OPSBOT_LINK_KEY_PREVIOUS must be at least %d bytes (it is %d)", weblink.MinKeyLen, n)
		case c.LinkKeyPrevious == c.LinkKey:
			add("OPSBOT_LINK_KEY_PREVIOUS is the same as OPSBOT_LINK_KEY")
		}
	}
	if c.WebAddr != "" {
		if err := web.CheckAddr(c.WebAddr); err != nil {
			add("OPSBOT_WEB_ADDR (or web.addr) is not an address like :8081: %v", err)
		}
	}
	return problems
}

// checkURL validates a URL without ever putting the URL (which may carry a
// password) into the message.
func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	for _, s := range schemes {
		if u.Scheme == s {
			if u.Host == "" && s != "unix" {
				return errors.New("has no host")
			}
			return nil
		}
	}
	return fmt.Errorf("must use %s", strings.Join(schemes, " or "))
}
