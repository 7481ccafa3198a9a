package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// approveValue finds the value of the Approve button in a message's blocks.
func approveValue(t *testing.T, blocks json.RawMessage) string {
	t.Helper()
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(blocks, &bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID == "runbook.approve" {
				return e.Value
			}
		}
	}
	t.Fatalf("no Approve button in %s", blocks)
	return ""
}

// pollRedis waits for a condition on Redis state, which (unlike the fake
// Slack's) announces no changes.
func pollRedis(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestE2ERunbookApprovedInIncident runs the whole product on two replicas:
// a runbook needing approval is requested in an incident channel, the
// requester's own click is refused, an SRE lead approves, the output lands
// in the thread and as a file, and the audit trail and the incident timeline
// in Redis record every step, on each Redis deployment.
func TestE2ERunbookApprovedInIncident(t *testing.T) {
	onEveryTopology(t, testRunbookApprovedInIncident)
}

func testRunbookApprovedInIncident(t *testing.T, kind redistest.Kind) {
	w := newWorldOn(t, kind)
	dir := t.TempDir()
	rb := "name: deploy\ndescription: deploy the app\n" +
		"command: [/bin/sh, -c, 'echo deploying to $1; echo api_key=sk-live-123456; seq 1 1000', deploy, \"{{env}}\"]\n" +
		"params: {env: {enum: [staging, prod], default: staging}}\ntimeout: 1m\n" +
		"allow: {usergroups: [" + w.SRE + "]}\n" +
		"approval: {when: {env: prod}, approvers: {usergroups: [" + w.SRELeads + "]}}\n"
	if err := os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte(rb), 0o644); err != nil {
		t.Fatal(err)
	}
	b1 := w.startBot(t, botOptions{RunbooksDir: dir})
	w.startBot(t, botOptions{RunbooksDir: dir})
	if err := w.Slack.WaitConnections(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}

	w.slash(t, bob, w.General, "/incident", "declare sev2 Deploy stuck")
	inc := channelNamed(t, w, "inc-1-deploy-stuck")
	if err := w.Slack.WaitUntil(testCtx(t), func() bool { return strings.Contains(strings.Join(w.Slack.Members(inc.ID), ","), bob) }); err != nil {
		t.Fatalf("bob not in the incident channel: %v", err)
	}

	// Only what bob may run is listed; a guest gets nothing.
	w.slash(t, bob, inc.ID, "/runbook", "list")
	w.ephemeralContaining(t, inc.ID, bob, "`deploy` — deploy the app")
	w.slash(t, guest, w.General, "/runbook", "run deploy")
	w.ephemeralContaining(t, w.General, guest, "guest accounts are refused")

	w.slash(t, bob, inc.ID, "/runbook", "run deploy env=prod")
	req := w.messageContaining(t, inc.ID, "Approval needed: deploy")
	value := approveValue(t, req.Blocks)

	click := func(user string) {
		t.Helper()
		sent, err := w.Slack.SendBlockAction(fakeslack.BlockAction{UserID: user, ChannelID: inc.ID, MessageTS: req.TS, ActionID: "runbook.approve", Value: value})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Slack.WaitAck(testCtx(t), sent.EnvelopeID); err != nil {
			t.Fatal(err)
		}
	}
	click(bob)
	w.ephemeralContaining(t, inc.ID, bob, "the requester cannot approve their own request")
	click(carol)
	w.messageContaining(t, inc.ID, "<@"+carol+"> approved the run requested by <@"+bob+">")
	final := w.messageContaining(t, inc.ID, "finished: exit code 0")
	if final.ThreadTS != req.TS {
		t.Errorf("got summary in thread %q, want under the request %q", final.ThreadTS, req.TS)
	}
	if r := final.Rendered(); !strings.Contains(r, "1000") || strings.Contains(r, "sk-live") {
		t.Errorf("got summary %q, want the output's tail, redacted", r)
	}
	w.waitFor(t, "output file", func() bool { fs := w.Slack.Files(); return len(fs) == 1 && fs[0].Shared })
	if f := w.Slack.Files()[0]; f.ThreadTS != req.TS || !strings.HasPrefix(string(f.Content), "deploying to prod\napi_key=[REDACTED]\n1\n") {
		t.Errorf("got file in thread %q starting %q, want the full redacted output", f.ThreadTS, string(f.Content[:40]))
	}

	store, err := oredis.NewRunbooks(w.Redis)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	var recs []bot.AuditRecord
	pollRedis(t, "finished audit record", func() bool {
		recs, err = store.RecentAudit(ctx, 50)
		return err == nil && len(recs) > 0 && recs[len(recs)-1].Event == bot.AuditFinished
	})
	var evs []string
	for _, r := range recs {
		evs = append(evs, string(r.Event))
	}
	if got, want := strings.Join(evs, ","), "refused,approval_requested,refused,approval_granted,started,finished"; got != want {
		t.Errorf("got audit %s, want %s", got, want)
	}
	fin := recs[len(recs)-1]
	if fin.User != bob || fin.Approver != carol || fin.Incident != "INC-1" || fin.Channel != inc.ID ||
		fin.ExitCode == nil || *fin.ExitCode != 0 || fin.Argv[len(fin.Argv)-1] != "prod" || fin.OutputDigest == "" {
		t.Errorf("got finished record %+v", fin)
	}
	pollRedis(t, "runbook events in the timeline", func() bool {
		tl, err := b1.App.timeline.Events(ctx, "INC-1")
		if err != nil {
			return false
		}
		var got []string
		for _, e := range tl {
			if e.Type == bot.TLRunbook {
				got = append(got, e.Details["event"])
			}
		}
		return strings.Join(got, ",") == "approval_requested,refused,approval_granted,started,finished"
	})
}
