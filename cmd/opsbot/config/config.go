package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/commands/oncall"
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
	SlackAppToken   Secret
	SlackBotToken   Secret
	SlackAPIURL     string
	RedisURL        Secret // may carry a password
	PagerDutyToken  Secret
	PagerDutyAPIURL string
	ConfigPath      string
	RunbooksDir     string
	HTTPAddr        string
	LogLevel        string
	// logLevelSet says the level was asked for (env or flag), so console
	// mode keeps it instead of its quieter default.
	logLevelSet bool
	// StateDir is systemd's STATE_DIRECTORY, the default home of the spool.
	StateDir string
	// File is the parsed config file (zero when there is none).
	File FileConfig
}

// Console reports whether opsbot runs in console mode: no Slack tokens.
func (c Config) Console() bool { return c.SlackAppToken == "" && c.SlackBotToken == "" }

// FileConfig is the YAML config file. The sections owned by a command family
// are kept as YAML nodes here and decoded strictly into that family's own
// settings type when it is wired, so the family owns its knobs.
type FileConfig struct {
	// Admins are Slack user IDs allowed admin commands and every runbook.
	Admins []string `yaml:"admins"`
	// TeamID is the Slack workspace; users of other teams are refused
	// runbooks. Empty means the team of the bot token (auth.test).
	TeamID    string          `yaml:"team_id"`
	Incidents yaml.Node       `yaml:"incidents"`
	OnCall    yaml.Node       `yaml:"oncall"`
	PagerDuty PagerDutyConfig `yaml:"pagerduty"`
	Runbooks  RunbooksConfig  `yaml:"runbooks"`
	Redis     RedisConfig     `yaml:"redis"`
	// raw is the file's text, decoded again per section so that a
	// section's errors carry the file's own line numbers.
	raw []byte
}

// PagerDutyConfig is the pagerduty: section.
type PagerDutyConfig struct {
	// FromEmail is the From header of incidents the bot creates; it must be
	// a PagerDuty user's e-mail.
	FromEmail string `yaml:"from_email"`
	// Services maps names usable in /incident page to PagerDuty service IDs.
	Services map[string]string `yaml:"services"`
}

// RunbooksConfig is the runbooks: section.
type RunbooksConfig struct {
	Dir string `yaml:"dir"`
	// Redact are extra regular expressions whose matches are masked in
	// runbook output.
	Redact []string `yaml:"redact"`
	// MaxOutput is how many bytes of output are kept (default 256 KiB).
	MaxOutput int `yaml:"max_output"`
	// ApprovalTTL is how long an approval request stays valid (default 15m).
	ApprovalTTL string `yaml:"approval_ttl"`
}

// RedisConfig is the redis: section, for Sentinel and Cluster, which a URL
// cannot express. REDIS_URL, when set, wins.
type RedisConfig struct {
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name"`
	Username   string   `yaml:"username"`
	DB         int      `yaml:"db"`
	TLS        bool     `yaml:"tls"`
	// SpoolDir holds timeline events while Redis is unreachable.
	SpoolDir string `yaml:"spool_dir"`
}

// loadConfig reads flags from args, the environment through getenv and the
// config file through readFile. It never reads the process environment
// itself, so it is table-tested.
func loadConfig(args []string, getenv func(string) string, readFile func(string) ([]byte, error)) (Config, []string, error) {
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
	env := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	var appTok, botTok, pdTok, redisURL string
	env("SLACK_APP_TOKEN", &appTok)
	env("SLACK_BOT_TOKEN", &botTok)
	env("REDIS_URL", &redisURL)
	env("PAGERDUTY_TOKEN", &pdTok)
	c.SlackAppToken, c.SlackBotToken, c.PagerDutyToken, c.RedisURL = Secret(appTok), Secret(botTok), Secret(pdTok), Secret(redisURL)
	env("SLACK_API_URL", &c.SlackAPIURL)
	env("PAGERDUTY_API_URL", &c.PagerDutyAPIURL)
	env("OPSBOT_CONFIG", &c.ConfigPath)
	env("OPSBOT_RUNBOOKS", &c.RunbooksDir)
	env("OPSBOT_HTTP_ADDR", &c.HTTPAddr)
	env("OPSBOT_LOG_LEVEL", &c.LogLevel)
	env("STATE_DIRECTORY", &c.StateDir)

	explicit := c.ConfigPath != ""
	if !explicit {
		c.ConfigPath = "opsbot.yaml"
	}
	var problems configProblems
	if data, err := readFile(c.ConfigPath); err == nil {
		if err := decodeStrict(data, &c.File); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return c, nil, configProblems(yamlProblems(c.ConfigPath, err))
			}
			// A type error (an unknown key, a list where a value belongs)
			// leaves the rest of the file decoded: go on, so that every
			// problem is reported at once. The error still stops the bot.
			problems = yamlProblems(c.ConfigPath, err)
		}
		c.File.raw = data
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
	if c.RunbooksDir == "" {
		c.RunbooksDir = c.File.Runbooks.Dir
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	} else {
		c.logLevelSet = true
	}
	if c.HTTPAddr == "" && !c.Console() {
		c.HTTPAddr = ":8080"
	}
	var more configProblems
	if err := c.validate(); errors.As(err, &more) {
		problems = append(problems, more...)
	}
	if len(problems) > 0 {
		return c, fs.Args(), problems
	}
	return c, fs.Args(), nil
}

// configProblems is everything wrong with the configuration, one
// "where: what" line each (file:line for the config file).
type configProblems []string

func (p configProblems) Error() string {
	return "invalid configuration:\n  " + strings.Join(p, "\n  ")
}

// validate reports every problem at once, so an operator fixes them in one go.
// Messages name the variable, never its value.
func (c Config) validate() error {
	var problems []string
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
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("OPSBOT_LOG_LEVEL must be debug, info, warn or error")
	}
	for i, id := range c.File.Admins {
		if !isSlackUserID(id) {
			add("%s: admins[%d] must be a Slack user ID like U0123ABCD", c.configName(), i)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return configProblems(problems)
}

func (c Config) configName() string {
	if c.ConfigPath == "" {
		return "config"
	}
	return c.ConfigPath
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

func isSlackUserID(s string) bool {
	if len(s) < 3 || len(s) > 21 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	for _, r := range s[1:] {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// decodeStrict decodes YAML refusing unknown keys, so a typo in the config
// file is an error at start instead of a silently ignored setting.
func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// sections are the config file's sections owned by command families,
// decoded strictly into the families' own settings types.
type sections struct {
	Incidents incident.Settings `yaml:"incidents"`
	OnCall    oncall.Settings   `yaml:"oncall"`
}

// decodeSections decodes the family sections from the file's text, so that
// errors name the line in the file; the other top-level keys were checked by
// decodeStrict already and are absorbed here.
func decodeSections(f FileConfig) (sections, error) {
	var sec sections
	if len(f.raw) == 0 {
		return sec, nil
	}
	// One section at a time, so that a mistake in one does not hide the
	// mistakes in the other.
	var inc struct {
		Incidents *incident.Settings `yaml:"incidents"`
		Rest      map[string]any     `yaml:",inline"`
	}
	var oc struct {
		OnCall *oncall.Settings `yaml:"oncall"`
		Rest   map[string]any   `yaml:",inline"`
	}
	inc.Incidents, oc.OnCall = &sec.Incidents, &sec.OnCall
	incErr, ocErr := decodeStrict(f.raw, &inc), decodeStrict(f.raw, &oc)
	if ocErr == nil {
		// What the on-call family would refuse at start, also where no
		// on-call provider is configured (opsbot validate).
		ocErr = sec.OnCall.Validate()
	}
	return sec, errors.Join(incErr, ocErr)
}

var (
	yamlLine         = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownField = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	yamlWrongKind    = regexp.MustCompile("^cannot unmarshal !!(\\w+) (?:(`.*`) )?into (\\S+)$")
	// yamlSections names the config file section a Go type decodes, for
	// messages that would otherwise name the type.
	yamlSections = map[string]string{
		reflect.TypeOf(FileConfig{}).String():         "",
		reflect.TypeOf(PagerDutyConfig{}).String():    "pagerduty",
		reflect.TypeOf(RunbooksConfig{}).String():     "runbooks",
		reflect.TypeOf(RedisConfig{}).String():        "redis",
		reflect.TypeOf(oncall.Settings{}).String():    "oncall",
		reflect.TypeOf(bot.ScheduleConfig{}).String(): "oncall.schedules",
	}
)

// yamlProblems turns a YAML decoding error of the config file into
// "file:line: message" lines an operator can act on, one per problem,
// without the Go type names the decoder speaks in.
func yamlProblems(path string, err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, yamlProblems(path, e)...)
		}
		return out
	}
	msgs := []string{err.Error()}
	if te := (*yaml.TypeError)(nil); errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		where := path
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			where, m = path+":"+sub[1], sub[2]
		}
		out = append(out, where+": "+yamlMessage(strings.TrimPrefix(m, "yaml: ")))
	}
	return out
}

func yamlMessage(m string) string {
	if sub := yamlUnknownField.FindStringSubmatch(m); sub != nil {
		section, ok := yamlSections[sub[2]]
		switch {
		case !ok:
			return fmt.Sprintf("unknown key %q", sub[1])
		case section == "":
			return fmt.Sprintf("unknown top-level key %q", sub[1])
		}
		return fmt.Sprintf("%s: unknown key %q", section, sub[1])
	}
	if sub := yamlWrongKind.FindStringSubmatch(m); sub != nil {
		got := map[string]string{"str": "text", "int": "a number", "float": "a number", "bool": "true or false",
			"seq": "a list", "map": "a mapping", "null": "nothing"}[sub[1]]
		if got == "" {
			got = "a " + sub[1]
		}
		if sub[2] != "" {
			got += " " + sub[2]
		}
		return fmt.Sprintf("expected %s, got %s", yamlKind(sub[3]), got)
	}
	return m
}

// yamlKind describes what a Go type expects in YAML terms.
func yamlKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	case goType == "time.Duration":
		return "a duration such as 30s or 5m"
	case goType == "bool":
		return "true or false"
	case goType == "string", goType == "bot.Severity":
		return "a single value"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return "a mapping of keys"
}
