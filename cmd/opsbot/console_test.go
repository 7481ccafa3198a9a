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
	t.Chdir("../..") // console mode reads the sample runbooks and on-call file from the repository
	script := strings.Join([]string{
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
	}, "\n") + "\n"
	var out, errOut bytes.Buffer
	code := run([]string{"console"}, func(string) string { return "" }, strings.NewReader(script), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"alice@#general> /incident help",
		"`/incident declare [sev1..sev4] TITLE…`",
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
	} {
		if !strings.Contains(got, want) {
			t.Errorf("console output lacks %q", want)
		}
	}
	if strings.Contains(got, "<@U0") {
		t.Errorf("console output shows raw mention markup:\n%s", got)
	}
	if t.Failed() {
		t.Logf("console output:\n%s", got)
	}
}
