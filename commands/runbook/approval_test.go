package runbook

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// requestProd asks for a prod restart as alice and returns the posted
// approval message.
func requestProd(t *testing.T, e *env) bot.Message {
	t.Helper()
	resp, err := do(t, e.router, command("U0ALICE", "C0INC", "run restart deployment=checkout namespace=prod"))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if resp.Message.Text != "" || len(resp.Message.Buttons) != 0 {
		t.Errorf("got response %+v, want none (the request is posted)", resp)
	}
	posts := e.chat.Posts()
	if len(posts) != 1 || len(posts[0].Buttons) != 2 || posts[0].Channel != "C0INC" {
		t.Fatalf("got posts %+v, want one approval message with Approve/Deny in C0INC", posts)
	}
	return posts[0]
}

func buttonValue(m bot.Message) string { return m.Buttons[0].Value }

func TestApprovalRequestRunsNothing(t *testing.T) {
	e := newEnv(t, nil)
	m := requestProd(t, e)
	if m.Buttons[0].ID != ActionApprove || m.Buttons[1].ID != ActionDeny || m.Buttons[0].Value != m.Buttons[1].Value {
		t.Errorf("got buttons %+v, want runbook.approve and runbook.deny with one value", m.Buttons)
	}
	for _, w := range []string{"<@U0ALICE> wants to run `restart`", "approval needed because namespace=prod", "<!subteam^S0LEADS>"} {
		if !strings.Contains(m.Text, w) {
			t.Errorf("got %q, want %q", m.Text, w)
		}
	}
	if want := `["/bin/echo","restart","deployment/checkout","-n","prod"]`; m.Code != want {
		t.Errorf("got argv %s, want %s", m.Code, want)
	}
	if !strings.Contains(bot.DateFallbacks(m.Context), "Expires 2026-11-22 03:15 UTC") || !strings.Contains(m.Context, "<!date^") {
		t.Errorf("got context %q, want the expiry 15 minutes on", m.Context)
	}
	if got := events(e.audit()); strings.Join(got, ",") != "approval_requested" {
		t.Errorf("got audit %v, want approval_requested only", got)
	}
	if posts := e.chat.Posts(); len(posts) != 1 {
		t.Errorf("got posts %+v before approval, want only the request", posts)
	}
}

func TestApprovalClicks(t *testing.T) {
	tests := []struct {
		name string
		// act clicks (possibly several times) and returns the last result.
		act        func(t *testing.T, e *env, value string) (bot.Response, error)
		wantErr    string // user error of the last click
		wantTitle  string // title of the replaced message
		wantEvents string // audit events in order
		wantRun    bool
	}{
		{
			name: "approver in group approves",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				return do(t, e.router, click("U0LEAD", "C0INC", ActionApprove, v))
			},
			wantTitle: "Approved: restart", wantEvents: "approval_requested,approval_granted,started,finished", wantRun: true,
		},
		{
			name: "self approval refused",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				return do(t, e.router, click("U0ALICE", "C0INC", ActionApprove, v))
			},
			wantErr: "You cannot approve this: the requester cannot approve their own request.", wantEvents: "approval_requested,refused",
		},
		{
			name: "may run but may not approve",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				return do(t, e.router, click("U0SRE", "C0INC", ActionApprove, v))
			},
			wantErr: "You cannot approve this: not in approval.approvers.", wantEvents: "approval_requested,refused",
		},
		{
			name: "approver not in the group",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				return do(t, e.router, click("U0BOB", "C0INC", ActionApprove, v))
			},
			wantErr: "You cannot approve this: not in approval.approvers.", wantEvents: "approval_requested,refused",
		},
		{
			name: "group lookup fails at click time: fail closed",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				e.chat.Fail("UsergroupMembers", errors.New("slack: ratelimited"))
				return do(t, e.router, click("U0LEAD", "C0INC", ActionApprove, v))
			},
			wantErr: "could not check membership of S0LEADS (fail closed)", wantEvents: "approval_requested,refused",
		},
		{
			name: "removed from the group before clicking",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				e.chat.SetGroup("S0LEADS", "U0LEAD2")
				return do(t, e.router, click("U0LEAD", "C0INC", ActionApprove, v))
			},
			wantErr: "not in approval.approvers", wantEvents: "approval_requested,refused",
		},
		{
			name: "expired",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				e.clock.Add(15*time.Minute + time.Second)
				return do(t, e.router, click("U0LEAD", "C0INC", ActionApprove, v))
			},
			wantTitle: "Approval expired: restart", wantEvents: "approval_requested,approval_expired",
		},
		{
			name: "double click runs once",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				if _, err := do(t, e.router, click("U0LEAD", "C0INC", ActionApprove, v)); err != nil {
					t.Fatalf("first click: %v", err)
				}
				return do(t, e.router, click("U0LEAD2", "C0INC", ActionApprove, v))
			},
			wantErr: "This approval request has expired or was already handled.", wantEvents: "approval_requested,approval_granted,started,finished", wantRun: true,
		},
		{
			name: "click handled by another replica",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				_, r2 := e.replica(nil)
				return do(t, r2, click("U0LEAD", "C0INC", ActionApprove, v))
			},
			wantTitle: "Approved: restart", wantEvents: "approval_requested,approval_granted,started,finished", wantRun: true,
		},
		{
			name: "forged button for a different argv",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				id, _, _ := strings.Cut(v, ":")
				return do(t, e.router, click("U0LEAD", "C0INC", ActionApprove, id+":"+strings.Repeat("0", 64)))
			},
			wantErr: "This button does not match the request it claims to approve", wantEvents: "approval_requested",
		},
		{
			name: "button value copied onto another message",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				req := click("U0LEAD", "C0OTHER", ActionApprove, v)
				req.Action.Message = bot.MessageRef{Channel: "C0OTHER", TS: "1700000099.000001"}
				return do(t, e.router, req)
			},
			wantErr: "not on this approval request's message", wantEvents: "approval_requested",
		},
		{
			name: "button value copied onto another message, denied",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				req := click("U0LEAD", "C0INC", ActionDeny, v)
				req.Action.Message.TS = "1700000099.000001"
				return do(t, e.router, req)
			},
			wantErr: "not on this approval request's message", wantEvents: "approval_requested",
		},
		{
			name: "runbook changed since the request",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				changed, _ := loadCatalog(t, map[string]string{"restart.yaml": strings.Replace(catalogYAML, `"restart", "deployment/`, `"restart", "--force", "deployment/`, 1)})
				_, r2 := e.replica(changed)
				return do(t, r2, click("U0LEAD", "C0INC", ActionApprove, v))
			},
			wantTitle: "Not run: restart", wantEvents: "approval_requested,refused",
		},
		{
			name: "denied, then a late approve",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				resp, err := do(t, e.router, click("U0LEAD", "C0INC", ActionDeny, v))
				if err != nil || resp.Message.Title != "Denied: restart" || !resp.ReplaceOriginal {
					t.Fatalf("deny: got %+v %v, want the message replaced with Denied", resp, err)
				}
				return do(t, e.router, click("U0LEAD2", "C0INC", ActionApprove, v))
			},
			wantErr: "already handled", wantEvents: "approval_requested,approval_denied",
		},
		{
			name: "non-approver cannot deny",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				return do(t, e.router, click("U0BOB", "C0INC", ActionDeny, v))
			},
			wantErr: "You cannot deny this: not in approval.approvers.", wantEvents: "approval_requested,refused",
		},
		{
			name: "requester withdraws",
			act: func(t *testing.T, e *env, v string) (bot.Response, error) {
				return do(t, e.router, click("U0ALICE", "C0INC", ActionDeny, v))
			},
			wantTitle: "Denied: restart", wantEvents: "approval_requested,approval_denied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			v := buttonValue(requestProd(t, e))
			resp, err := tt.act(t, e, v)
			if tt.wantErr != "" {
				var ue *bot.UserError
				if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.wantErr) {
					t.Fatalf("got %+v %v, want user error %q", resp, err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tt.wantTitle != "" && (resp.Message.Title != tt.wantTitle || !resp.ReplaceOriginal) {
				t.Errorf("got %+v, want the message replaced with %q", resp, tt.wantTitle)
			}
			var recs []bot.AuditRecord
			if tt.wantRun {
				recs = e.waitAudit(bot.AuditFinished)
			} else {
				recs = e.audit()
			}
			if got := strings.Join(events(recs), ","); got != tt.wantEvents {
				t.Errorf("got audit events %s, want %s", got, tt.wantEvents)
			}
			posts := e.chat.Posts()
			if ran := len(posts) > 1; ran != tt.wantRun {
				t.Errorf("got run %v (posts %+v), want %v", ran, posts, tt.wantRun)
			}
			if tt.wantRun {
				if posts[1].ThreadTS != approvalTS {
					t.Errorf("got output in thread %q, want under the approval message", posts[1].ThreadTS)
				}
				fin := recs[len(recs)-1]
				if fin.Approver == "" || fin.User != "U0ALICE" || fin.Argv[3] != "-n" || fin.Argv[4] != "prod" {
					t.Errorf("got finished record %+v, want requester alice, the approver and the approved argv", fin)
				}
			}
		})
	}
}

// The approval message outlives the request by the grace period only: after
// that the store has forgotten it, and a click says so.
func TestApprovalStoreTTL(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.ApprovalTTL = time.Minute })
	m := requestProd(t, e)
	id, _, _ := strings.Cut(buttonValue(m), ":")
	a, ok, err := e.store.PeekApproval(t.Context(), id)
	if err != nil || !ok {
		t.Fatalf("got %v %v, want the pending approval", ok, err)
	}
	if got := a.ExpiresAt.Sub(a.CreatedAt); got != time.Minute {
		t.Errorf("got validity %s, want 1m", got)
	}
	if a.Requester != "U0ALICE" || a.Params["namespace"] != "prod" || a.ArgvHash == "" || a.Message.TS != approvalTS {
		t.Errorf("got %+v, want requester, params and hash", a)
	}
}

func TestUnansweredApprovalsExpireOnce(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.SweepEvery = -1 })
	v := buttonValue(requestProd(t, e))
	replica2, _ := e.replica(nil)
	if err := e.svc.sweepExpired(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := events(e.audit()); strings.Join(got, ",") != "approval_requested" {
		t.Fatalf("got %v before expiry, want nothing swept", got)
	}
	e.clock.Add(15*time.Minute + time.Second)
	// Two replicas sweep; the request expires once.
	for _, s := range []*Service{e.svc, replica2, e.svc} {
		if err := s.sweepExpired(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	recs := e.audit()
	if got := strings.Join(events(recs), ","); got != "approval_requested,approval_expired" {
		t.Fatalf("got %s, want one approval_expired", got)
	}
	if exp := recs[1]; exp.User != "U0ALICE" || exp.Runbook != "restart" || exp.Incident != "INC-7" || len(exp.Argv) == 0 {
		t.Errorf("got %+v, want the expired request's details", exp)
	}
	if u := e.chat.Updates(approvalTS); len(u) != 1 || u[0].Title != "Approval expired: restart" || len(u[0].Buttons) != 0 {
		t.Errorf("got updates %+v, want the request marked expired without buttons", u)
	}
	if _, err := do(t, e.router, click("U0LEAD", "C0INC", ActionApprove, v)); err == nil || !strings.Contains(userMsg(err), "expired or was already handled") {
		t.Errorf("got %v, want a late click refused", err)
	}
	if evs, _ := e.tl.Events(t.Context(), "INC-7"); len(evs) != 2 || evs[1].Details["event"] != "approval_expired" {
		t.Errorf("got timeline %+v, want requested and expired", evs)
	}
}
