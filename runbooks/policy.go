package runbooks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// DefaultGroupCacheTTL is how long user group members are trusted before
// asking Slack again: short, so that removing someone from a group takes
// effect within a minute.
const DefaultGroupCacheTTL = 30 * time.Second

// Caller is who is acting, taken only from IDs in the request payload.
type Caller struct {
	User    string
	Team    string
	Channel string
}

// Decision is a permission decision and the rule that made it, for the
// reply and the audit record.
type Decision struct {
	Allowed bool
	Rule    string
}

// PolicyConfig configures a Policy.
type PolicyConfig struct {
	// Admins may run every runbook and approve every approval.
	Admins []string
	// TeamID is the bot's workspace; users of any other team are refused.
	// When empty, the user's team must match the request's team.
	TeamID    string
	Directory bot.Directory
	Clock     bot.Clock
	// GroupCacheTTL defaults to DefaultGroupCacheTTL.
	GroupCacheTTL time.Duration
}

// Policy decides who may run and approve runbooks. Every check fails closed:
// if Slack cannot say who someone is or who is in a group, the answer is no.
type Policy struct {
	cfg    PolicyConfig
	admins map[string]bool
	// Look-ups are cached briefly (bounded, on the injected clock), so that
	// /runbook list does not ask Slack once per runbook, and concurrent
	// checks of one group share one call. Failures are never cached.
	groups *bot.TTLCache[map[string]bool]
	users  *bot.TTLCache[bot.User]
}

// cachedLookups bounds each cache; the least recently used go first.
const cachedLookups = 10_000

// NewPolicy returns a Policy.
func NewPolicy(cfg PolicyConfig) *Policy {
	if cfg.Clock == nil {
		cfg.Clock = bot.SystemClock
	}
	if cfg.GroupCacheTTL <= 0 {
		cfg.GroupCacheTTL = DefaultGroupCacheTTL
	}
	p := &Policy{cfg: cfg, admins: map[string]bool{},
		groups: bot.NewTTLCache[map[string]bool](cachedLookups, cfg.Clock), users: bot.NewTTLCache[bot.User](cachedLookups, cfg.Clock)}
	for _, a := range cfg.Admins {
		p.admins[a] = true
	}
	return p
}

// account refuses other workspaces, bots, unknown users and (unless
// allowGuests) guests.
func (p *Policy) account(ctx context.Context, c Caller, allowGuests bool) (Decision, bool) {
	if c.User == "" {
		return Decision{Rule: "no user ID in the request"}, false
	}
	if p.cfg.TeamID != "" && c.Team != p.cfg.TeamID {
		return Decision{Rule: "request from another workspace"}, false
	}
	u, err := p.user(ctx, c.User)
	if err != nil {
		return Decision{Rule: "could not look up the user (fail closed)"}, false
	}
	wantTeam := p.cfg.TeamID
	if wantTeam == "" {
		wantTeam = c.Team
	}
	if u.ID != c.User {
		return Decision{Rule: "directory returned a different user (fail closed)"}, false
	}
	if wantTeam != "" && u.TeamID != "" && u.TeamID != wantTeam {
		return Decision{Rule: "user from another workspace"}, false
	}
	if u.IsBot {
		return Decision{Rule: "bot users may not run runbooks"}, false
	}
	if (u.IsRestricted || u.IsUltraRestricted) && !allowGuests {
		return Decision{Rule: "guest accounts are refused"}, false
	}
	return Decision{}, true
}

// CanRun decides whether c may run rb.
func (p *Policy) CanRun(ctx context.Context, rb *Runbook, c Caller) Decision {
	guests := rb.Allow != nil && rb.Allow.Guests
	if d, ok := p.account(ctx, c, guests); !ok {
		return d
	}
	if p.admins[c.User] {
		return Decision{Allowed: true, Rule: "admin"}
	}
	if rb.Allow == nil {
		return Decision{Rule: "no allow rule: admins only"}
	}
	if contains(rb.Allow.Users, c.User) {
		return Decision{Allowed: true, Rule: "allow.users " + c.User}
	}
	if contains(rb.Allow.Channels, c.Channel) {
		return Decision{Allowed: true, Rule: "allow.channels " + c.Channel}
	}
	if d, ok := p.inGroups(ctx, rb.Allow.Usergroups, c.User, "allow.usergroups"); ok {
		return d
	} else if d.Rule != "" {
		return d
	}
	return Decision{Rule: "not in allow.users, allow.usergroups or allow.channels"}
}

// CanApprove decides whether approver may approve (or deny) a run of rb
// requested by requester. Guests never approve, and nobody approves their
// own request.
func (p *Policy) CanApprove(ctx context.Context, rb *Runbook, approver Caller, requester string) Decision {
	if approver.User == requester {
		return Decision{Rule: "the requester cannot approve their own request"}
	}
	if d, ok := p.account(ctx, approver, false); !ok {
		return d
	}
	if p.admins[approver.User] {
		return Decision{Allowed: true, Rule: "admin"}
	}
	if rb.Approval == nil {
		return Decision{Rule: "runbook has no approvers"}
	}
	if contains(rb.Approval.Approvers.Users, approver.User) {
		return Decision{Allowed: true, Rule: "approval.approvers.users " + approver.User}
	}
	if d, ok := p.inGroups(ctx, rb.Approval.Approvers.Usergroups, approver.User, "approval.approvers.usergroups"); ok {
		return d
	} else if d.Rule != "" {
		return d
	}
	return Decision{Rule: "not in approval.approvers"}
}

// inGroups reports whether user is in any of groups. When a lookup fails and
// no other group grants, the returned decision names the failure.
func (p *Policy) inGroups(ctx context.Context, groups []string, user, field string) (Decision, bool) {
	var failed []string
	for _, g := range groups {
		members, err := p.members(ctx, g)
		if err != nil {
			failed = append(failed, g)
			continue
		}
		if members[user] {
			return Decision{Allowed: true, Rule: field + " " + g}, true
		}
	}
	if len(failed) > 0 {
		return Decision{Rule: fmt.Sprintf("could not check membership of %s (fail closed)", strings.Join(failed, ", "))}, false
	}
	return Decision{}, false
}

// user looks a user up, cached as briefly as group members so that /runbook
// list does not ask Slack once per runbook.
func (p *Policy) user(ctx context.Context, id string) (bot.User, error) {
	return p.users.GetOrLoad(ctx, id, func(ctx context.Context) (bot.User, time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		u, err := p.cfg.Directory.User(ctx, id)
		if err != nil {
			return bot.User{}, 0, fmt.Errorf("user %s: %w", id, err)
		}
		return u, p.cfg.GroupCacheTTL, nil
	})
}

func (p *Policy) members(ctx context.Context, group string) (map[string]bool, error) {
	return p.groups.GetOrLoad(ctx, group, func(ctx context.Context) (map[string]bool, time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ids, err := p.cfg.Directory.UsergroupMembers(ctx, group)
		if err != nil {
			// Not cached: the next check asks again rather than trusting
			// stale or absent data.
			return nil, 0, fmt.Errorf("usergroup %s members: %w", group, err)
		}
		m := make(map[string]bool, len(ids))
		for _, id := range ids {
			m[id] = true
		}
		return m, p.cfg.GroupCacheTTL, nil
	})
}

func contains(list []string, s string) bool {
	if s == "" {
		return false
	}
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
