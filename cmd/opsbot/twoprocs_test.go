package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// opsbotProcess is the real binary, started with env.
type opsbotProcess struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

func startProcess(t *testing.T, bin string, env []string) *opsbotProcess {
	t.Helper()
	p := &opsbotProcess{cmd: exec.Command(bin), logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done })
	return p
}

// TestTwoProcessesOneHost runs two opsbot processes on one host with the
// same configuration (one spool directory, one HTTP address): both start
// and answer. With Redis down, both hold notes in their spool files; one is
// killed with its notes still held, and the other adopts its spool file
// and writes them once Redis is back.
func TestTwoProcessesOneHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	rs := redistest.NewServer(t, redistest.WithAppendOnly()) // the incident outlives the outage
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice", Email: "alice@example.com"})
	general := fs.AddChannel("general", alice)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	cfgFile := filepath.Join(dir, "opsbot.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("admins: [%s]\nredis: {spool_dir: %s}\n", alice, spool)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"SLACK_APP_TOKEN=" + fs.AppToken(), "SLACK_BOT_TOKEN=" + fs.BotToken(), "SLACK_API_URL=" + fs.APIURL(),
		"REDIS_URL=" + rs.URL(), "OPSBOT_HTTP_ADDR=" + freeAddr(t), "OPSBOT_CONFIG=" + cfgFile, "OPSBOT_LOG_LEVEL=debug",
	}
	bin := buildBinary(t)
	first := startProcess(t, bin, env)
	second := startProcess(t, bin, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := fs.WaitConnections(ctx, 2); err != nil {
		t.Fatalf("%v\nfirst:\n%s\nsecond:\n%s", err, first.logs.String(), second.logs.String())
	}

	// answer sends a command and returns the reply, and which process
	// handled it (envelopes go to the connections in turn).
	answer := func(channel, text string) (string, *opsbotProcess) {
		t.Helper()
		before := len(fs.Ephemerals(channel, alice))
		sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: text, UserID: alice, ChannelID: channel})
		if err != nil {
			t.Fatal(err)
		}
		var reply string
		if err := fs.WaitUntil(ctx, func() bool {
			es := fs.Ephemerals(channel, alice)
			if len(es) > before {
				reply = es[before].Rendered()
				return true
			}
			return false
		}); err != nil {
			t.Fatalf("no answer to %q: %v", text, err)
		}
		// The log line may reach the pipe after the answer reaches Slack.
		var by *opsbotProcess
		if err := fs.WaitUntil(ctx, func() bool {
			for _, p := range []*opsbotProcess{first, second} {
				if strings.Contains(p.logs.String(), sent.EnvelopeID) {
					by = p
					return true
				}
			}
			return false
		}); err != nil {
			t.Fatalf("no process logged envelope %s", sent.EnvelopeID)
		}
		return reply, by
	}

	reply, _ := answer(general, "declare sev2 disk full")
	if !strings.Contains(reply, "Declared INC-1") {
		t.Fatalf("declare answered %q", reply)
	}
	inc, ok := fs.ChannelByName("inc-1-disk-full")
	if !ok {
		t.Fatal("no incident channel")
	}
	// Each process answers in the incident channel once while Redis is up,
	// so that both know it is INC-1's when Redis is gone.
	seen := map[*opsbotProcess]bool{}
	for i := 0; len(seen) < 2 && i < 10; i++ {
		reply, p := answer(inc.ID, fmt.Sprintf("note before the outage %d", i))
		if !strings.Contains(reply, "Added to the INC-1 timeline") {
			t.Fatalf("note before the outage answered %q", reply)
		}
		seen[p] = true
	}
	if len(seen) < 2 {
		t.Fatalf("only one process answered 10 commands; want both")
	}
	// One HTTP address for both: one serves it, the other says why not.
	inUse := 0
	for _, p := range []*opsbotProcess{first, second} {
		if strings.Contains(p.logs.String(), "http address in use") {
			inUse++
		}
	}
	if inUse != 1 {
		t.Errorf("%d processes logged that the HTTP address is in use, want 1", inUse)
	}
	rs.Stop()
	heldBy := map[*opsbotProcess][]string{}
	for i := 0; i < 6; i++ {
		note := fmt.Sprintf("held-note-%d", i)
		reply, p := answer(inc.ID, "note "+note)
		if !strings.Contains(reply, "Added to the INC-1 timeline") {
			t.Fatalf("note %d answered %q during the outage", i, reply)
		}
		heldBy[p] = append(heldBy[p], note)
	}
	if len(heldBy[first]) == 0 || len(heldBy[second]) == 0 {
		t.Fatalf("notes handled: first %v, second %v; want both processes answering", heldBy[first], heldBy[second])
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	rs.Start()

	// The second writes its own notes and adopts the first's spool.
	c := rs.Client()
	var stored string
	pollRedis(t, "every held note written once", func() bool {
		msgs, err := c.XRange(ctx, "opsbot:timeline:{INC-1}", "-", "+").Result()
		if err != nil {
			return false
		}
		var b strings.Builder
		for _, m := range msgs {
			fmt.Fprintln(&b, m.Values["event"])
		}
		stored = b.String()
		for _, notes := range heldBy {
			for _, n := range notes {
				if strings.Count(stored, `"`+n+`"`) != 1 {
					return false
				}
			}
		}
		return true
	})
	if !strings.Contains(second.logs.String(), "adopted timeline events held by a process that is gone") {
		t.Errorf("the second process did not log the adoption")
	}
	files, _ := filepath.Glob(filepath.Join(spool, "*.spool"))
	if len(files) != 1 {
		t.Errorf("spool files after the adoption: %v; want only the second process's own", files)
	}
	// The survivor keeps answering.
	if reply, _ := answer(inc.ID, "note after the adoption"); !strings.Contains(reply, "Added to the INC-1 timeline") {
		t.Errorf("second process answered %q after the adoption", reply)
	}
	t.Logf("first held %d notes and was killed; second held %d and adopted the first's", len(heldBy[first]), len(heldBy[second]))
}
