package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

func TestHTTPEndpoints(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := newRegistry()
	m := newHandlerMetrics(reg)
	m.Handled("/incident declare", "ok", 20*time.Millisecond)
	reg.MustRegister(failingCollector{prometheus.NewDesc("opsbot_needs_redis", "a collector reading Redis, which is down", nil, nil)})
	healthy := true
	addr, done, err := serveHTTP(ctx, "127.0.0.1:0", reg, []readiness{
		{"slack", func(context.Context) (bool, string, error) {
			if !healthy {
				return false, "socket mode not connected", nil
			}
			return true, "ok", nil
		}},
		{"redis", func(context.Context) (bool, string, error) {
			if !healthy {
				return false, "unreachable", errors.New("redis ping: dial tcp 10.1.2.3:6379: connect: connection refused")
			}
			return true, "ok", nil
		}},
	}, nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name     string
		path     string
		healthy  bool
		wantCode int
		want     string
	}{
		{"healthz", "/healthz", false, 200, "ok"},
		{"ready", "/readyz", true, 200, "slack: ok\nredis: ok\n"},
		{"not ready, with causes and no raw error", "/readyz", false, 503, "slack: socket mode not connected\nredis: unreachable\n"},
		{"metrics, while one collector fails", "/metrics", true, 200, `opsbot_requests_handled_total{outcome="ok",route="/incident declare"} 1`},
		{"alert hooks without an alerts section", "/hooks/alertmanager", true, 404, "alert intake is not configured"},
		{"grafana hook without an alerts section", "/hooks/grafana", true, 404, "alert intake is not configured"},
		{"no profiles unless asked", "/debug/pprof/", true, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			healthy = tt.healthy
			code, body := get(tt.path)
			if code != tt.wantCode || !strings.Contains(body, tt.want) {
				t.Errorf("GET %s: got %d %q, want %d containing %q", tt.path, code, body, tt.wantCode, tt.want)
			}
			if strings.Contains(body, "10.1.2.3") {
				t.Errorf("GET %s shows a raw error: %q", tt.path, body)
			}
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("server stopped with %v", err)
	}
}

// failingCollector fails every collection, as one reading Redis does while
// Redis is down.
type failingCollector struct{ desc *prometheus.Desc }

func (c failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(c.desc, errors.New("redis unreachable"))
}

// built is the opsbot binary, built once per test binary for the tests
// that run it as a process; TestMain removes it.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestHTTPProfiles: with OPSBOT_PPROF, Go's profiles are served.
func TestHTTPProfiles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done, err := serveHTTP(ctx, "127.0.0.1:0", newRegistry(), nil, nil, zaptest.NewLogger(t), profileRoutes()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/mutex?debug=1"} {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes; want 200 with a profile", path, resp.StatusCode, len(body))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("server stopped with %v", err)
	}
}

// buildBinary builds the opsbot binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "opsbot-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "opsbot")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBinarySIGTERM runs the real binary in Socket Mode against the fake
// Slack and a real Redis: it becomes ready, answers, and on SIGTERM finishes
// the declaration in flight and exits 0. Its logs carry envelope IDs and no
// token.
func TestBinarySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	rs := redistest.NewServer(t)
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice", Email: "alice@example.com"})
	general := fs.AddChannel("general", alice)
	fs.SetLatency(30 * time.Millisecond) // so the declaration is still running at SIGTERM
	httpAddr := freeAddr(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "opsbot.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("admins: [%s]\nredis: {spool_dir: %s}\n", alice, filepath.Join(dir, "spool"))), 0o600)

	cmd := exec.Command(buildBinary(t))
	cmd.Env = append(os.Environ(),
		"SLACK_APP_TOKEN="+fs.AppToken(), "SLACK_BOT_TOKEN="+fs.BotToken(), "SLACK_API_URL="+fs.APIURL(),
		"REDIS_URL="+rs.URL(), "OPSBOT_HTTP_ADDR="+httpAddr, "OPSBOT_CONFIG="+cfgFile,
		"OPSBOT_RUNBOOKS="+filepath.Join("..", "..", "runbooks", "examples"), "OPSBOT_LOG_LEVEL=debug")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	ctx := testCtx(t)
	if err := fs.WaitConnections(ctx, 1); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
			ready = resp.StatusCode == 200
			resp.Body.Close()
		}
		if !ready {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("/readyz never answered 200\n%s", logs.String())
	}

	sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: "declare sev3 disk full", UserID: alice, ChannelID: general})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitAck(ctx, sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v, want 0\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("no exit 40s after SIGTERM\n%s", logs.String())
	}
	// The declaration in flight at SIGTERM was finished, not dropped.
	found := false
	for _, e := range fs.Ephemerals(general, alice) {
		found = found || strings.Contains(e.Rendered(), "Declared INC-1")
	}
	if !found {
		t.Errorf("the in-flight declaration was not finished before exit\n%s", logs.String())
	}
	out := logs.String()
	if !strings.Contains(out, sent.EnvelopeID) {
		t.Errorf("logs do not carry the envelope ID %s", sent.EnvelopeID)
	}
	for _, secret := range []string{fs.AppToken(), fs.BotToken()} {
		if strings.Contains(out, secret) {
			t.Errorf("a token appears in the logs")
		}
	}
}
