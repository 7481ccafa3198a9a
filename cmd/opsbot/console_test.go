package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestConsoleScript runs console mode the way a newcomer's script does
// (stdin not a terminal) through the real dispatcher and handlers, and checks
// what it shows at each step.
func TestConsoleScript(t *testing.T) {
	// Console mode reads the sample runbooks and on-call file from the
	// repository.
	got := consoleScript(t,
		"/incident help",
		"/incident declare sev2 checkout errors",
		"/incident commander @bob",
		"/incident commander @nobody",
		"we rolled back the deploy",
		":react pushpin",
		"/incident sev sev9",
		"/incident timeline",
		":as bob",
		"/runbook run http-probe url=https://example.com --dry-run",
		":in general",
		"/incident note outside",
		"/incident",
		":submit title=\"payments down\" severity=sev1 description=\"card auth failing\"",
		"/oncall",
		"/nosuch thing",
		":whoami",
	)
	consoleShows(t, got,
		"alice@#general> /incident help\n→ only @alice sees, in #general (answered in the ack):",
		"`/incident declare [--drill] [sev1..sev4] TITLE…`",
		"/incident sev sev9\n→ only @alice sees, in #inc-1-checkout-errors (answered in the ack):",
		"created channel #inc-1-checkout-errors",
		"(you are now in #inc-1-checkout-errors)",
		"@bob is now the commander of INC-1",
		"real mention",              // bare @nobody gets a hint
		"sev9",                      // unknown severity named in the refusal
		"we rolled back the deploy", // pinned message in the timeline
		"bob@#inc-1-checkout-errors> /runbook run http-probe",
		"only @bob sees",
		"incident channel", // /incident note outside an incident
		"modal \"Declare an incident\"",
		"created channel #inc-2-payments-down",
		"On call now",
		"I do not know the command /nosuch",
		"unknown console command :whoami",
	)
	if strings.Contains(got, "<@U0") {
		t.Errorf("console output shows raw mention markup:\n%s", got)
	}
}

// TestConsoleCoverOnFileProvider runs the cover flow in console mode, where
// on-call comes from the rotation file and overrides live in the embedded
// store: alice (an admin) asks for cover, frank takes it with the button,
// and /oncall and /oncall me show the override; every time is shown as
// text, never as Slack date markup.
func TestConsoleCoverOnFileProvider(t *testing.T) {
	got := consoleScript(t,
		"/oncall cover payments now +2h school run",
		"/oncall cover payments now +20d",
		":as gus",
		":click 1",
		":as frank",
		":click 1",
		":as carol",
		":click 1",
		"/oncall payments",
		":as frank",
		"/oncall me",
		":as alice",
		":click 2",
	)
	consoleShows(t, got,
		"Asked for cover on *payments* from",
		"→ #payments:",
		"Cover needed: payments",
		"@alice needs someone on call for *payments*",
		"Reason: school run",
		"[1 Take it] [2 Cancel]",
		"the longest allowed is 14d",
		"You are a guest in this workspace",
		"@frank took the cover for @alice: on call for *payments*",
		"Taken by @frank",
		"You are on call for *payments*",
		"@frank has already taken this cover",
		"Overrides arranged in Slack",
		"covering for @alice",
		"Your next shifts",
		"*payments* L1: *now*, until",
	)
	if n := strings.Count(got, "@frank has already taken this cover"); n != 2 {
		t.Errorf("%d refusals naming frank, want 2 (carol's late click, alice's Cancel after the take)", n)
	}
	for _, markup := range []string{"<!date^", "<@U0"} {
		if strings.Contains(got, markup) {
			t.Errorf("console output shows raw markup %q", markup)
		}
	}
}

// TestConsoleQuietStart: a newcomer's first script shows the bot's answers
// and, on stderr, only the warning that the store is not persistent; :help
// names every slash command the console serves.
func TestConsoleQuietStart(t *testing.T) {
	out, errOut := consoleScriptStderr(t, ":help", "/incident declare sev3 disk full")
	var slash string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "slash commands") {
			slash = line
		}
	}
	for _, cmd := range []string{"/incident", "/oncall", "/runbook", "/alerts"} {
		if !strings.Contains(slash, cmd) {
			t.Errorf(":help's slash command line does not name %s: %q", cmd, slash)
		}
	}
	if !strings.Contains(out, "created channel #inc-1-disk-full") {
		t.Errorf("the declaration did not go through")
	}
	for _, line := range strings.Split(errOut, "\n") {
		if line != "" && !strings.Contains(line, "REDIS_URL is not set") {
			t.Errorf("stderr has more than the embedded store's warning: %s", line)
		}
	}
}

// consoleScript runs console mode from the repository root on a script, one
// line each, and returns what it printed, which is logged when the test
// fails (or runs with -v).
func consoleScript(t *testing.T, lines ...string) string {
	t.Helper()
	out, _ := consoleScriptStderr(t, lines...)
	return out
}

// consoleScriptStderr is consoleScript, also returning what went to stderr.
func consoleScriptStderr(t *testing.T, lines ...string) (stdout, stderr string) {
	t.Helper()
	t.Chdir("../..")
	var out, errOut bytes.Buffer
	script := strings.NewReader(strings.Join(lines, "\n") + "\n")
	if code := run([]string{"console"}, func(string) string { return "" }, script, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, errOut.String())
	}
	got := out.String()
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("console output:\n%s", got)
		}
	})
	return got, errOut.String()
}

// consoleShows checks that the console output has every one of wants.
func consoleShows(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("console output lacks %q", want)
		}
	}
}
