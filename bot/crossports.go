package bot

import (
	"context"
	"time"
)

// These ports connect command families to each other without importing each
// other: the composition root passes one family's service to another as the
// port it needs.

// IncidentLocator tells whether a channel is an incident channel.
type IncidentLocator interface {
	// IncidentForChannel returns the incident key (e.g. "INC-42") of the
	// incident run in channel; ok is false for any other channel.
	IncidentForChannel(ctx context.Context, channel string) (key string, ok bool, err error)
}

// OnCallResolver says who is on call now.
type OnCallResolver interface {
	// CurrentOnCall returns the Slack user IDs currently on call for the
	// followed schedules (first level), without duplicates. People who could
	// not be mapped to Slack are left out.
	CurrentOnCall(ctx context.Context) ([]string, error)
}

// OpenIncidents lists open incidents for handoff messages.
type OpenIncidents interface {
	OpenIncidentSummaries(ctx context.Context) ([]IncidentSummary, error)
}

// IncidentSummary is the short form of an open incident.
type IncidentSummary struct {
	Key       string // "INC-42"
	Title     string // Slack-escaped (quote it with Quote before repeating it)
	Severity  string // "sev2"
	Status    string
	Commander string // Slack user ID
	Channel   string // channel ID
}

// Pager pages a service's on-call on a user's behalf.
type Pager interface {
	Page(ctx context.Context, p PageRequest) (PageResult, error)
}

// PageRequest asks to page the on-call of a configured service.
type PageRequest struct {
	// Service is the configured service name (e.g. "checkout").
	Service string
	Title   string
	Details string
	// RequesterEmail is the Slack user's e-mail, for the incident's record.
	RequesterEmail string
	// IncidentKey links the page to an opsbot incident, when there is one;
	// it also makes a repeated page for the same key a no-op at PagerDuty.
	IncidentKey string
}

// PageResult is the incident created at the paging provider.
type PageResult struct {
	ID  string
	URL string
	// Assignees are display names of who was paged.
	Assignees []string
}

// PageResolver resolves an incident a Pager created, once what it paged
// about is over (an escalated alert group resolved). Separate from Pager so
// that pagers which never resolve need not implement it.
type PageResolver interface {
	// ResolvePage resolves the incident whose PageResult.ID is id. One
	// already resolved (by someone at the provider, or by an earlier call
	// whose answer was lost) is success; an unknown one wraps ErrNotFound.
	ResolvePage(ctx context.Context, id string) error
	// ResolvePageByKey resolves the open incident a Pager created on
	// service with PageRequest.IncidentKey incidentKey, if there is one:
	// a page whose answer was lost, so that its ID is unknown. None open
	// is success.
	ResolvePageByKey(ctx context.Context, service, incidentKey string) error
}

// AlertGroups lists alert groups that are still firing, for handoff
// messages and read-ins. Implemented by the alerts family.
type AlertGroups interface {
	FiringAlertGroups(ctx context.Context) ([]AlertGroupSummary, error)
}

// AlertGroupSummary is the short form of a firing alert group.
type AlertGroupSummary struct {
	// ID is opsbot's identifier of the group (derived from Alertmanager's
	// groupKey and receiver).
	ID string
	// Name is a short human name: the alertname or the group labels,
	// as raw text (quote it with QuoteRaw before repeating it).
	Name     string
	Firing   int
	Since    time.Time
	Channel  string
	Message  MessageRef
	AckedBy  string // Slack user ID; empty when nobody acknowledged
	Incident string // incident key when one is linked
}

// DueFollowups lists open follow-ups due by a time, for handoff messages.
// Implemented by the incident family.
type DueFollowups interface {
	FollowupsDue(ctx context.Context, by time.Time) ([]FollowupSummary, error)
}

// FollowupSummary is the short form of an open follow-up.
type FollowupSummary struct {
	Incident string // "INC-42"
	Number   int    // the follow-up's number within its incident
	// Text is Slack-escaped (quote it with Quote before repeating it).
	Text  string
	Owner string // Slack user ID; empty when unowned
	Due   time.Time
	URL   string // tracker issue, when there is one
}

// IncidentDeclarer declares incidents on behalf of another family (an alert
// group's Declare button, or a route's auto-declare rule). Implemented by
// the incident family.
type IncidentDeclarer interface {
	// DeclareLinked declares an incident once per d.DedupeKey: a repeat
	// returns the incident the first created, with created false.
	DeclareLinked(ctx context.Context, d LinkedDeclaration) (inc IncidentSummary, created bool, err error)
}

// LinkedDeclaration is an incident to declare for something outside
// /incident, such as an alert group.
type LinkedDeclaration struct {
	// DedupeKey makes the declaration happen once across replicas and
	// redeliveries, e.g. "alertgroup:" + the group's ID.
	DedupeKey string
	// Title is raw text (an alert's summary or alertname); the incident
	// family escapes and quotes it.
	Title    string
	Severity Severity
	// DeclaredBy is the Slack user who asked; empty for an automatic
	// declaration, which the bot makes in its own name.
	DeclaredBy string
	// AlertGroup is the linked alert group's ID, and AlertMessage the
	// alert message, which the incident's summary links back to.
	AlertGroup   string
	AlertMessage MessageRef
	// DetectedAt is when the problem was first detected (the first alert's
	// startsAt); time to detect is measured from it.
	DetectedAt time.Time
}
