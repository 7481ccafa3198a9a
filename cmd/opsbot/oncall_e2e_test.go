package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// buttonValue finds the value of the button with actionID in Block Kit JSON.
func buttonValue(blocks json.RawMessage, actionID string) string {
	var walk func(v any) string
	walk = func(v any) string {
		switch t := v.(type) {
		case map[string]any:
			if t["action_id"] == actionID {
				if s, ok := t["value"].(string); ok {
					return s
				}
			}
			for _, x := range t {
				if s := walk(x); s != "" {
					return s
				}
			}
		case []any:
			for _, x := range t {
				if s := walk(x); s != "" {
					return s
				}
			}
		}
		return ""
	}
	var v any
	if json.Unmarshal(blocks, &v) != nil {
		return ""
	}
	return walk(v)
}

// TestOnCallEndToEnd drives the whole app through the fake Slack (Socket
// Mode and Web API), the fake PagerDuty and a real Redis: /oncall, a handoff
// at a shift change with its user group update and acknowledgement, an
// incident that pulls in the on-call, and a page, on each Redis deployment.
func TestOnCallEndToEnd(t *testing.T) { onEveryTopology(t, testOnCallEndToEnd) }

func testOnCallEndToEnd(t *testing.T, kind redistest.Kind) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	handover := time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)
	clk := bottest.NewClock(handover.Add(-2 * time.Minute))

	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice", RealName: "Alice", Email: "alice@example.com"})
	fs.AddUser(fakeslack.User{ID: "U0BOB", Name: "bob", RealName: "Bob", Email: "bob@example.com"})
	general := fs.AddChannel("general", fakeslack.BotUserID, "U0ALICE", "U0BOB")
	broadcast := fs.AddChannel("incidents", fakeslack.BotUserID)
	handoffCh := fs.AddChannel("payments-oncall", fakeslack.BotUserID, "U0ALICE", "U0BOB")
	group := fs.AddUsergroup("oncall-payments", "U0ALICE")

	const pdToken = "pd-e2e-token"
	pd := fakepd.New(t, pdToken)
	pd.SetNow(clk.Now)
	pd.AddUser(fakepd.User{ID: "PALICE", Name: "Alice", Email: "alice@example.com"})
	pd.AddUser(fakepd.User{ID: "PBOB", Name: "Bob", Email: "bob@example.com"})
	pd.AddUser(fakepd.User{ID: "PZED", Name: "Zed Contractor", Email: "zed@contractor.example"})
	pd.AddUser(fakepd.User{ID: "PBOT", Name: "opsbot", Email: "opsbot@example.com"})
	pd.SetSchedule(fakepd.Schedule{ID: "PSCHED01", Name: "payments", Layers: [][]fakepd.Entry{{
		{UserID: "PALICE", Start: handover.Add(-24 * time.Hour), End: handover},
		{UserID: "PBOB", Start: handover, End: handover.Add(24 * time.Hour)},
	}}})
	pd.SetSchedule(fakepd.Schedule{ID: "PSCHED02", Name: "escalation", Layers: [][]fakepd.Entry{{
		{UserID: "PZED", Start: handover.Add(-7 * 24 * time.Hour), End: handover.Add(7 * 24 * time.Hour)},
	}}})
	pd.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP1", Name: "payments", Rules: []fakepd.Rule{{Level: 1, ScheduleID: "PSCHED01"}}})
	pd.AddService(fakepd.Service{ID: "PSVC001", Name: "Checkout", EscalationPolicyID: "PEP1"})

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "opsbot.yaml")
	cfgYAML := fmt.Sprintf(`admins: [U0ALICE]
incidents:
  broadcast_channel: %s
oncall:
  schedules:
    - {id: PSCHED01, name: payments, handoff_channel: %s, usergroup: %s}
    - {id: PSCHED02, name: escalation}
pagerduty:
  from_email: opsbot@example.com
  services: {checkout: PSVC001}
`, broadcast, handoffCh, group)
	redisEnv, redisYAML := redisSettings(redistest.Shared(t, kind))
	cfgYAML += redisYAML
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SLACK_APP_TOKEN": fs.AppToken(), "SLACK_BOT_TOKEN": fs.BotToken(), "SLACK_API_URL": fs.APIURL(),
		"PAGERDUTY_TOKEN": pdToken, "PAGERDUTY_API_URL": pd.URL, "OPSBOT_CONFIG": cfgPath, "OPSBOT_RUNBOOKS": filepath.Join("..", "..", "runbooks", "examples"),
	}
	for k, v := range redisEnv {
		env[k] = v
	}
	cfg, _, err := config.Load(nil, func(k string) string { return env[k] }, os.ReadFile)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	log := zaptest.NewLogger(t)
	sc, err := slack.New(slack.Config{AppToken: fs.AppToken(), BotToken: fs.BotToken(), APIURL: fs.APIURL(), Logger: log.Named("slack")})
	if err != nil {
		t.Fatalf("slack.New: %v", err)
	}
	a, err := buildApp(cfg, appDeps{Chat: sc, Redis: connectRedisForTest(t, cfg), Clock: clk, Logger: log, SpoolDir: filepath.Join(dir, "spool"), TeamID: fakeslack.TeamID})
	if err != nil {
		t.Fatalf("buildApp: %v", err)
	}
	a.startParts(context.Background(), false) // the test syncs itself
	t.Cleanup(func() { _ = a.shutdown(context.Background()) })
	go func() { _ = sc.Listen(ctx, a.engine) }()
	if err := fs.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	slash := func(user, channel, command, text string) {
		t.Helper()
		sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: command, Text: text, UserID: user, ChannelID: channel})
		if err != nil {
			t.Fatalf("%s %s: %v", command, text, err)
		}
		if _, err := fs.WaitAck(ctx, sent.EnvelopeID); err != nil {
			t.Fatalf("%s %s: no ack: %v", command, text, err)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := fs.WaitUntil(ctx, cond); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	ephemeralWith := func(channel, user, want string) func() bool {
		return func() bool {
			for _, e := range fs.Ephemerals(channel, user) {
				if strings.Contains(bot.DateFallbacks(e.Rendered()), want) {
					return true
				}
			}
			return false
		}
	}

	// 1. The first sync, two minutes before the change; Alice is on call.
	if err := a.oncall.SyncNow(ctx); err != nil {
		t.Fatalf("SyncNow: %v", err)
	}
	slash("U0BOB", general, "/oncall", "")
	waitFor("/oncall answer", ephemeralWith(general, "U0BOB", "L1 <@U0ALICE> until 2026-03-30 09:00 UTC (in 2m)"))
	// Zed has no Slack account: shown by name, not dropped.
	waitFor("unmapped person shown", ephemeralWith(general, "U0BOB", "L1 Zed Contractor (zed@contractor.example, not found in Slack)"))
	slash("U0BOB", general, "/oncall", "payments")
	waitFor("/oncall payments", ephemeralWith(general, "U0BOB", "next L1 <@U0BOB> from 2026-03-30 09:00 UTC (in 2m) until 2026-03-31 09:00 UTC"))

	// 2. Past the change: one handoff, the user group follows.
	clk.Set(handover.Add(20 * time.Second))
	for i := 0; i < 2; i++ {
		if err := a.oncall.SyncNow(ctx); err != nil {
			t.Fatalf("SyncNow: %v", err)
		}
	}
	var handoffs []fakeslack.Message
	for _, m := range fs.Messages(handoffCh) {
		if strings.Contains(m.Rendered(), "On-call handoff: payments") {
			handoffs = append(handoffs, m)
		}
	}
	if len(handoffs) != 1 {
		t.Fatalf("got %d handoff messages, want exactly 1", len(handoffs))
	}
	h := handoffs[0]
	if got := h.Rendered(); !strings.Contains(got, "<@U0ALICE> hands over to <@U0BOB> for *payments*") || !strings.Contains(got, "No open incidents.") {
		t.Errorf("handoff:\n%s\nwant Alice handing over to Bob and no open incidents", got)
	}
	if got := fs.UsergroupMembers(group); !slices.Equal(got, []string{"U0BOB"}) {
		t.Errorf("user group members %v, want [U0BOB]", got)
	}
	updates := len(fs.Calls("usergroups.users.update"))
	if err := a.oncall.SyncNow(ctx); err != nil {
		t.Fatalf("SyncNow: %v", err)
	}
	if n := len(fs.Calls("usergroups.users.update")); n != updates || updates != 1 {
		t.Errorf("got %d then %d usergroups.users.update calls, want 1 and no more while the on-call is unchanged", updates, n)
	}

	// 3. Bob acknowledges with the button.
	value := buttonValue(h.Blocks, "oncall.ack")
	if value == "" {
		t.Fatalf("no oncall.ack button in the handoff: %s", h.Blocks)
	}
	sent, err := fs.SendBlockAction(fakeslack.BlockAction{UserID: "U0BOB", ChannelID: handoffCh, MessageTS: h.TS, ActionID: "oncall.ack", Value: value})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitAck(ctx, sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	waitFor("acknowledged handoff", func() bool {
		m, ok := fs.Message(handoffCh, h.TS)
		return ok && strings.Contains(m.Rendered(), "Acknowledged by <@U0BOB>") && buttonValue(m.Blocks, "oncall.ack") == ""
	})

	// 4. A sev2 incident invites the current on-call; a page reaches PagerDuty.
	slash("U0ALICE", general, "/incident", "declare sev2 checkout errors")
	var incCh string
	waitFor("incident channel", func() bool {
		for _, c := range fs.Channels() {
			if strings.HasPrefix(c.Name, "inc-") {
				incCh = c.ID
				return true
			}
		}
		return false
	})
	waitFor("on-call invited", func() bool { return slices.Contains(fs.Members(incCh), "U0BOB") })
	slash("U0ALICE", incCh, "/incident", "page checkout card payments failing")
	waitFor("page confirmation", func() bool {
		for _, m := range fs.Messages(incCh) {
			if strings.Contains(m.Rendered(), "paged the on-call of *checkout*") {
				return true
			}
		}
		return false
	})
	incs := pd.Incidents()
	if len(incs) != 1 {
		t.Fatalf("got %d PagerDuty incidents, want 1", len(incs))
	}
	if got := incs[0]; got.From != "opsbot@example.com" || got.ServiceID != "PSVC001" || !strings.Contains(got.Details, "card payments failing") || !slices.Equal(got.Assignees, []string{"PBOB"}) {
		t.Errorf("PagerDuty incident %+v, want From opsbot@example.com on PSVC001 with the message, assigned to Bob", got)
	}

	// 5. PagerDuty down: /oncall answers from the cache and says how old it is.
	pd.FailNext(50, fakepd.Fault{Status: 500})
	clk.Set(handover.Add(10 * time.Minute))
	slash("U0ALICE", general, "/oncall", "payments")
	waitFor("cached answer", ephemeralWith(general, "U0ALICE", "PagerDuty is not answering; showing the last good sync: payments as of 2026-03-30 09:00 UTC (9m ago)"))
	waitFor("cached person", ephemeralWith(general, "U0ALICE", "L1 <@U0BOB> until 2026-03-31 09:00 UTC"))
}
