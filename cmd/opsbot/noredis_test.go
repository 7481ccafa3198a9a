package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// TestSocketModeRefusesWithoutRedis: with Slack tokens but neither
// REDIS_URL nor redis.addrs, opsbot does not quietly run on memory: it
// exits 1 saying why and how to run anyway, before it connects to Slack.
// Console mode still needs nothing.
func TestSocketModeRefusesWithoutRedis(t *testing.T) {
	fs := fakeslack.New(t)
	env := map[string]string{"SLACK_APP_TOKEN": fs.AppToken(), "SLACK_BOT_TOKEN": fs.BotToken(), "SLACK_API_URL": fs.APIURL(),
		"OPSBOT_HTTP_ADDR": "127.0.0.1:0"}
	var out, errOut bytes.Buffer
	code := run(nil, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut.String())
	}
	for _, want := range []string{"refusing to start", "Socket Mode needs Redis", "REDIS_URL", "redis.addrs",
		"lost when it exits", "OPSBOT_ALLOW_EPHEMERAL_STORE=1", "opsbot console"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, errOut.String())
		}
	}
	if n := len(fs.Calls()); n != 0 {
		t.Errorf("%d Slack calls before refusing, want none", n)
	}

	out.Reset()
	errOut.Reset()
	if code := run([]string{"console"}, func(string) string { return "" }, strings.NewReader("/incident list\n"), &out, &errOut); code != 0 {
		t.Fatalf("console without Redis: exit %d, want 0\n%s", code, errOut.String())
	}
}

// TestEphemeralStoreRunsWhenAllowed starts the binary in Socket Mode
// without Redis but with OPSBOT_ALLOW_EPHEMERAL_STORE=1: it warns, answers
// and stops cleanly.
func TestEphemeralStoreRunsWhenAllowed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice", Email: "alice@example.com"})
	general := fs.AddChannel("general", alice)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "opsbot.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("admins: [%s]\nredis: {spool_dir: %s}\n", alice, filepath.Join(dir, "spool"))), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, buildBinary(t), []string{
		"SLACK_APP_TOKEN=" + fs.AppToken(), "SLACK_BOT_TOKEN=" + fs.BotToken(), "SLACK_API_URL=" + fs.APIURL(),
		"OPSBOT_HTTP_ADDR=" + freeAddr(t), "OPSBOT_CONFIG=" + cfgFile, "OPSBOT_ALLOW_EPHEMERAL_STORE=1", "REDIS_URL=",
	})
	ctx := testCtx(t)
	if err := fs.WaitConnections(ctx, 1); err != nil {
		t.Fatalf("%v\n%s", err, p.logs.String())
	}
	sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: "declare sev3 trying it out", UserID: alice, ChannelID: general})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitAck(ctx, sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	if err := fs.WaitUntil(ctx, func() bool {
		for _, e := range fs.Ephemerals(general, alice) {
			if strings.Contains(e.Rendered(), "Declared INC-1") {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no answer on the in-memory store: %v\n%s", err, p.logs.String())
	}
	if !strings.Contains(p.logs.String(), "embedded in-memory store") {
		t.Errorf("no warning about the in-memory store:\n%s", p.logs.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit %d after SIGTERM, want 0\n%s", code, p.logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", p.logs.String())
	}
}
