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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// defaultAnswer is what the peers answer in the ack when opsbot's answer is
// not in its ack (a command that needs I/O).
var defaultAnswer = json.RawMessage(`{"response_type":"ephemeral","text":"ok"}`)

// bareClient is the floor: slack-go's socketmode client acking every
// envelope as it arrives, with the answer in the ack, and doing nothing else,
// so the difference to opsbot is what opsbot adds.
type bareClient struct {
	ackErrors atomic.Int64
	wg        sync.WaitGroup
	cancel    context.CancelFunc
}

func startBare(ctx context.Context, fs *fakeslack.Server, answer json.RawMessage) *bareClient {
	ctx, cancel := context.WithCancel(ctx)
	e := &bareClient{cancel: cancel}
	api := slack.New(fs.BotToken(), slack.OptionAppLevelToken(fs.AppToken()), slack.OptionAPIURL(fs.APIURL()))
	smc := socketmode.New(api, socketmode.OptionLog(log.New(io.Discard, "", 0)))
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		_ = smc.RunContext(ctx)
	}()
	go func() {
		defer e.wg.Done()
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
				if err := smc.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil {
					e.ackErrors.Add(1)
				}
			}
		}
	}()
	return e
}

// stop ends the client and waits for its goroutines.
func (e *bareClient) stop() {
	e.cancel()
	e.wg.Wait()
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
