package runbook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func userMsg(err error) string { return bot.UserMessage(err, "ref") }

func TestListShowsOnlyWhatCallerMayRun(t *testing.T) {
	files := map[string]string{
		"restart.yaml": catalogYAML,
		"admin.yaml":   "name: nuke\ndescription: admins only\ncommand: [/bin/true]\n",
		"missing.yaml": "name: kube\ndescription: needs a tool\ncommand: [opsbot-missing-tool]\nallow: {users: [U0ALICE]}\n",
	}
	tests := []struct {
		name, user string
		want       []string
		wantNot    []string
	}{
		{"alice", "U0ALICE", []string{"`restart`", "needs approval when namespace=prod", "`kube`", "opsbot-missing-tool is not installed on this host"}, []string{"`nuke`"}},
		{"admin", "U0ADMIN", []string{"`restart`", "`nuke`", "`kube`"}, nil},
		{"guest in allowed group", "U0GUEST", []string{"There is no runbook you may run here"}, []string{"`restart`"}},
		{"bob", "U0BOB", []string{"There is no runbook you may run here"}, []string{"`restart`", "`nuke`"}},
	}
	e := newEnv(t, files)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := do(t, e.router, command(tt.user, "C0X", "list"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Visibility != bot.Ephemeral {
				t.Errorf("got visibility %v, want ephemeral", resp.Visibility)
			}
			for _, w := range tt.want {
				if !strings.Contains(resp.Message.Text, w) {
					t.Errorf("got %q, want it to contain %q", resp.Message.Text, w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(resp.Message.Text, w) {
					t.Errorf("got %q, want no %q", resp.Message.Text, w)
				}
			}
		})
	}
}

func TestShow(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := do(t, e.router, command("U0BOB", "C0X", "show restart"))
	if err != nil {
		t.Fatal(err)
	}
	m := resp.Message
	all := m.Text + m.Code + m.Context
	for _, f := range m.Fields {
		all += "\n" + f.Label + ": " + f.Value
	}
	for _, w := range []string{"`deployment` (text matching", "required", "default `staging`", "Who may run it: admins, <@U0ALICE>, <!subteam^S0SRE>",
		"Approval: needed when namespace=prod, by <!subteam^S0LEADS>, admins", "You: may not run it: not in allow", `"deployment/{{deployment}}"`} {
		if !strings.Contains(all, w) {
			t.Errorf("got %q, want it to contain %q", all, w)
		}
	}
	if _, err := do(t, e.router, command("U0BOB", "C0X", "show nope")); err == nil || !strings.Contains(userMsg(err), "There is no runbook called `nope`") {
		t.Errorf("got %v, want unknown runbook", err)
	}
}

func TestRunRefusals(t *testing.T) {
	tests := []struct {
		name, user, text string
		wantMsg          string
		wantRule         string
	}{
		{"not allowed", "U0BOB", "run restart deployment=checkout", "You may not run `restart`: not in allow.users, allow.usergroups or allow.channels.", "not in allow.users, allow.usergroups or allow.channels"},
		{"guest", "U0GUEST", "run restart deployment=checkout", "You may not run `restart`: guest accounts are refused.", "guest accounts are refused"},
		{"injection", "U0ALICE", "run restart deployment=x;reboot", "Invalid parameter deployment: must match", "invalid parameters: deployment: must match"},
		{"unknown param", "U0ALICE", "run restart deployment=x kubeconfig=/tmp/k", "Invalid parameter kubeconfig: is not a parameter of restart", "invalid parameters: kubeconfig"},
		{"unknown runbook", "U0ALICE", "run rm-rf", "There is no runbook called `rm-rf`", "unknown runbook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			_, err := do(t, e.router, command(tt.user, "C0INC", tt.text))
			var ue *bot.UserError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.wantMsg) {
				t.Fatalf("got %v, want a user error containing %q", err, tt.wantMsg)
			}
			recs := e.audit()
			if len(recs) != 1 || recs[0].Event != bot.AuditRefused || !strings.HasPrefix(recs[0].Rule, tt.wantRule) || recs[0].User != tt.user {
				t.Fatalf("got audit %+v, want one refused record with rule %q", recs, tt.wantRule)
			}
			if recs[0].Incident != "INC-7" {
				t.Errorf("got incident %q, want INC-7", recs[0].Incident)
			}
			if evs, _ := e.tl.Events(t.Context(), "INC-7"); len(evs) != 1 || evs[0].Type != bot.TLRunbook || evs[0].Details["event"] != "refused" {
				t.Errorf("got timeline %+v, want one refused runbook event", evs)
			}
			if posts := e.chat.Posts(); len(posts) != 0 {
				t.Errorf("got %d posts, want none", len(posts))
			}
		})
	}
}

func TestDryRunRunsNothing(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	files := map[string]string{"touch.yaml": "name: touch\ndescription: d\ncommand: [/usr/bin/touch, \"" + marker + "\", \"{{name}}\"]\n" +
		"params: {name: {pattern: \"^[a-z]+$\", required: true}}\nallow: {users: [U0ALICE]}\n" +
		"approval: {approvers: {users: [U0LEAD]}}\n"}
	tests := []struct {
		name, user string
		want       []string
	}{
		{"allowed", "U0ALICE", []string{":white_check_mark: you may run it (allow.users U0ALICE)", "this runbook always needs approval; approvers: <@U0LEAD>, admins"}},
		{"refused", "U0BOB", []string{":no_entry: you may not run it: not in allow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, files)
			resp, err := do(t, e.router, command(tt.user, "C0X", "run touch name=abc --dry-run"))
			if err != nil {
				t.Fatal(err)
			}
			m := resp.Message
			if want := `["/usr/bin/touch","` + marker + `","abc"]`; m.Code != want {
				t.Errorf("got argv %s, want %s", m.Code, want)
			}
			all := m.Text
			for _, f := range m.Fields {
				all += "\n" + f.Value
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("got %q, want %q", all, w)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the dry run executed the command")
			}
			if recs := e.audit(); len(recs) != 1 || recs[0].Event != bot.AuditDryRun {
				t.Errorf("got audit %v, want one dry_run record", events(recs))
			}
		})
	}
}

// streamYAML prints in three steps gated by files the test creates.
func streamYAML(dir string) string {
	gate := func(n string) string { return "while [ ! -e " + filepath.Join(dir, n) + " ]; do sleep 0.005; done; " }
	script := "echo step-one; " + gate("g1") + "echo step-two; " + gate("g2") + "echo step-three token=hunter22; head -c 400 /dev/zero | tr '\\\\0' x; echo"
	return "name: stream\ndescription: streams\ncommand: [\"/bin/sh\", \"-c\", \"" + script + "\"]\ntimeout: 1m\nallow: {users: [U0ALICE]}\n"
}

func TestRunStreamsOutputAndAudits(t *testing.T) {
	gates := t.TempDir()
	e := newEnv(t, map[string]string{"stream.yaml": streamYAML(gates)}, func(c *Config) { c.MessageBytes = 200 })
	resp, err := do(t, e.router, command("U0ALICE", "C0INC", "run stream"))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if resp.Message.Text != "" {
		t.Errorf("got response %q, want none (the run posts)", resp.Message.Text)
	}
	var header, out string
	waitFor(t, "header and output messages", func() bool {
		posts := e.chat.Posts()
		return len(posts) == 2
	})
	posts := e.chat.Posts()
	header, out = "1700000000.000001", "1700000000.000002"
	if posts[0].Channel != "C0INC" || posts[0].ThreadTS != "" || posts[0].Title != "Runbook stream" {
		t.Errorf("got header %+v, want a channel message titled Runbook stream", posts[0])
	}
	if posts[1].ThreadTS != header {
		t.Errorf("got output thread %q, want %q", posts[1].ThreadTS, header)
	}
	updatesOf := func(ts string) []bot.Message {
		return e.chat.Updates(ts)
	}
	tick := func(d time.Duration) {
		e.clock.Add(d)
		e.ticker.ch <- e.clock.Now()
	}
	// First progress update once step-one is out.
	waitFor(t, "step-one shown", func() bool {
		tick(2 * time.Second)
		u := updatesOf(out)
		return len(u) > 0 && strings.Contains(u[len(u)-1].Code, "step-one")
	})
	if err := os.WriteFile(filepath.Join(gates, "g1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "step-two shown", func() bool {
		tick(2 * time.Second)
		u := updatesOf(out)
		return strings.Contains(u[len(u)-1].Code, "step-two")
	})
	if err := os.WriteFile(filepath.Join(gates, "g2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	recs := e.waitAudit(bot.AuditFinished)

	final := updatesOf(out)
	last := final[len(final)-1]
	if !strings.Contains(last.Text, ":white_check_mark: finished: exit code 0") {
		t.Errorf("got final text %q, want the exit code summary", last.Text)
	}
	if strings.Contains(last.Code, "hunter22") || !strings.HasPrefix(last.Code, "…\n") {
		t.Errorf("got final code %q, want a redacted, marked tail", last.Code)
	}
	if h := updatesOf(header); len(h) == 0 || !strings.Contains(h[len(h)-1].Text, "exit code 0") {
		t.Errorf("got header updates %+v, want the summary", h)
	}
	uploads := e.chat.Uploads()
	if len(uploads) != 1 || uploads[0].ThreadTS != header || !strings.Contains(string(uploads[0].Content), "step-one\nstep-two\nstep-three token=[REDACTED]\n") {
		t.Errorf("got uploads %+v, want the full redacted output in the thread", uploads)
	}
	if got, want := strings.Join(events(recs), ","), "started,finished"; got != want {
		t.Fatalf("got audit events %s, want %s", got, want)
	}
	fin := recs[1]
	if fin.ExitCode == nil || *fin.ExitCode != 0 || fin.Duration <= 0 || !strings.HasPrefix(fin.OutputDigest, "sha256:") ||
		fin.User != "U0ALICE" || fin.Channel != "C0INC" || fin.Runbook != "stream" || len(fin.Argv) != 3 || fin.Incident != "INC-7" {
		t.Errorf("got finished record %+v, want user, channel, argv, exit code, duration, digest", fin)
	}
	// The timeline event is appended after the audit record it mirrors.
	var evs []bot.TimelineEvent
	waitFor(t, "the finished run in the timeline", func() bool {
		evs, _ = e.tl.Events(t.Context(), "INC-7")
		return len(evs) >= 2
	})
	if len(evs) != 2 || evs[1].Details["exit_code"] != "0" || !strings.Contains(evs[1].Text, "runbook stream: finished (exit code 0") {
		t.Errorf("got timeline %+v, want started and finished", evs)
	}
}

func TestRunLockTellsWhoHoldsIt(t *testing.T) {
	gates := t.TempDir()
	e := newEnv(t, map[string]string{"stream.yaml": streamYAML(gates)}, func(c *Config) { c.Admins = []string{"U0ADMIN"} })
	if _, err := do(t, e.router, command("U0ALICE", "C0X", "run stream")); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(90 * time.Second)
	_, err := do(t, e.router, command("U0ADMIN", "C0X", "run stream"))
	if want := "`stream` is already running: <@U0ALICE> started `stream` 1m30s ago (lock `stream`)"; err == nil || !strings.Contains(userMsg(err), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	for _, g := range []string{"g1", "g2"} {
		if err := os.WriteFile(filepath.Join(gates, g), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs := e.waitAudit(bot.AuditFinished)
	var refused *bot.AuditRecord
	for i := range recs {
		if recs[i].Event == bot.AuditRefused {
			refused = &recs[i]
		}
	}
	if refused == nil || refused.User != "U0ADMIN" || !strings.HasPrefix(refused.Rule, "lock stream held by U0ALICE") {
		t.Errorf("got %+v, want a refused record naming the holder", refused)
	}
}

func TestTimeoutIsAuditedAndShutdownWaits(t *testing.T) {
	e := newEnv(t, map[string]string{"slow.yaml": "name: slow\ndescription: d\ncommand: [/bin/sleep, \"30\"]\ntimeout: 200ms\nallow: {users: [U0ALICE]}\n"})
	if _, err := do(t, e.router, command("U0ALICE", "C0X", "run slow")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := e.svc.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	recs := e.audit()
	last := recs[len(recs)-1]
	if last.Event != bot.AuditTimedOut || last.ExitCode == nil || *last.ExitCode != -1 {
		t.Errorf("got %+v, want timed_out with exit -1", last)
	}
	u := e.chat.Updates("1700000000.000002")
	if len(u) == 0 || !strings.Contains(u[len(u)-1].Text, "timed out after 200ms; it and every process it started were killed") {
		t.Errorf("got %+v, want the timeout summary", u)
	}
	if _, err := do(t, e.router, command("U0ALICE", "C0X", "run slow")); err == nil || !strings.Contains(userMsg(err), "shutting down") {
		t.Errorf("got %v after Wait, want a shutting-down refusal", err)
	}
}

func TestShutdownKillsRuns(t *testing.T) {
	e := newEnv(t, map[string]string{"slow.yaml": "name: slow\ndescription: d\ncommand: [/bin/sleep, \"300\"]\ntimeout: 10m\nallow: {users: [U0ALICE]}\n"})
	if _, err := do(t, e.router, command("U0ALICE", "C0X", "run slow")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := e.svc.Wait(ctx); err == nil {
		t.Errorf("got nil, want an error saying runs were killed")
	}
	if recs := e.audit(); recs[len(recs)-1].Event != bot.AuditKilled {
		t.Errorf("got %v, want killed last", events(recs))
	}
}

func TestProgressUpdatesAtMostEveryTwoSeconds(t *testing.T) {
	e := newEnv(t, map[string]string{"chatty.yaml": "name: chatty\ndescription: d\n" +
		"command: [/bin/sh, -c, 'i=0; while :; do echo line $i; i=$((i+1)); sleep 0.001; done']\ntimeout: 1m\nallow: {users: [U0ALICE]}\n"})
	if _, err := do(t, e.router, command("U0ALICE", "C0X", "run chatty")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "output message", func() bool { return len(e.chat.Posts()) == 2 })
	// 20 ticks, 500 ms apart in the ticker's time: 10 s, so at most 5
	// updates, however often the output changed.
	start := e.clock.Now()
	for k := 1; k <= 20; k++ {
		time.Sleep(3 * time.Millisecond) // let the output change between ticks
		e.ticker.ch <- start.Add(time.Duration(k) * 500 * time.Millisecond)
	}
	e.ticker.ch <- start.Add(10 * time.Second) // barrier: the ticks above were handled
	n := len(e.chat.Updates("1700000000.000002"))
	if n < 1 || n > 5 {
		t.Errorf("got %d progress updates over 10 s of ticks, want between 1 and 5", n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_ = e.svc.Wait(ctx)
}

// With Redis down, nothing runs: no lock, no audit, no run.
func TestRedisOutageFailsClosed(t *testing.T) {
	srv := redistest.NewServer(t)
	marker := filepath.Join(t.TempDir(), "ran")
	files := map[string]string{
		"restart.yaml": catalogYAML,
		"touch.yaml":   "name: touch\ndescription: d\ncommand: [/usr/bin/touch, \"" + marker + "\"]\nallow: {users: [U0ALICE]}\n",
	}
	e := newEnvOn(t, srv.Client(), files)
	srv.Stop()
	tests := []struct {
		name, text, want string
	}{
		{"run", "run touch", "`touch` was not run: the run lock or audit trail is unavailable right now"},
		{"approval", "run restart deployment=checkout namespace=prod", "`restart` needs approval, but approvals cannot be stored right now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := do(t, e.router, command("U0ALICE", "C0X", tt.text))
			var ue *bot.UserError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.want) {
				t.Fatalf("got %v, want user error %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the runbook ran while Redis was down")
	}
	if posts := e.chat.Posts(); len(posts) != 0 {
		t.Errorf("got posts %+v, want none", posts)
	}
	srv.Start()
	if _, err := do(t, e.router, command("U0ALICE", "C0X", "run touch")); err != nil {
		t.Fatalf("after Redis is back: %v", err)
	}
	e.waitAudit(bot.AuditFinished)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("got %v, want the run done once Redis is back", err)
	}
}
