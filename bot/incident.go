package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Severity ranks how bad an incident is; sev1 is the worst.
type Severity string

// Severities, worst first.
const (
	Sev1 Severity = "sev1"
	Sev2 Severity = "sev2"
	Sev3 Severity = "sev3"
	Sev4 Severity = "sev4"
)

// Severities lists every severity, worst first.
var Severities = []Severity{Sev1, Sev2, Sev3, Sev4}

// ParseSeverity accepts "sev2" in any case. A bare "2" is refused: it is
// more likely the start of a title ("2 regions down"). ok is false for
// anything else.
func ParseSeverity(s string) (sev Severity, ok bool) { return parseName(s, Severities) }

// parseName returns the member of names that s spells, in any case and
// with surrounding space.
func parseName[T ~string](s string, names []T) (T, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, v := range names {
		if s == string(v) {
			return v, true
		}
	}
	return "", false
}

// Rank is 1 for sev1 through 4 for sev4, and 0 for an invalid severity.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if s == v {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether s is one of the four severities.
func (s Severity) Valid() bool { return s.Rank() != 0 }

// Status is where an incident is in its lifecycle.
type Status string

// Statuses in lifecycle order. Monitoring means mitigated: the impact has
// stopped and the team is watching; it is what "time to mitigate" measures.
const (
	StatusInvestigating Status = "investigating"
	StatusIdentified    Status = "identified"
	StatusMonitoring    Status = "monitoring"
	StatusResolved      Status = "resolved"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusInvestigating, StatusIdentified, StatusMonitoring, StatusResolved}

// ParseStatus accepts a status name in any case. ok is false otherwise.
func ParseStatus(s string) (st Status, ok bool) { return parseName(s, Statuses) }

// Role is a responsibility someone holds in an incident. The commander is
// built in; the others (comms, scribe, ops by default) come from the config.
type Role string

// RoleCommander leads the incident: decides, delegates, keeps people
// informed. Every incident has one; the declarer until someone else is
// assigned.
const RoleCommander Role = "commander"

// Incident is the current state of one incident. Its history is in the
// timeline; this record is what commands read and the summary shows.
type Incident struct {
	// Key is the human identifier, "INC-" followed by Number.
	Key string `json:"key"`
	// Number is allocated from a per-workspace counter, monotonic.
	Number      int64    `json:"number"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Severity    Severity `json:"severity"`
	// HighestSeverity is the worst severity the incident has had, kept when
	// it is lowered (statistics count an incident under it); empty until a
	// change, and on records from before it was kept. Read it through
	// Highest.
	HighestSeverity Severity `json:"highest_severity,omitempty"`
	Status          Status   `json:"status"`
	// Channel is the incident channel's ID; ChannelName its name.
	Channel     string `json:"channel"`
	ChannelName string `json:"channel_name"`
	// Commander is the Slack user ID of the incident commander.
	Commander string `json:"commander"`
	// Roles maps other roles to the Slack user ID holding them.
	Roles map[Role]string `json:"roles,omitempty"`
	// DeclaredBy is the Slack user ID of the declarer.
	DeclaredBy string `json:"declared_by"`
	// DeclaredAt, MitigatedAt and ResolvedAt are UTC; zero when not yet.
	DeclaredAt  time.Time `json:"declared_at"`
	MitigatedAt time.Time `json:"mitigated_at,omitzero"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
	// DetectedAt is when the problem was first detected (the first linked
	// alert's start); zero when the incident was declared without one.
	DetectedAt time.Time `json:"detected_at,omitzero"`
	// AcknowledgedAt is when someone first took the incident in hand after
	// the declaration: the first action of the commander, a change of
	// commander, or the first status update. Zero until then.
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	// Drill marks a rehearsal: it runs the whole flow but pages nobody, is
	// marked as a drill in every message and is left out of statistics.
	Drill bool `json:"drill,omitempty"`
	// Resolution is the summary given when resolving.
	Resolution string `json:"resolution,omitempty"`
	// SummaryRef is the pinned summary message in the incident channel;
	// AnnouncementRef the announcement in the broadcast channel. Both are
	// edited in place as the incident changes.
	SummaryRef      MessageRef `json:"summary_ref,omitzero"`
	AnnouncementRef MessageRef `json:"announcement_ref,omitzero"`
	// LastUpdateAt is when the last status update was posted (or the
	// declaration); reminders count from it. LastReminderAt is when the
	// channel was last reminded.
	LastUpdateAt   time.Time `json:"last_update_at"`
	LastReminderAt time.Time `json:"last_reminder_at,omitzero"`
	// LastUpdate is the text of the latest status update and LastUpdateBy
	// who posted it; the summary and the announcement show them.
	LastUpdate   string `json:"last_update,omitempty"`
	LastUpdateBy string `json:"last_update_by,omitempty"`
	// ArchiveAt, when set, is when the resolved incident's channel is due to
	// be archived; Archived says it was.
	ArchiveAt time.Time `json:"archive_at,omitzero"`
	Archived  bool      `json:"archived,omitempty"`
	// Pinned holds the ts of messages captured into the timeline with
	// :pushpin:, so edits and deletions of exactly those are recorded.
	Pinned []string `json:"pinned,omitempty"`
	// AlertGroups are the IDs of the alert groups linked to the incident.
	AlertGroups []string `json:"alert_groups,omitempty"`
}

// IncidentKey formats the key of incident number n.
func IncidentKey(n int64) string { return "INC-" + strconv.FormatInt(n, 10) }

// ParseIncidentKey accepts "INC-42", "inc-42" and "42".
func ParseIncidentKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	digits := s
	if len(s) > 4 && strings.EqualFold(s[:4], "INC-") {
		digits = s[4:]
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n <= 0 {
		return "", fmt.Errorf("incident %q: want INC-N", s)
	}
	return IncidentKey(n), nil
}

// Open reports whether the incident is not resolved.
func (i *Incident) Open() bool { return i.Status != StatusResolved }

// Highest is the worst severity the incident has had: HighestSeverity when
// it is worse than the current one, else Severity.
func (i *Incident) Highest() Severity {
	if i.HighestSeverity.Valid() && (!i.Severity.Valid() || i.HighestSeverity.Rank() < i.Severity.Rank()) {
		return i.HighestSeverity
	}
	return i.Severity
}

// HasPinned reports whether the message with ts was captured.
func (i *Incident) HasPinned(ts string) bool {
	for _, p := range i.Pinned {
		if p == ts {
			return true
		}
	}
	return false
}

// ErrIncidentNotFound is returned by IncidentStore for unknown keys and
// channels.
var ErrIncidentNotFound = errors.New("incident not found")

// IncidentStore keeps incident records. Timelines are stored separately
// (Timeline); this is the current state.
type IncidentStore interface {
	// Create allocates the next number, sets inc.Number and inc.Key, and
	// stores inc — once per dedupeKey: a second Create with the same key
	// (a redelivered declaration) allocates nothing and returns the incident
	// the first created, with created false.
	Create(ctx context.Context, dedupeKey string, inc Incident) (out Incident, created bool, err error)
	// Get returns the incident with key, or ErrIncidentNotFound.
	Get(ctx context.Context, key string) (Incident, error)
	// ByChannel returns the incident run in channel, or ErrIncidentNotFound.
	ByChannel(ctx context.Context, channel string) (Incident, error)
	// Update applies fn to the stored incident atomically (fn may run more
	// than once on contention) and returns the stored result. An error from
	// fn aborts the update and is returned as is.
	Update(ctx context.Context, key string, fn func(*Incident) error) (Incident, error)
	// Open lists unresolved incidents and resolved ones whose channel is
	// still due to be archived, by number.
	Open(ctx context.Context) ([]Incident, error)
}
