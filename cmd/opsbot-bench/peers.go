package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// defaultAnswer is what the peers answer in the ack when opsbot's answer is
// not in its ack (a command that needs I/O).
var defaultAnswer = json.RawMessage(`{"response_type":"ephemeral","text":"ok"}`)

// bareEnv, set to 1, makes the tool's own binary run as the bare client:
// a process of its own, like opsbot and Bolt, so that none of the three
// shares the fake's process (and its running threads) and all three pay the
// same cross-process wake-ups.
const bareEnv = "OPSBOT_BENCH_BARE"

// runBare is the bare client: slack-go's socketmode client acking every
// envelope as it arrives, a slash command's with the answer BENCH_ANSWER,
// and doing nothing else, so the difference to opsbot is what opsbot adds.
// It runs until SIGTERM or SIGINT and exits 1 if an ack failed.
func runBare(stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	answer := json.RawMessage(os.Getenv("BENCH_ANSWER"))
	if !json.Valid(answer) {
		answer = defaultAnswer
	}
	api := slack.New(os.Getenv("SLACK_BOT_TOKEN"), slack.OptionAppLevelToken(os.Getenv("SLACK_APP_TOKEN")),
		slack.OptionAPIURL(os.Getenv("SLACK_API_URL")))
	smc := socketmode.New(api, socketmode.OptionLog(log.New(io.Discard, "", 0)))
	var failed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-smc.Events:
				if evt.Request == nil {
					continue
				}
				var payload any
				if evt.Type == socketmode.EventTypeSlashCommand {
					payload = answer
				}
				if err := smc.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil && ctx.Err() == nil {
					failed.Add(1)
				}
			}
		}
	}()
	err := smc.RunContext(ctx)
	stop()
	wg.Wait()
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "bare client: %v\n", err)
		return 1
	}
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(stderr, "bare client: %d acks failed\n", n)
		return 1
	}
	return 0
}

// startBare runs the bare client, the tool's own binary, against fs.
func startBare(fs *fakeslack.Server, answer json.RawMessage) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the tool's own binary: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = botEnv(bareEnv+"=1", "SLACK_APP_TOKEN="+fs.AppToken(), "SLACK_BOT_TOKEN="+fs.BotToken(),
		"SLACK_API_URL="+fs.APIURL(), "BENCH_ANSWER="+string(answer))
	return startChild("bare client", cmd)
}

// boltPeer is the Bolt for JavaScript app in cmd/opsbot-bench/bolt, run
// with node against one fake.
type boltPeer struct {
	proc    *child
	version string
	node    string
}

// boltDir finds cmd/opsbot-bench/bolt in the module the tool runs in.
func boltDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", errors.New("run inside the opsbot module to find cmd/opsbot-bench/bolt")
	}
	return filepath.Join(filepath.Dir(mod), "cmd", "opsbot-bench", "bolt"), nil
}

// prepareBolt checks for node and npm and installs the app's locked
// dependencies when they are missing (npm ci). skip is the reason Bolt
// cannot run, for -bolt=auto to report; err is a failure of an install that
// should have worked.
func prepareBolt(ctx context.Context, stderr io.Writer) (dir, skip string, err error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Sprintf("no %s on PATH: install Node.js 18 or later with npm to include Bolt", tool), nil
		}
	}
	dir, err = boltDir(ctx)
	if err != nil {
		return "", err.Error(), nil
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@slack", "bolt", "package.json")); err == nil {
		return dir, "", nil
	}
	fmt.Fprintf(stderr, "opsbot-bench: installing Bolt's locked dependencies (npm ci in %s)\n", dir)
	ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ictx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	return dir, "", nil
}

// startBolt runs the Bolt app against fs, answering with answer in the ack.
func startBolt(ctx context.Context, dir string, fs *fakeslack.Server, answer json.RawMessage) (*boltPeer, error) {
	p := &boltPeer{}
	if out, err := exec.CommandContext(ctx, "node", "--version").Output(); err == nil {
		p.node = strings.TrimSpace(string(out))
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "node_modules", "@slack", "bolt", "package.json")); err == nil {
		_ = json.Unmarshal(raw, &pkg)
	}
	p.version = pkg.Version
	cmd := exec.Command("node", "app.js")
	cmd.Dir = dir
	cmd.Env = botEnv("SLACK_APP_TOKEN="+fs.AppToken(), "SLACK_BOT_TOKEN="+fs.BotToken(),
		"SLACK_API_URL="+fs.APIURL(), "BENCH_ANSWER="+string(answer), "NODE_ENV=production")
	proc, err := startChild("bolt", cmd)
	if err != nil {
		return nil, err
	}
	p.proc = proc
	return p, nil
}
