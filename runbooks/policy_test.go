package runbooks

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// fakeDir is an in-memory bot.Directory.
type fakeDir struct {
	mu       sync.Mutex
	users    map[string]bot.User
	groups   map[string][]string
	groupErr error
	calls    int
}

func (d *fakeDir) User(_ context.Context, id string) (bot.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok {
		return bot.User{}, bot.ErrNotFound
	}
	return u, nil
}
func (d *fakeDir) UserByEmail(context.Context, string) (bot.User, error) {
	return bot.User{}, bot.ErrNotFound
}
func (d *fakeDir) UsergroupMembers(_ context.Context, g string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.groupErr != nil {
		return nil, d.groupErr
	}
	return d.groups[g], nil
}
func (d *fakeDir) SetUsergroupMembers(context.Context, string, []string) error { return nil }

func newDir() *fakeDir {
	return &fakeDir{
		users: map[string]bot.User{
			"U0ADMIN": {ID: "U0ADMIN", TeamID: "T1"},
			"U0ALICE": {ID: "U0ALICE", TeamID: "T1"},
			"U0SRE":   {ID: "U0SRE", TeamID: "T1"},
			"U0LEAD":  {ID: "U0LEAD", TeamID: "T1"},
			"U0BOB":   {ID: "U0BOB", TeamID: "T1"},
			"U0GUEST": {ID: "U0GUEST", TeamID: "T1", IsRestricted: true},
			"U0SCG":   {ID: "U0SCG", TeamID: "T1", IsUltraRestricted: true},
			"U0EXT":   {ID: "U0EXT", TeamID: "T2"},
			"U0BOT":   {ID: "U0BOT", TeamID: "T1", IsBot: true},
		},
		groups: map[string][]string{"S0SRE": {"U0SRE", "U0GUEST"}, "S0LEADS": {"U0LEAD"}},
	}
}

type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
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
			d.groupErr = tt.groupErr
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
	clk := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	p := NewPolicy(PolicyConfig{TeamID: "T1", Directory: d, Clock: clk, GroupCacheTTL: 30 * time.Second})
	sre := Caller{"U0SRE", "T1", "C0X"}
	for i := 0; i < 3; i++ {
		if !p.CanRun(t.Context(), rb, sre).Allowed {
			t.Fatal("want allowed")
		}
	}
	if d.calls != 1 {
		t.Errorf("got %d lookups, want 1 (cached)", d.calls)
	}
	// Removed from the group: effective once the cache expires.
	d.mu.Lock()
	d.groups["S0SRE"] = nil
	d.mu.Unlock()
	clk.Add(31 * time.Second)
	if p.CanRun(t.Context(), rb, sre).Allowed {
		t.Errorf("got allowed after removal and cache expiry, want refused")
	}
	// Slack fails: even a member previously cached is refused, and the
	// failure is not cached.
	d.mu.Lock()
	d.groups["S0SRE"] = []string{"U0SRE"}
	d.groupErr = errors.New("ratelimited")
	d.mu.Unlock()
	clk.Add(31 * time.Second)
	if p.CanRun(t.Context(), rb, sre).Allowed {
		t.Errorf("got allowed while Slack fails, want refused (fail closed)")
	}
	d.mu.Lock()
	d.groupErr = nil
	d.mu.Unlock()
	if !p.CanRun(t.Context(), rb, sre).Allowed {
		t.Errorf("got refused once Slack answers again, want allowed")
	}
}
