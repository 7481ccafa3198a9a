package bot

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// EventType of timeline events. Typed so that the export and the timeline
// view switch on a closed set.
type TimelineEventType string

// Timeline event types.
const (
	TLDeclared        TimelineEventType = "declared"
	TLSeverityChanged TimelineEventType = "severity_changed"
	TLStatusChanged   TimelineEventType = "status_changed"
	TLRoleAssigned    TimelineEventType = "role_assigned"
	TLUpdate          TimelineEventType = "update"
	TLNote            TimelineEventType = "note"
	TLPinned          TimelineEventType = "pinned"
	TLUnpinned        TimelineEventType = "unpinned"
	TLMessageEdited   TimelineEventType = "message_edited"
	TLMessageDeleted  TimelineEventType = "message_deleted"
	TLRunbook         TimelineEventType = "runbook"
	TLPage            TimelineEventType = "page"
	TLReminder        TimelineEventType = "reminder"
	TLResolved        TimelineEventType = "resolved"
	TLArchived        TimelineEventType = "archived"
	// TLFollowup is a follow-up added, done, reopened or linked to a tracker
	// issue (Details "event", "number", "owner", "due", "url").
	TLFollowup TimelineEventType = "followup"
	// TLMilestone marks a milestone that no other event records by itself
	// (Details "milestone": "acknowledged").
	TLMilestone TimelineEventType = "milestone"
	// TLAlertFiring and TLAlertResolved record an alert of a linked alert
	// group at its own startsAt and endsAt. Details: "group", "fingerprint",
	// "alertname", "labels" (name=value, …), "source" (the generator URL);
	// Text is the alert's summary, else its name. Text, alertname and labels
	// are Slack-escaped (QuoteRaw) like every timeline text.
	TLAlertFiring   TimelineEventType = "alert_firing"
	TLAlertResolved TimelineEventType = "alert_resolved"
)

// TimelineEvent is one entry in an incident's timeline.
type TimelineEvent struct {
	// ID is unique per event; storage uses it to write each event once.
	ID uuid.UUID `json:"id"`
	// Incident is the incident key, e.g. "INC-42".
	Incident string            `json:"incident"`
	Type     TimelineEventType `json:"type"`
	// Actor is the Slack user ID who caused the event, or "opsbot".
	Actor string `json:"actor"`
	// Time is when it happened, in UTC. For a pinned message that is the
	// message's own time, not the time of the pin.
	Time time.Time `json:"time"`
	// Text is the human-readable content (the note, the update, the message).
	Text string `json:"text,omitempty"`
	// Details are type-specific fields (e.g. "from"/"to" for a severity
	// change, "role"/"user" for an assignment, "permalink" for a pin).
	Details map[string]string `json:"details,omitempty"`
	// DedupeKey, when set, makes events with the same key recorded once per
	// incident (e.g. "pin:C123:1700000000.000100"), whatever their IDs.
	DedupeKey string `json:"dedupe_key,omitempty"`
}

// Timeline stores incident timelines. Append must not lose an accepted event:
// when the store is unreachable, the event is held durably and written later,
// in order.
type Timeline interface {
	// Append records ev. A nil error means the event is durable (stored, or
	// held for storing) and will be written exactly once.
	Append(ctx context.Context, ev TimelineEvent) error
	// Events returns an incident's events in the order they were appended,
	// including events still held for storing.
	Events(ctx context.Context, incident string) ([]TimelineEvent, error)
}
