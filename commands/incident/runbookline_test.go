package incident

import (
	"strings"
	"testing"

	"github.com/opsbot/opsbot/bot"
)

// Runbook steps recorded by the runbook family read as what happened, not
// as "ran" for a refusal.
func TestRunbookTimelineLines(t *testing.T) {
	r := renderer{who: func(id string) string { return "@" + id }, text: identity, raw: identity,
		link: func(string, string) string { return "" }}
	tests := []struct {
		name    string
		details map[string]string
		want    string
		outcome bool
	}{
		{"refused", map[string]string{"runbook": "tail-logs", "event": "refused", "rule": "not in allow.users"}, "@U1 was refused runbook `tail-logs` (not in allow.users)", true},
		{"approval requested", map[string]string{"runbook": "restart", "event": "approval_requested", "rule": "namespace=prod"}, "@U1 asked to run runbook `restart`; approval needed (namespace=prod)", false},
		{"started", map[string]string{"runbook": "restart", "event": "started", "argv": `["kubectl"]`}, "@U1 started runbook `restart`: [\"kubectl\"]", false},
		{"succeeded", map[string]string{"runbook": "probe", "event": "finished", "exit_code": "0", "duration": "1.2s"}, "runbook `probe` run by @U1 succeeded (exit 0 in 1.2s)", true},
		{"failed", map[string]string{"runbook": "probe", "event": "finished", "exit_code": "7", "duration": "3s"}, "failed (exit 7 in 3s)", true},
		{"timed out", map[string]string{"runbook": "probe", "event": "timed_out", "duration": "2m0s"}, "timed out and was killed after 2m0s", true},
		{"dry run", map[string]string{"runbook": "probe", "event": "dry_run"}, "previewed runbook `probe` (dry run)", false},
		// A refused Approve or Deny click leaves the request standing: it is
		// the clicker who was refused, and the attempt has not ended.
		{"approval click refused", map[string]string{"runbook": "restart", "event": "refused", "approver": "U2",
			"rule": "approval by U2 refused: not in approval.approvers"},
			"@U2 could not approve @U1's request to run runbook `restart` (not in approval.approvers)", false},
		{"self approval refused", map[string]string{"runbook": "restart", "event": "refused", "approver": "U1",
			"rule": "approval by U1 refused: the requester cannot approve their own request"},
			"@U1 could not approve their own request to run runbook `restart`", false},
		{"denial click refused", map[string]string{"runbook": "restart", "event": "refused", "approver": "U3",
			"rule": "denial by U3 refused: not in approval.approvers"},
			"@U3 could not deny @U1's request to run runbook `restart` (not in approval.approvers)", false},
		{"approved request refused at run time", map[string]string{"runbook": "restart", "event": "refused", "approver": "U2",
			"rule": "requester no longer allowed: not in allow.users"},
			"@U1 was refused runbook `restart` (requester no longer allowed: not in allow.users)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := bot.TimelineEvent{Type: bot.TLRunbook, Actor: "U1", Details: tt.details}
			if got := runbookLine("@U1", ev, r); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
			if got := isRunOutcome(tt.details); got != tt.outcome {
				t.Errorf("isRunOutcome = %v, want %v", got, tt.outcome)
			}
		})
	}
}
