package runbooks

import (
	"errors"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

// newDir is a directory of team T1 with every kind of account the policy
// treats apart: guests, a bot, a user of another workspace.
func newDir() *bottest.Chat {
	d := bottest.NewChat()
	for _, u := range []bot.User{
		{ID: "U0ADMIN", TeamID: "T1"},
		{ID: "U0ALICE", TeamID: "T1"},
		{ID: "U0SRE", TeamID: "T1"},
		{ID: "U0LEAD", TeamID: "T1"},
		{ID: "U0BOB", TeamID: "T1"},
		{ID: "U0GUEST", TeamID: "T1", IsRestricted: true},
		{ID: "U0SCG", TeamID: "T1", IsUltraRestricted: true},
		{ID: "U0EXT", TeamID: "T2"},
		{ID: "U0BOT", TeamID: "T1", IsBot: true},
	} {
		d.AddUser(u)
	}
	d.SetGroup("S0SRE", "U0SRE", "U0GUEST")
	d.SetGroup("S0LEADS", "U0LEAD")
	return d
}

func TestCanRun(t *testing.T) {
	rb := loadOne(t, validRunbook)
	adminsOnly := loadOne(t, "name: x\ndescription: x\ncommand: [/bin/true]\n")
	guests := loadOne(t, "name: g\ndescription: g\ncommand: [/bin/true]\nallow: {users: [U0GUEST], guests: true}\n")
	tests := []struct {
		name     string
		rb       *Runbook
		c        Caller
		groupErr error
		wantOK   bool
		wantRule string
	}{
		{"listed user", rb, Caller{"U0ALICE", "T1", "C0X"}, nil, true, "allow.users U0ALICE"},
		{"group member", rb, Caller{"U0SRE", "T1", "C0X"}, nil, true, "allow.usergroups S0SRE"},
		{"allowed channel", rb, Caller{"U0BOB", "T1", "C0OPS"}, nil, true, "allow.channels C0OPS"},
		{"admin", rb, Caller{"U0ADMIN", "T1", "C0X"}, nil, true, "admin"},
		{"nobody", rb, Caller{"U0BOB", "T1", "C0X"}, nil, false, "not in allow.users, allow.usergroups or allow.channels"},
		{"no allow: admins only", adminsOnly, Caller{"U0ALICE", "T1", "C0X"}, nil, false, "no allow rule: admins only"},
		{"no allow: admin", adminsOnly, Caller{"U0ADMIN", "T1", "C0X"}, nil, true, "admin"},
		{"guest in allowed group", rb, Caller{"U0GUEST", "T1", "C0OPS"}, nil, false, "guest accounts are refused"},
		{"single-channel guest", rb, Caller{"U0SCG", "T1", "C0OPS"}, nil, false, "guest accounts are refused"},
		{"guest where guests allowed", guests, Caller{"U0GUEST", "T1", "C0X"}, nil, true, "allow.users U0GUEST"},
		{"other team in payload", rb, Caller{"U0ALICE", "T2", "C0OPS"}, nil, false, "request from another workspace"},
		{"user of other team", rb, Caller{"U0EXT", "T1", "C0OPS"}, nil, false, "user from another workspace"},
		{"bot", rb, Caller{"U0BOT", "T1", "C0OPS"}, nil, false, "bot users may not run runbooks"},
		{"unknown user fails closed", rb, Caller{"U0NOBODY", "T1", "C0OPS"}, nil, false, "could not look up the user (fail closed)"},
		{"group lookup fails closed", rb, Caller{"U0SRE", "T1", "C0X"}, errors.New("slack down"), false, "could not check membership of S0SRE (fail closed)"},
		{"group failure does not hide other grants", rb, Caller{"U0ALICE", "T1", "C0X"}, errors.New("slack down"), true, "allow.users U0ALICE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDir()
			d.Fail("UsergroupMembers", tt.groupErr)
			p := NewPolicy(PolicyConfig{Admins: []string{"U0ADMIN"}, TeamID: "T1", Directory: d})
			got := p.CanRun(t.Context(), tt.rb, tt.c)
			if got.Allowed != tt.wantOK || got.Rule != tt.wantRule {
				t.Errorf("got %+v, want allowed %v rule %q", got, tt.wantOK, tt.wantRule)
			}
		})
	}
}

func TestCanApprove(t *testing.T) {
	rb := loadOne(t, validRunbook)
	tests := []struct {
		name      string
		approver  string
		requester string
		wantOK    bool
		wantRule  string
	}{
		{"lead approves", "U0LEAD", "U0ALICE", true, "approval.approvers.usergroups S0LEADS"},
		{"self approval", "U0LEAD", "U0LEAD", false, "the requester cannot approve their own request"},
		{"admin self approval", "U0ADMIN", "U0ADMIN", false, "the requester cannot approve their own request"},
		{"admin approves", "U0ADMIN", "U0ALICE", true, "admin"},
		{"runner is not approver", "U0SRE", "U0ALICE", false, "not in approval.approvers"},
		{"guest never approves", "U0GUEST", "U0ALICE", false, "guest accounts are refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPolicy(PolicyConfig{Admins: []string{"U0ADMIN"}, TeamID: "T1", Directory: newDir()})
			got := p.CanApprove(t.Context(), rb, Caller{tt.approver, "T1", "C0X"}, tt.requester)
			if got.Allowed != tt.wantOK || got.Rule != tt.wantRule {
				t.Errorf("got %+v, want allowed %v rule %q", got, tt.wantOK, tt.wantRule)
			}
		})
	}
}

func TestGroupCacheIsBriefAndNeverCachesFailure(t *testing.T) {
	rb := loadOne(t, validRunbook)
	d := newDir()
	clk := bottest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	p := NewPolicy(PolicyConfig{TeamID: "T1", Directory: d, Clock: clk, GroupCacheTTL: 30 * time.Second})
	sre := Caller{"U0SRE", "T1", "C0X"}
	for i := 0; i < 3; i++ {
		if !p.CanRun(t.Context(), rb, sre).Allowed {
			t.Fatal("want allowed")
		}
	}
	if n := len(d.CallsMatching("UsergroupMembers")); n != 1 {
		t.Errorf("got %d lookups, want 1 (cached)", n)
	}
	// Removed from the group: effective once the cache expires.
	d.SetGroup("S0SRE")
	clk.Add(31 * time.Second)
	if p.CanRun(t.Context(), rb, sre).Allowed {
		t.Errorf("got allowed after removal and cache expiry, want refused")
	}
	// Slack fails: even a member previously cached is refused, and the
	// failure is not cached.
	d.SetGroup("S0SRE", "U0SRE")
	d.Fail("UsergroupMembers", errors.New("ratelimited"))
	clk.Add(31 * time.Second)
	if p.CanRun(t.Context(), rb, sre).Allowed {
		t.Errorf("got allowed while Slack fails, want refused (fail closed)")
	}
	d.Fail("UsergroupMembers", nil)
	if !p.CanRun(t.Context(), rb, sre).Allowed {
		t.Errorf("got refused once Slack answers again, want allowed")
	}
}
