package runbook

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// buttonValueIn finds the value of the button with actionID in Block Kit
// JSON.
func buttonValueIn(t *testing.T, blocks json.RawMessage, actionID string) string {
	t.Helper()
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(blocks, &bs); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return e.Value
			}
		}
	}
	t.Fatalf("no button %s in %s", actionID, blocks)
	return ""
}

// TestEndToEndThroughFakeSlack drives the real Slack client (Socket Mode and
// Web API) against the fake Slack, with the engine and a real Redis: a
// request needing approval, the approval click, streamed output in a
// thread, the final summary, the uploaded file and the audit trail.
func TestEndToEndThroughFakeSlack(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: "U0ALICE", TeamID: fakeslack.TeamID, Name: "alice"})
	fs.AddUser(fakeslack.User{ID: "U0LEAD", TeamID: fakeslack.TeamID, Name: "lead"})
	fs.AddUser(fakeslack.User{ID: "U0GUEST", TeamID: fakeslack.TeamID, Name: "guest", IsRestricted: true})
	ops := fs.AddChannel("ops", "U0ALICE", "U0LEAD", "U0GUEST", fakeslack.BotUserID)
	leads := fs.AddUsergroup("sre-leads", "U0LEAD")

	gates := t.TempDir()
	script := "echo step-one; while [ ! -e " + filepath.Join(gates, "go") + " ]; do sleep 0.005; done; " +
		"echo step-two password=swordfish; seq 1 400"
	catalog, _ := loadCatalog(t, map[string]string{"deploy.yaml": "name: deploy\ndescription: deploy\n" +
		"command: [/bin/sh, -c, \"" + script + "\", deploy, \"{{env}}\"]\n" +
		"params: {env: {enum: [staging, prod], default: staging}}\ntimeout: 1m\n" +
		"allow: {users: [U0ALICE, U0GUEST]}\napproval: {when: {env: prod}, approvers: {usergroups: [" + leads + "]}}\n"})

	client, err := slack.New(slack.Config{AppToken: fs.AppToken(), BotToken: fs.BotToken(), APIURL: fs.APIURL(), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	store, err := redis.NewRunbooks(redistest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ticker := &fakeTicker{ch: make(chan time.Time)}
	svc, err := New(Config{
		Catalog: catalog, Chat: client, Approvals: store, Audit: store, Locks: store, Slots: store,
		TeamID: fakeslack.TeamID, Logger: zaptest.NewLogger(t), NewTicker: ticker.New, MessageBytes: 300,
	})
	if err != nil {
		t.Fatal(err)
	}
	router := bot.NewRouter()
	svc.Register(router)
	engine, err := bot.NewEngine(bot.EngineConfig{Router: router, Responder: client, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	go engine.Run(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = client.Listen(lctx, engine) }()
	t.Cleanup(func() {
		stop()
		<-done
		_ = engine.Close(context.Background())
		_ = svc.Wait(context.Background())
	})
	if err := fs.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitSlack := func(what string, cond func() bool) {
		t.Helper()
		if err := fs.WaitUntil(ctx, cond); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}

	// A guest is refused, ephemerally, and nothing is posted.
	if _, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/runbook", Text: "run deploy", UserID: "U0GUEST", ChannelID: ops}); err != nil {
		t.Fatal(err)
	}
	waitSlack("guest refusal", func() bool { return len(fs.Ephemerals(ops, "U0GUEST")) > 0 })
	if got := fs.Ephemerals(ops, "U0GUEST")[0].Rendered(); !strings.Contains(got, "guest accounts are refused") {
		t.Errorf("got %q, want the guest refusal", got)
	}

	// Alice asks for prod: an approval message with buttons.
	if _, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/runbook", Text: "run deploy env=prod", UserID: "U0ALICE", ChannelID: ops}); err != nil {
		t.Fatal(err)
	}
	waitSlack("approval message", func() bool { return len(fs.Messages(ops)) == 1 })
	approval := fs.Messages(ops)[0]
	value := buttonValueIn(t, approval.Blocks, ActionApprove)

	// Alice cannot approve her own request.
	if _, err := fs.SendBlockAction(fakeslack.BlockAction{UserID: "U0ALICE", ChannelID: ops, MessageTS: approval.TS, ActionID: ActionApprove, Value: value}); err != nil {
		t.Fatal(err)
	}
	waitSlack("self-approval refusal", func() bool { return len(fs.Ephemerals(ops, "U0ALICE")) > 0 })
	if got := fs.Ephemerals(ops, "U0ALICE")[0].Rendered(); !strings.Contains(got, "cannot approve their own request") {
		t.Errorf("got %q, want the self-approval refusal", got)
	}

	// The lead approves: output streams into the approval's thread.
	if _, err := fs.SendBlockAction(fakeslack.BlockAction{UserID: "U0LEAD", ChannelID: ops, MessageTS: approval.TS, ActionID: ActionApprove, Value: value}); err != nil {
		t.Fatal(err)
	}
	var out fakeslack.Message
	waitSlack("output message in the thread", func() bool {
		for _, m := range fs.Messages(ops) {
			if m.ThreadTS == approval.TS && m.TS != approval.TS {
				out = m
				return true
			}
		}
		return false
	})
	waitSlack("approval message replaced", func() bool {
		m, _ := fs.Message(ops, approval.TS)
		return strings.Contains(m.Rendered(), "<@U0LEAD> approved the run requested by <@U0ALICE>")
	})
	clock := time.Now()
	for step := 0; ; step++ {
		clock = clock.Add(2 * time.Second)
		ticker.ch <- clock
		if m, _ := fs.Message(ops, out.TS); strings.Contains(m.Rendered(), "step-one") {
			break
		}
		if step > 1000 {
			t.Fatal("progress never showed step-one")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if m, _ := fs.Message(ops, out.TS); strings.Contains(m.Rendered(), "exit code") {
		t.Fatalf("got %q, want progress before the end", m.Rendered())
	}
	if err := os.WriteFile(filepath.Join(gates, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitSlack("final summary", func() bool {
		m, _ := fs.Message(ops, out.TS)
		return strings.Contains(m.Rendered(), "exit code 0")
	})
	final, _ := fs.Message(ops, out.TS)
	if r := final.Rendered(); !strings.Contains(r, "400") || strings.Contains(r, "swordfish") {
		t.Errorf("got final message %q, want the tail of the output, redacted", r)
	}
	waitSlack("uploaded output", func() bool { return len(fs.Files()) == 1 && fs.Files()[0].Shared })
	f := fs.Files()[0]
	if f.Channel != ops || f.ThreadTS != approval.TS || !strings.Contains(string(f.Content), "step-two password=[REDACTED]\n1\n2\n") {
		t.Errorf("got file in %s/%s with %q…, want the full redacted output in the thread", f.Channel, f.ThreadTS, clipBytes(f.Content, 80))
	}

	var recs []bot.AuditRecord
	waitFor(t, "finished audit record", func() bool {
		recs, err = store.RecentAudit(ctx, 100)
		return err == nil && len(recs) > 0 && recs[len(recs)-1].Event == bot.AuditFinished
	})
	if got, want := strings.Join(events(recs), ","), "refused,approval_requested,refused,approval_granted,started,finished"; got != want {
		t.Errorf("got audit %s, want %s", got, want)
	}
	fin := recs[len(recs)-1]
	if fin.User != "U0ALICE" || fin.Approver != "U0LEAD" || fin.Channel != ops || fin.Runbook != "deploy" ||
		fin.ExitCode == nil || *fin.ExitCode != 0 || fin.Argv[len(fin.Argv)-1] != "prod" || !strings.HasPrefix(fin.OutputDigest, "sha256:") {
		t.Errorf("got finished record %+v", fin)
	}
	if n := len(fs.Calls("chat.update")); n < 3 {
		t.Errorf("got %d chat.update calls, want approval replaced, progress and final", n)
	}
}

func clipBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
