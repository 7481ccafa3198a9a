package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FollowupState is where a follow-up is: open until someone (or the tracker)
// says it is done.
type FollowupState string

// Follow-up states.
const (
	FollowupOpen FollowupState = "open"
	FollowupDone FollowupState = "done"
)

// Followup is an action item that came out of an incident: a post-mortem's
// "what we will do about it", with an owner, a due date, and optionally a
// tracker issue kept in step with it.
type Followup struct {
	// Incident is the incident key ("INC-42"); Number counts the incident's
	// follow-ups from 1. Together they identify the follow-up.
	Incident string `json:"incident"`
	Number   int    `json:"number"`
	// Text is Slack-escaped, as typed (quote it with Quote before
	// repeating it).
	Text string `json:"text"`
	// Owner is a Slack user ID; empty when nobody owns it.
	Owner string `json:"owner,omitempty"`
	// Due is the due date as YYYY-MM-DD in the incidents' time zone; empty
	// when none. DueAt is the start of that day (UTC instant), which is
	// what "due by" compares against.
	Due   string    `json:"due,omitempty"`
	DueAt time.Time `json:"due_at,omitzero"`
	// Drill says the follow-up came out of a drill.
	Drill     bool          `json:"drill,omitempty"`
	CreatedBy string        `json:"created_by"`
	CreatedAt time.Time     `json:"created_at"`
	State     FollowupState `json:"state"`
	// DoneBy is the Slack user who marked it done, or "github" when the
	// tracker issue was closed there.
	DoneBy string    `json:"done_by,omitempty"`
	DoneAt time.Time `json:"done_at,omitzero"`
	// Message is the bot's message in the incident channel that announced
	// the follow-up (with its Done button); it is edited when it is done.
	Message MessageRef `json:"message,omitzero"`

	// RemindAt is when the owner is next reminded; zero when no reminder
	// is pending. Reminders counts the reminders sent: the atomic update
	// that increments it is the claim that makes each reminder go out once
	// across replicas.
	RemindAt  time.Time `json:"remind_at,omitzero"`
	Reminders int       `json:"reminders,omitempty"`

	// Tracker holds the follow-up's issue in an external tracker.
	Tracker TrackerLink `json:"tracker,omitzero"`
	// SyncAt is when the follow-up next needs the tracker (create the issue,
	// close it, or check whether it was closed there); zero when never.
	SyncAt time.Time `json:"sync_at,omitzero"`
}

// ID is "INC-42/3".
func (f *Followup) ID() string { return FollowupID(f.Incident, f.Number) }

// Open reports whether the follow-up still needs doing.
func (f *Followup) Open() bool { return f.State != FollowupDone }

// FollowupID formats the identifier of follow-up n of incident.
func FollowupID(incident string, n int) string { return incident + "/" + strconv.Itoa(n) }

// ParseFollowupID splits "INC-42/3" into its incident key and number.
func ParseFollowupID(id string) (incident string, n int, err error) {
	inc, num, ok := strings.Cut(id, "/")
	if !ok {
		return "", 0, fmt.Errorf("follow-up %q: want INC-N/M", id)
	}
	key, err := ParseIncidentKey(inc)
	if err != nil {
		return "", 0, fmt.Errorf("follow-up %q: %w", id, err)
	}
	n, err = strconv.Atoi(num)
	if err != nil || n <= 0 {
		return "", 0, fmt.Errorf("follow-up %q: want INC-N/M", id)
	}
	return key, n, nil
}

// TrackerLink is a follow-up's issue in a tracker and what the bot last
// knew of it.
type TrackerLink struct {
	// Number and URL identify the issue once it exists.
	Number int    `json:"number,omitempty"`
	URL    string `json:"url,omitempty"`
	// State is the issue's state as last synced: "open" or "closed".
	State string `json:"state,omitempty"`
	// Attempts counts failed tracker calls in a row; it drives the back-off
	// and resets on success.
	Attempts int `json:"attempts,omitempty"`
	// LastError says, for people, why the last tracker call failed.
	LastError string `json:"last_error,omitempty"`
	// CreateTriedAt is set when a create was sent whose outcome is unknown
	// (a timeout or a 5xx): before trying again the bot looks for an issue
	// it may have created then, so that there is never a second one.
	CreateTriedAt time.Time `json:"create_tried_at,omitzero"`
	// LeaseUntil keeps other replicas off the follow-up while one talks to
	// the tracker about it.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// ErrFollowupNotFound is returned by FollowupStore for unknown follow-ups.
var ErrFollowupNotFound = errors.New("follow-up not found")

// FollowupStore keeps follow-ups. Implementations index them by incident,
// by owner (open ones), by due date (open ones), by RemindAt and by SyncAt,
// all from the record's own fields.
type FollowupStore interface {
	// Add allocates the next number of f.Incident, sets f.Number and
	// stores f — once per dedupeKey: a repeat returns the follow-up the
	// first created, with created false.
	Add(ctx context.Context, dedupeKey string, f Followup) (out Followup, created bool, err error)
	// Get returns follow-up n of incident, or ErrFollowupNotFound.
	Get(ctx context.Context, incident string, n int) (Followup, error)
	// ForIncident lists an incident's follow-ups by number.
	ForIncident(ctx context.Context, incident string) ([]Followup, error)
	// Update applies fn to the stored follow-up atomically (fn may run more
	// than once on contention) and returns the result. An error from fn
	// aborts the update and is returned as is.
	Update(ctx context.Context, incident string, n int, fn func(*Followup) error) (Followup, error)
	// Claim is Update for a change that decides that something happens
	// once (a reminder sent) or that a person is told about (marked done):
	// it returns only once the change is safe from a failover of the
	// store; otherwise the change is given back and an error returned, so
	// the caller acts as if nothing was written.
	Claim(ctx context.Context, incident string, n int, fn func(*Followup) error) (Followup, error)
	// OpenByOwner lists the open follow-ups owned by user, by due date
	// (undated last).
	OpenByOwner(ctx context.Context, user string) ([]Followup, error)
	// OpenDueBy lists open follow-ups whose DueAt is at or before t, by
	// due date.
	OpenDueBy(ctx context.Context, t time.Time) ([]Followup, error)
	// RemindDue lists follow-ups whose RemindAt is at or before t, at most
	// limit of them, earliest first.
	RemindDue(ctx context.Context, t time.Time, limit int) ([]Followup, error)
	// SyncDue lists follow-ups whose SyncAt is at or before t, at most
	// limit of them, earliest first.
	SyncDue(ctx context.Context, t time.Time, limit int) ([]Followup, error)
}

// Tracker is an issue tracker follow-ups are mirrored to (GitHub issues).
// Errors wrap one of the ErrTracker… kinds, and a *TrackerError when the
// tracker said more (status, retry-after).
type Tracker interface {
	// CreateIssue opens an issue. Body ends with Marker, which FindIssue
	// looks for.
	CreateIssue(ctx context.Context, req IssueRequest) (Issue, error)
	// Issue reads issue number.
	Issue(ctx context.Context, number int) (Issue, error)
	// CloseIssue closes issue number as completed.
	CloseIssue(ctx context.Context, number int) (Issue, error)
	// FindIssue looks among the issues created since since for one whose
	// body contains marker; ok is false when there is none.
	FindIssue(ctx context.Context, marker string, since time.Time) (issue Issue, ok bool, err error)
	// Name is the tracker as people know it ("GitHub acme/ops").
	Name() string
}

// IssueRequest is an issue to open.
type IssueRequest struct {
	Title string
	Body  string
	// Marker is a unique string in Body that identifies the follow-up.
	Marker string
	Labels []string
}

// Issue is an issue as the tracker reports it.
type Issue struct {
	Number int
	URL    string
	// State is "open" or "closed".
	State     string
	UpdatedAt time.Time
}

// Kinds of tracker failure, for errors.Is.
var (
	// ErrTrackerAuth: the token is missing, wrong or lacks the scope.
	ErrTrackerAuth = errors.New("tracker refused the credentials")
	// ErrTrackerNotFound: the repository (or issue) does not exist or the
	// token cannot see it.
	ErrTrackerNotFound = errors.New("tracker: not found")
	// ErrTrackerInvalid: the tracker rejected the content (e.g. GitHub's
	// 422 Validation Failed).
	ErrTrackerInvalid = errors.New("tracker rejected the request")
	// ErrTrackerRateLimited: too many requests; TrackerError.RetryAfter
	// says when to come back.
	ErrTrackerRateLimited = errors.New("tracker rate limit")
	// ErrTrackerUnavailable: a 5xx, a timeout or a network failure. The
	// request may or may not have taken effect.
	ErrTrackerUnavailable = errors.New("tracker unavailable")
)

// TrackerError is a failed tracker call with what the tracker said.
type TrackerError struct {
	// Kind is one of the ErrTracker… values.
	Kind error
	// Op says what was attempted ("create issue in acme/ops").
	Op string
	// Status is the HTTP status, 0 for a network failure.
	Status int
	// Message is the tracker's own message, never containing credentials.
	Message string
	// RetryAfter is how long the tracker asked to wait; 0 when it did not.
	RetryAfter time.Duration
}

func (e *TrackerError) Error() string {
	s := e.Op + ": " + e.Kind.Error()
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.Status)
		if e.Message != "" {
			s += ": " + e.Message
		}
		s += ")"
	} else if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	return s
}

// Unwrap lets errors.Is match the kind.
func (e *TrackerError) Unwrap() error { return e.Kind }
