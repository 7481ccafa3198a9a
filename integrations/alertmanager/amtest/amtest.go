// Package amtest runs the real Prometheus Alertmanager binary for tests and
// the load tool: one process per call, on a free loopback port, clustering
// off, with a generated configuration whose single webhook receiver posts to
// a given URL with bearer credentials, and short group timings so that tests
// see notifications within a second or two.
//
// The binary is found through OPSBOT_ALERTMANAGER_BIN, then on the PATH,
// then in $GOBIN, $GOPATH/bin and ~/go/bin. Install it with
//
//	go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.28.1
//
// Without it, New skips the test, unless OPSBOT_REQUIRE_REAL_ALERTMANAGER=1
// (which CI sets) makes it fail.
package amtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot/bottest/proctest"
)

// Environment variables.
const (
	// BinEnv names the Alertmanager binary to run.
	BinEnv = "OPSBOT_ALERTMANAGER_BIN"
	// RequireEnv, when true, makes New fail rather than skip without a
	// binary.
	RequireEnv = "OPSBOT_REQUIRE_REAL_ALERTMANAGER"
)

// startTimeout bounds how long Alertmanager may take to become ready.
const startTimeout = 30 * time.Second

// Config is the Alertmanager configuration to generate.
type Config struct {
	// WebhookURL is where the receiver posts notifications (required).
	WebhookURL string
	// Token is sent as `Authorization: Bearer <Token>` through
	// http_config.authorization; empty sends no credentials.
	Token string
	// Receiver names the receiver (default "opsbot").
	Receiver string
	// GroupBy are the labels alerts are grouped by (default alertname).
	GroupBy []string
	// GroupWait, GroupInterval and RepeatInterval default to 200ms, 1s and
	// 1h.
	GroupWait, GroupInterval, RepeatInterval time.Duration
	// MaxAlerts is the webhook's max_alerts (0: all).
	MaxAlerts int
	// SendResolved defaults to true; set NoResolved to turn it off.
	NoResolved bool
}

// Alertmanager is a running Alertmanager.
type Alertmanager struct {
	// URL is its base URL, e.g. http://127.0.0.1:40123.
	URL string
	// Config is the configuration it runs with, defaults filled in.
	Config Config

	proc *proctest.Process
	logs *proctest.CapBuffer
	dir  string
	once sync.Once
}

// Binary returns the Alertmanager binary to run, or an error saying where
// it was looked for.
func Binary() (string, error) {
	if p := os.Getenv(BinEnv); p != "" {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s: no such file", BinEnv, p)
	}
	if p, err := exec.LookPath("alertmanager"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range filepath.SplitList(os.Getenv("GOPATH")) {
		if d != "" {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "alertmanager")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("no alertmanager binary: set %s, put it on the PATH, or "+
		"go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.28.1 (looked in %s)",
		BinEnv, strings.Join(dirs, ", "))
}

// Required reports whether RequireEnv forbids skipping.
func Required() bool {
	v, _ := strconv.ParseBool(os.Getenv(RequireEnv))
	return v
}

// New starts Alertmanager for one test and stops it when the test ends. It
// skips the test when there is no binary, unless Required.
func New(t testing.TB, cfg Config) *Alertmanager {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if Required() {
			t.Fatalf("amtest: %v (and %s is set)", err, RequireEnv)
		}
		t.Skipf("amtest: %v", err)
	}
	am, err := start(bin, cfg, t.TempDir())
	if err != nil {
		t.Fatalf("amtest: %v", err)
	}
	t.Cleanup(func() {
		am.Close()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", am.logs.String())
		}
	})
	return am
}

// Start starts Alertmanager outside a test (the load tool). Close stops it
// and removes its data directory.
func Start(cfg Config) (*Alertmanager, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "opsbot-alertmanager-")
	if err != nil {
		return nil, err
	}
	am, err := start(bin, cfg, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	am.dir = dir
	return am, nil
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.WebhookURL == "" {
		return cfg, errors.New("amtest: WebhookURL is required")
	}
	if cfg.Receiver == "" {
		cfg.Receiver = "opsbot"
	}
	if len(cfg.GroupBy) == 0 {
		cfg.GroupBy = []string{"alertname"}
	}
	if cfg.GroupWait <= 0 {
		cfg.GroupWait = 200 * time.Millisecond
	}
	if cfg.GroupInterval <= 0 {
		cfg.GroupInterval = time.Second
	}
	if cfg.RepeatInterval <= 0 {
		cfg.RepeatInterval = time.Hour
	}
	return cfg, nil
}

// YAML renders the Alertmanager configuration. JSON is valid YAML, and
// encoding/json quotes every value safely.
func (cfg Config) YAML() ([]byte, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	wh := map[string]any{"url": cfg.WebhookURL, "send_resolved": !cfg.NoResolved, "max_alerts": cfg.MaxAlerts}
	if cfg.Token != "" {
		wh["http_config"] = map[string]any{"authorization": map[string]any{"type": "Bearer", "credentials": cfg.Token}}
	}
	doc := map[string]any{
		"route": map[string]any{
			"receiver": cfg.Receiver, "group_by": cfg.GroupBy,
			"group_wait": cfg.GroupWait.String(), "group_interval": cfg.GroupInterval.String(),
			"repeat_interval": cfg.RepeatInterval.String(),
		},
		"receivers": []any{map[string]any{"name": cfg.Receiver, "webhook_configs": []any{wh}}},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func start(bin string, cfg Config, dir string) (*Alertmanager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	conf, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return nil, fmt.Errorf("write alertmanager config: %w", err)
	}
	am, _, err := proctest.OnFreePort(func(port int) (*Alertmanager, error) {
		return run(bin, cfg, dir, confPath, port)
	})
	return am, err
}

func run(bin string, cfg Config, dir, confPath string, port int) (*Alertmanager, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	storage := filepath.Join(dir, "data-"+strconv.Itoa(port))
	cmd := exec.Command(bin,
		"--config.file="+confPath,
		"--storage.path="+storage,
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip: one instance per test
		"--log.level=info",
	)
	logs := &proctest.CapBuffer{Max: 64 << 10}
	cmd.Stdout, cmd.Stderr = logs, logs
	p, err := proctest.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start alertmanager: %w", err)
	}
	am := &Alertmanager{URL: "http://" + addr, Config: cfg, proc: p, logs: logs}
	if err := p.WaitReady(startTimeout, 5*time.Millisecond, 100*time.Millisecond, am.ready); err != nil {
		am.stop()
		return nil, fmt.Errorf("alertmanager on %s: %w\n%s", addr, err, logs.String())
	}
	return am, nil
}

// ready asks Alertmanager's readiness endpoint.
func (am *Alertmanager) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return am.get(ctx, "/-/ready", nil)
}

// Close stops Alertmanager and removes what Start created.
func (am *Alertmanager) Close() {
	am.once.Do(func() {
		am.stop()
		if am.dir != "" {
			os.RemoveAll(am.dir)
		}
	})
}

func (am *Alertmanager) stop() { am.proc.Stop(10 * time.Second) }

// Logs is what Alertmanager printed so far (the first 64 KiB).
func (am *Alertmanager) Logs() string { return am.logs.String() }

// PostableAlert is an alert as Alertmanager's API v2 takes it. A zero EndsAt
// lets the alert fire until resolve_timeout; an EndsAt in the past
// resolves it.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// PostAlerts sends alerts to Alertmanager, as Prometheus does.
func (am *Alertmanager) PostAlerts(ctx context.Context, alerts ...PostableAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, am.URL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post alerts: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("post alerts: HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

// GettableAlert is an alert as Alertmanager's API v2 lists it.
type GettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Fingerprint string            `json:"fingerprint"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State       string   `json:"state"` // active, suppressed, unprocessed
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// Alerts lists the alerts Alertmanager holds.
func (am *Alertmanager) Alerts(ctx context.Context) ([]GettableAlert, error) {
	var out []GettableAlert
	err := am.get(ctx, "/api/v2/alerts", &out)
	return out, err
}

// Metric returns the sum of the samples of a counter or gauge on /metrics
// whose labels include the given ones.
func (am *Alertmanager) Metric(ctx context.Context, name string, labels map[string]string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbls string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			lbls, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // another metric with this prefix
		}
		ok := true
		for k, v := range labels {
			if !strings.Contains(","+lbls+",", ","+k+"=\""+v+"\",") {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += f
	}
	return sum, sc.Err()
}

func (am *Alertmanager) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
