package bot

import (
	"context"
	"errors"
	"sort"
	"time"
)

// Person is someone who can be on call, as the on-call provider knows them.
// They are matched to a chat user by Email.
type Person struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	// ProviderID is the provider's own ID (a PagerDuty user ID, or the
	// e-mail for the file provider); it identifies the person in change
	// detection, where names and addresses may be edited.
	ProviderID string `json:"provider_id"`
}

// Key identifies p for comparisons: the provider ID, else the e-mail, else
// the name.
func (p Person) Key() string {
	switch {
	case p.ProviderID != "":
		return p.ProviderID
	case p.Email != "":
		return p.Email
	}
	return p.Name
}

// Shift is one person on call at one escalation level of a schedule for an
// interval [Start, End).
type Shift struct {
	// Schedule is the provider's schedule ID.
	Schedule string `json:"schedule"`
	// Level is the escalation level, 1 being the first person paged.
	Level  int    `json:"level"`
	Person Person `json:"person"`
	// Start is in UTC; zero means "since before the window asked for".
	Start time.Time `json:"start"`
	// End is in UTC; zero means open-ended (no change planned).
	End time.Time `json:"end"`
}

// Covers reports whether the shift includes t.
func (s Shift) Covers(t time.Time) bool {
	return (s.Start.IsZero() || !t.Before(s.Start)) && (s.End.IsZero() || t.Before(s.End))
}

// ScheduleConfig is one on-call schedule opsbot follows (the `oncall.schedules`
// entries of the config file).
type ScheduleConfig struct {
	// ID is the provider's schedule ID (PagerDuty "PSCHED01", or the id in
	// the on-call file).
	ID string `yaml:"id" json:"id"`
	// Name is what people type in `/oncall NAME` and see in messages.
	Name string `yaml:"name" json:"name"`
	// HandoffChannel is the channel ID where shift changes are announced;
	// empty means no handoff messages.
	HandoffChannel string `yaml:"handoff_channel" json:"handoff_channel,omitempty"`
	// Usergroup is a user group ID kept equal to the current first-level
	// on-call; empty means none.
	Usergroup string `yaml:"usergroup" json:"usergroup,omitempty"`
	// Levels are the escalation levels shown; empty means all.
	Levels []int `yaml:"levels" json:"levels,omitempty"`
}

// ShowsLevel reports whether level is among those configured to be shown.
func (c ScheduleConfig) ShowsLevel(level int) bool {
	if len(c.Levels) == 0 {
		return true
	}
	for _, l := range c.Levels {
		if l == level {
			return true
		}
	}
	return false
}

// OnCallProvider is where on-call schedules come from (PagerDuty, or a
// rotation file).
type OnCallProvider interface {
	// Shifts returns the shifts of every escalation level of scheduleID that
	// overlap [from, to), overrides applied, ordered by level then start.
	// An unknown schedule is an error wrapping ErrNotFound.
	Shifts(ctx context.Context, scheduleID string, from, to time.Time) ([]Shift, error)
}

// SortShifts orders shifts by level, then start, then person, which is the
// order OnCallProvider promises.
func SortShifts(s []Shift) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Level != s[j].Level {
			return s[i].Level < s[j].Level
		}
		if !s[i].Start.Equal(s[j].Start) {
			return s[i].Start.Before(s[j].Start)
		}
		return s[i].Person.Key() < s[j].Person.Key()
	})
}

// OnCallSnapshot is the result of one good sync of a schedule: the shifts
// from shortly before SyncedAt to some days after, so that who is on call
// can be computed from it at any moment in that window even while the
// provider is unreachable.
type OnCallSnapshot struct {
	Schedule string    `json:"schedule"`
	SyncedAt time.Time `json:"synced_at"`
	Shifts   []Shift   `json:"shifts"`
}

// At returns the shifts covering t, ordered as Shifts.
func (s OnCallSnapshot) At(t time.Time) []Shift {
	var out []Shift
	for _, sh := range s.Shifts {
		if sh.Covers(t) {
			out = append(out, sh)
		}
	}
	return out
}

// Handoff records a handoff message posted for a shift change, so that the
// Acknowledge button and the reminder work on any replica.
type Handoff struct {
	Schedule string `json:"schedule"`
	// ShiftStart is when the incoming shift started (UTC); with Schedule it
	// identifies the shift change.
	ShiftStart time.Time `json:"shift_start"`
	// Incoming are the Slack user IDs who may acknowledge.
	Incoming []string   `json:"incoming"`
	Ref      MessageRef `json:"ref"`
	// Message is the posted message, kept to re-render it once acknowledged.
	Message  Message   `json:"message"`
	PostedAt time.Time `json:"posted_at"`
	// AckedBy is the Slack user who acknowledged; empty while unacknowledged.
	AckedBy  string    `json:"acked_by,omitempty"`
	AckedAt  time.Time `json:"acked_at,omitempty"`
	Reminded bool      `json:"reminded,omitempty"`
}

// OnCallStore keeps on-call state shared by replicas.
type OnCallStore interface {
	// SaveSnapshot stores the last good sync of a schedule.
	SaveSnapshot(ctx context.Context, snap OnCallSnapshot) error
	// Snapshot returns the last good sync of a schedule; ok is false when
	// there has been none.
	Snapshot(ctx context.Context, scheduleID string) (snap OnCallSnapshot, ok bool, err error)
	// ClaimOnce reports whether this caller is the first to claim key within
	// ttl (SET NX): the one that posts a handoff or a reminder.
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// ReleaseClaim gives a claim back when the work it guarded failed, so
	// that the next attempt (on any replica) can take it.
	ReleaseClaim(ctx context.Context, key string) error
	// SaveHandoff stores the latest handoff of h.Schedule.
	SaveHandoff(ctx context.Context, h Handoff) error
	// LatestHandoff returns the latest handoff of a schedule.
	LatestHandoff(ctx context.Context, scheduleID string) (h Handoff, ok bool, err error)
}

// Override puts Person on call for a schedule in place of its rotation for
// [Start, End), as the on-call provider records it.
type Override struct {
	// ID is the provider's override ID (PagerDuty "PQ47DCP"); with Schedule
	// it identifies the override for deletion.
	ID       string    `json:"id"`
	Schedule string    `json:"schedule"`
	Person   Person    `json:"person"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
}

// Errors on-call and paging providers return, so that command families can
// phrase them without knowing which provider answered. Providers wrap them
// (errors.Is finds them) with the operation and entity concerned.
var (
	// ErrRateLimited: the provider is rate-limiting opsbot and did nothing.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: the provider failed or did not answer (5xx, timeout);
	// whether it acted is unknown unless the provider says otherwise.
	ErrUnavailable = errors.New("unavailable")
	// ErrRejected: the provider refused the request as invalid (a 4xx other
	// than not found, rate limit or credentials); it did nothing.
	ErrRejected = errors.New("rejected")
	// ErrUnauthorized: the provider refused opsbot's credentials.
	ErrUnauthorized = errors.New("credentials refused")
	// ErrDuplicate: what was asked for already exists (a page with the same
	// dedupe key); nothing new was made.
	ErrDuplicate = errors.New("already exists")
)

// CoverState is where a cover request is in its life.
type CoverState string

// Cover request states. A request goes open → claimed → taken, or open →
// cancelled; a claim whose override fails goes back to open.
const (
	CoverOpen CoverState = "open"
	// CoverClaimed: one person's click is creating the override; nobody
	// else can take it meanwhile.
	CoverClaimed   CoverState = "claimed"
	CoverTaken     CoverState = "taken"
	CoverCancelled CoverState = "cancelled"
)

// CoverRequest is someone asking, in a schedule's handoff channel, for
// another person to be on call in their place for a window.
type CoverRequest struct {
	// ID is opsbot's (a UUID); the Take it and Cancel buttons carry it.
	ID        string    `json:"id"`
	Schedule  string    `json:"schedule"`
	Requester string    `json:"requester"` // Slack user ID
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	// Reason is Slack-escaped text as typed (quote it before repeating).
	Reason    string     `json:"reason,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	Message   MessageRef `json:"message"`
	State     CoverState `json:"state"`
	// Taker is who claimed or took it (Slack user ID).
	Taker string `json:"taker,omitempty"`
	// Attempts lists every claim ever made on the request, in order, one
	// Slack user ID per claim (repeated when someone claimed twice). A
	// claim whose replica died, or whose provider call failed without a
	// clear answer, may have left an override behind; whoever claims next
	// checks for it, so a window never gets two.
	Attempts   []string  `json:"-"`
	OverrideID string    `json:"override_id,omitempty"`
	TakenAt    time.Time `json:"taken_at,omitempty"`
}

// OverrideRecord is an override opsbot made, kept to show who arranged it.
type OverrideRecord struct {
	Override
	// OnCall is the Slack user put on call; For the one they replace
	// (empty for a direct override); By who arranged it.
	OnCall string `json:"on_call"`
	For    string `json:"for,omitempty"`
	By     string `json:"by"`
	// Cover is the cover request's ID when it came from one.
	Cover     string    `json:"cover,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}
