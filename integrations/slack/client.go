// Package slack connects opsbot to Slack: a Socket Mode listener that
// acknowledges every envelope at once and hands it to the bot engine as a
// neutral bot.Request, the Web API calls behind bot.Chat and bot.Responder,
// and the Block Kit rendering of bot.Message and bot.Modal. It is the only
// package that knows Block Kit; commands speak bot types.
//
// Every Web API call goes through one wrapper that bounds it with a deadline,
// waits out rate limits (HTTP 429 with Retry-After) with a context-aware
// sleep, counts calls by method and outcome, and keeps tokens out of errors.
//
// Tests run the real slack-go clients against the fake in package fakeslack.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = "https://slack.com/api/"

// Config configures a Client.
type Config struct {
	// AppToken is the app-level token (xapp-…) with connections:write, for
	// Socket Mode.
	AppToken string
	// BotToken is the bot token (xoxb-…) for the Web API.
	BotToken string
	// APIURL is the Web API base URL ending in "/" (default DefaultAPIURL).
	APIURL string
	// HTTPClient makes the Web API calls (default: newHTTPClient, with a
	// 30s timeout and a pool of connections to Slack kept open).
	HTTPClient *http.Client
	// Logger defaults to a no-op logger.
	Logger *zap.Logger
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
}

// Client talks to one Slack workspace. It implements bot.Chat and
// bot.Responder, and Listen runs the Socket Mode connection.
type Client struct {
	api     *slack.Client
	log     *zap.Logger
	metrics *metrics
	secrets []string

	// callTimeout bounds one HTTP round trip when the caller's context has
	// no sooner deadline.
	callTimeout time.Duration
	// maxAttempts bounds how often one call is retried after a 429.
	maxAttempts int
	// sleep waits out Retry-After; replaced in tests to observe waits.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time

	// identityMu guards ownBotID, the bot's bot ID once auth.test told it.
	identityMu sync.Mutex
	ownBotID   string

	connected atomic.Bool
	// answers keeps rendered ack answers (see ackAnswer).
	answers *lru.Cache[answerKey, json.RawMessage]
}

// New validates cfg and returns a Client. It makes no network calls.
func New(cfg Config) (*Client, error) {
	if !strings.HasPrefix(cfg.AppToken, "xapp-") {
		return nil, errors.New("SLACK_APP_TOKEN must start with xapp-")
	}
	if !strings.HasPrefix(cfg.BotToken, "xoxb-") {
		return nil, errors.New("SLACK_BOT_TOKEN must start with xoxb-")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	u, err := url.Parse(cfg.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("SLACK_API_URL %q must be an http(s) URL", redactString(cfg.APIURL, nil))
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		return nil, fmt.Errorf("SLACK_API_URL %q must end in /", cfg.APIURL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	api := slack.New(cfg.BotToken,
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(cfg.HTTPClient),
		slack.OptionAppLevelToken(cfg.AppToken),
	)
	answers, err := lru.New[answerKey, json.RawMessage](answerCacheSize)
	if err != nil {
		return nil, err
	}
	return &Client{
		answers:     answers,
		api:         api,
		log:         cfg.Logger.With(zap.String("component", "slack")),
		metrics:     m,
		secrets:     []string{cfg.AppToken, cfg.BotToken},
		callTimeout: 15 * time.Second,
		maxAttempts: 5,
		sleep:       bot.Sleep,
		now:         func() time.Time { return time.Now().UTC() },
	}, nil
}

// idleConns is how many connections to Slack are kept open between calls:
// the engine's workers (16 by default) times the calls a handler makes at
// once (a declaration makes five), with room to spare.
const idleConns = 128

// newHTTPClient is the default Web API client: Go's default transport, but
// keeping idleConns connections to Slack open instead of 2. With 2, every
// call beyond the second one in flight dialled anew, and against slack.com
// shook hands over TLS anew, then closed its connection: under the load
// tool's mixed workload the CPU profile had 7 % of opsbot in dialling and the
// mutex profile most of its waiting in the transport's idle pool.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = idleConns
	t.MaxIdleConnsPerHost = idleConns
	return &http.Client{Timeout: 30 * time.Second, Transport: t}
}

// Connected reports whether the Socket Mode connection is up, for /readyz.
func (c *Client) Connected() bool { return c.connected.Load() }

// call runs one Web API call: bounded by a deadline, retried after 429s up to
// maxAttempts, counted, and with any error wrapped as "slack METHOD: …" with
// secrets removed.
func (c *Client) call(ctx context.Context, method string, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, c.callTimeout)
		err := fn(cctx)
		cancel()
		outcome := classify(err)
		c.metrics.calls.WithLabelValues(method, outcome).Inc()
		if err == nil {
			return nil
		}
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) && attempt < c.maxAttempts {
			wait := max(rl.RetryAfter, 0)
			c.log.Warn("slack rate limited; waiting", zap.String("method", method),
				zap.Duration("retry_after", wait), zap.Int("attempt", attempt))
			if serr := c.sleep(ctx, wait); serr != nil {
				return c.wrap(method, fmt.Errorf("waiting out rate limit: %w", serr))
			}
			continue
		}
		return c.wrap(method, err)
	}
}

func classify(err error) string {
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &rl):
		return "rate_limited"
	case errors.As(err, &se):
		return "slack_error"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "error"
	}
}

func (c *Client) wrap(method string, err error) error {
	return &apiError{method: method, err: err, secrets: c.secrets}
}

// apiError is a failed Web API call. Its message never contains a token or
// a response URL (which carries one); the cause stays reachable with
// errors.As, e.g. slack.SlackErrorResponse for the Slack error code.
type apiError struct {
	method  string
	err     error
	secrets []string
}

func (e *apiError) Error() string {
	return "slack " + e.method + ": " + redactString(e.err.Error(), e.secrets)
}

func (e *apiError) Unwrap() error { return e.err }

var (
	tokenPattern = regexp.MustCompile(`x(?:ox[a-z]|app)-[A-Za-z0-9-]+`)
	hookPattern  = regexp.MustCompile(`https?://[^\s"']*/(?:response|actions|commands)/[^\s"']*`)
)

func redactString(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	s = tokenPattern.ReplaceAllString(s, "[REDACTED]")
	return hookPattern.ReplaceAllString(s, "[response_url]")
}

// slackCode returns the Slack error code of err ("name_taken", …), or "".
func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

type metrics struct {
	calls      *prometheus.CounterVec
	received   *prometheus.CounterVec
	acked      *prometheus.CounterVec
	ackLatency prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_slack_api_calls_total",
			Help: "Slack Web API calls by method and outcome (ok, rate_limited, slack_error, timeout, canceled, error).",
		}, []string{"method", "outcome"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_envelopes_received_total",
			Help: "Socket Mode envelopes received, by type.",
		}, []string{"type"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_envelopes_acked_total",
			Help: "Socket Mode envelopes acknowledged, by type.",
		}, []string{"type"}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "opsbot_ack_latency_seconds",
			Help:    "Time from receiving a Socket Mode envelope to queueing its ack.",
			Buckets: []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5},
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.calls = bot.RegisterMetric(reg, m.calls, &err)
	m.received = bot.RegisterMetric(reg, m.received, &err)
	m.acked = bot.RegisterMetric(reg, m.acked, &err)
	m.ackLatency = bot.RegisterMetric(reg, m.ackLatency, &err)
	if err != nil {
		return nil, fmt.Errorf("register slack metrics: %w", err)
	}
	return m, nil
}
