package bot

import "context"

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
	Title     string
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
