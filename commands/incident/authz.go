package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
)

// Who may do what to an incident. Every command, button and form declares
// the access it needs; the checks are here and nowhere else.
//
//   - read (timeline, list, export) and note (notes, pinned messages): any
//     member of the workspace, guests included;
//   - change (declare, roles, severity, status, updates, resolve, page): a
//     full member (not a guest, a bot or a deactivated account);
//   - page, resolve and severity may be narrowed further by
//     `incidents.permissions`.
//
// The workspace itself is checked by the engine for every family, and
// again here, so the rule holds for any front end.

// access is what a request does to an incident.
type access int

const (
	accessRead access = iota
	accessNote
	accessChange
)

// Narrowable state changes.
const (
	permPage     = "page"
	permResolve  = "resolve"
	permSeverity = "severity"
)

// memberCacheTTL is how long a users.info answer or a user group's members
// are trusted: short, so that deactivating someone or removing them from a
// group takes effect within a minute, long enough that a busy incident does
// not ask Slack once per command.
const memberCacheTTL = 30 * time.Second

// Permissions narrow who may page, resolve and change severity: the config
// file's `incidents.permissions`. A nil entry leaves it to every full
// member; admins are always allowed.
type Permissions struct {
	Page     *Allowed `yaml:"page"`
	Resolve  *Allowed `yaml:"resolve"`
	Severity *Allowed `yaml:"severity"`
}

// Allowed lists people by Slack ID: users, and members of user groups.
type Allowed struct {
	Users      []string `yaml:"users"`
	Usergroups []string `yaml:"usergroups"`
}

func (p Permissions) lookup(name string) *Allowed {
	switch name {
	case permPage:
		return p.Page
	case permResolve:
		return p.Resolve
	case permSeverity:
		return p.Severity
	}
	return nil
}

// UnmarshalYAML decodes `incidents.permissions` strictly, with the line of
// each mistake:
//
//	permissions:
//	  page:     {users: [U0ALICE], usergroups: [S0SRELEADS]}
//	  resolve:  {usergroups: [S0SRE]}
//	  severity: {usergroups: [S0SRE]}
func (p *Permissions) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: incidents.permissions: want a mapping of page, resolve and severity", node.Line)
	}
	out := Permissions{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		var dst **Allowed
		switch k.Value {
		case permPage:
			dst = &out.Page
		case permResolve:
			dst = &out.Resolve
		case permSeverity:
			dst = &out.Severity
		default:
			return fmt.Errorf("line %d: incidents.permissions.%s: unknown key (want page, resolve or severity)", k.Line, k.Value)
		}
		a, err := decodeAllowed(v, "incidents.permissions."+k.Value)
		if err != nil {
			return err
		}
		*dst = a
	}
	*p = out
	return nil
}

func decodeAllowed(node *yaml.Node, path string) (*Allowed, error) {
	if node.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: %s: want {users: [...], usergroups: [...]}", node.Line, path)
	}
	a := &Allowed{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		var ids []string
		if err := v.Decode(&ids); err != nil {
			return nil, fmt.Errorf("line %d: %s.%s: want a list of IDs", v.Line, path, k.Value)
		}
		switch k.Value {
		case "users":
			for j, id := range ids {
				if !bot.IsUserID(id) {
					return nil, fmt.Errorf("line %d: %s.users: %q is not a user ID like U0123ABCD (names are not identities)", lineOf(v, j), path, id)
				}
			}
			a.Users = ids
		case "usergroups":
			for j, id := range ids {
				if !usergroupID.MatchString(id) {
					return nil, fmt.Errorf("line %d: %s.usergroups: %q is not a user group ID like S0123ABCD (names are not identities)", lineOf(v, j), path, id)
				}
			}
			a.Usergroups = ids
		default:
			return nil, fmt.Errorf("line %d: %s.%s: unknown key (want users or usergroups)", k.Line, path, k.Value)
		}
	}
	if len(a.Users) == 0 && len(a.Usergroups) == 0 {
		return nil, fmt.Errorf("line %d: %s: lists nobody; leave it out to allow every full member", node.Line, path)
	}
	return a, nil
}

func lineOf(seq *yaml.Node, i int) int {
	if i < len(seq.Content) {
		return seq.Content[i].Line
	}
	return seq.Line
}

// members caches users.info answers and user group members for
// memberCacheTTL, on the injected clock (bot.TTLCache, the one cache type).
type members struct {
	users  *bot.TTLCache[bot.User]
	groups *bot.TTLCache[[]string]
}

func newMembers(clock bot.Clock) *members {
	return &members{users: bot.NewTTLCache[bot.User](10_000, clock), groups: bot.NewTTLCache[[]string](1_000, clock)}
}

// user looks a person up through the directory, cached briefly; concurrent
// misses share one look-up. Failures are not cached.
func (s *Service) user(ctx context.Context, id string) (bot.User, error) {
	return s.members.users.GetOrLoad(ctx, id, func(ctx context.Context) (bot.User, time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		u, err := s.chat.User(ctx, id)
		if err != nil {
			return bot.User{}, 0, err
		}
		if u.ID != id {
			return bot.User{}, 0, fmt.Errorf("user %s: directory answered for %q", id, u.ID)
		}
		return u, memberCacheTTL, nil
	})
}

func (s *Service) groupMembers(ctx context.Context, group string) ([]string, error) {
	return s.members.groups.GetOrLoad(ctx, group, func(ctx context.Context) ([]string, time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		m, err := s.chat.UsergroupMembers(ctx, group)
		return m, memberCacheTTL, err
	})
}

// Refusals.
var (
	errOtherWorkspace = bot.Userf("This bot serves another Slack workspace, so it does not act on requests from yours. Nothing was done.")
	errAccountUnknown = bot.Userf("I couldn't check your account with Slack, so nothing was changed. Please try again in a minute.")
	errGuest          = bot.Userf("Guests can follow an incident (`/incident timeline`, `/incident list`) and add to its timeline " +
		"(`/incident note …`, :pushpin:), but changing it needs a full member of the workspace. Ask the commander.")
)

// need is the middleware a command declares: the request must come from
// this workspace and be allowed access (and every named permission).
func (s *Service) need(a access, perms ...string) bot.Middleware {
	return func(next bot.Handler) bot.Handler {
		return func(ctx context.Context, req *bot.Request) (bot.Response, error) {
			if err := s.authorize(ctx, req, a, perms...); err != nil {
				return bot.Response{}, err
			}
			return next(ctx, req)
		}
	}
}

// withAccess declares the access c needs, for commands built elsewhere.
func (s *Service) withAccess(c bot.Command, a access, perms ...string) bot.Command {
	c.Middleware = append([]bot.Middleware{s.need(a, perms...)}, c.Middleware...)
	return c
}

// guard applies need to a handler that is not a command (a button, a
// form, the family's default).
func (s *Service) guard(a access, h bot.Handler, perms ...string) bot.Handler {
	return s.need(a, perms...)(h)
}

// authorize decides whether req may have access a and every permission in
// perms; the error is the refusal to show. Lookups fail closed.
func (s *Service) authorize(ctx context.Context, req *bot.Request, a access, perms ...string) error {
	log := bot.Logger(ctx).With(zap.String("user", req.UserID))
	if s.team != "" && req.TeamID != s.team {
		log.Warn("incident request refused: other workspace", zap.String("team", req.TeamID))
		return errOtherWorkspace
	}
	if a < accessChange {
		return nil
	}
	if req.UserID == "" {
		return errAccountUnknown
	}
	u, err := s.user(ctx, req.UserID)
	if err != nil {
		log.Warn("incident request refused: account not checked", zap.Error(err))
		return errAccountUnknown
	}
	switch {
	case u.Deleted || u.IsBot:
		log.Warn("incident request refused: not an active person")
		return bot.Userf("Only active people can change incidents.")
	case s.team != "" && u.TeamID != "" && u.TeamID != s.team:
		log.Warn("incident request refused: account of another workspace", zap.String("user_team", u.TeamID))
		return errOtherWorkspace
	case u.IsRestricted || u.IsUltraRestricted:
		log.Info("incident request refused: guest")
		return errGuest
	}
	for _, p := range perms {
		if err := s.permitted(ctx, req.UserID, p); err != nil {
			log.Info("incident request refused: not permitted", zap.String("permission", p))
			return err
		}
	}
	return nil
}

// permitted checks one narrowable permission.
func (s *Service) permitted(ctx context.Context, user, perm string) error {
	allowed := s.set.Permissions.lookup(perm)
	if allowed == nil || slices.Contains(s.set.Admins, user) || slices.Contains(allowed.Users, user) {
		return nil
	}
	var failed []string
	for _, g := range allowed.Usergroups {
		m, err := s.groupMembers(ctx, g)
		if err != nil {
			bot.Logger(ctx).Warn("permission group not checked", zap.String("usergroup", g), zap.Error(err))
			failed = append(failed, g)
			continue
		}
		if slices.Contains(m, user) {
			return nil
		}
	}
	if len(failed) > 0 {
		return bot.Userf("I couldn't check who may %s right now, so nothing was changed. Please try again in a minute.", permVerb(perm))
	}
	return bot.Userf("Only the people listed in `incidents.permissions.%s` (and admins) may %s. Ask one of them, or the commander.", perm, permVerb(perm))
}

func permVerb(perm string) string {
	switch perm {
	case permPage:
		return "page"
	case permResolve:
		return "resolve incidents"
	case permSeverity:
		return "change the severity"
	}
	return perm
}

// checkAssignee refuses a role for anyone who cannot hold one: a bot, a
// deactivated account, someone of another workspace, or someone Slack does
// not know. Lookups fail closed.
func (s *Service) checkAssignee(ctx context.Context, user string) error {
	u, err := s.user(ctx, user)
	switch {
	case errors.Is(err, bot.ErrNotFound):
		return bot.Userf("I can't find that person in this workspace.")
	case err != nil:
		bot.Logger(ctx).Warn("assignee not checked", zap.String("assignee", user), zap.Error(err))
		return bot.Userf("I couldn't check that person with Slack, so nothing was changed. Please try again in a minute.")
	case u.IsBot:
		return bot.Userf("%s is a bot; roles need a person.", bot.MentionUser(user))
	case u.Deleted:
		return bot.Userf("%s's account is deactivated; roles need an active person.", bot.MentionUser(user))
	case s.team != "" && u.TeamID != "" && u.TeamID != s.team:
		return bot.Userf("%s belongs to another workspace; roles need a member of this one.", bot.MentionUser(user))
	}
	return nil
}
