package bot

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"
)

// Types and ports of the alerts family (Alertmanager and Grafana alerts in
// Slack). They are here rather than in the command package so that the
// webhook decoders, the Redis store, the Alertmanager silence client and the
// PagerDuty Events API client can implement them without importing commands.

// AlertSource names the system that sent a notification.
type AlertSource string

// Alert sources.
const (
	AlertSourceAlertmanager AlertSource = "alertmanager"
	AlertSourceGrafana      AlertSource = "grafana"
)

// AlertStatus is whether an alert (or a notification) is firing or resolved.
type AlertStatus string

// Alert statuses, as Alertmanager and Grafana spell them.
const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// AlertNotification is one webhook notification about one alert group:
// Alertmanager's payload version 4, or Grafana's unified-alerting webhook
// (the same shape plus the Grafana-only fields). Every string in it is raw
// text from the sender: quote it with QuoteRaw before repeating it in chat.
type AlertNotification struct {
	Source   AlertSource `json:"source"`
	Receiver string      `json:"receiver"`
	// Status is firing when any alert of the group fires.
	Status AlertStatus `json:"status"`
	// GroupKey identifies the group at the sender (Alertmanager's route
	// path and group labels).
	GroupKey          string            `json:"groupKey"`
	GroupLabels       map[string]string `json:"groupLabels,omitempty"`
	CommonLabels      map[string]string `json:"commonLabels,omitempty"`
	CommonAnnotations map[string]string `json:"commonAnnotations,omitempty"`
	// ExternalURL links back to the sender (Alertmanager's or Grafana's UI).
	ExternalURL string `json:"externalURL,omitempty"`
	// TruncatedAlerts is how many alerts the sender left out (its
	// max_alerts setting).
	TruncatedAlerts int     `json:"truncatedAlerts,omitempty"`
	Alerts          []Alert `json:"alerts"`
	// OrgID and Title are Grafana's.
	OrgID int64  `json:"orgId,omitempty"`
	Title string `json:"title,omitempty"`
	// ReceivedAt is when opsbot received the notification (UTC).
	ReceivedAt time.Time `json:"receivedAt"`
	// ClockAhead is how far the sender's clock ran ahead of ours, when one
	// of its times was further in the future than the decoder allows; those
	// times were taken as ReceivedAt.
	ClockAhead time.Duration `json:"clockAhead,omitempty"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status      AlertStatus       `json:"status"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// StartsAt is when the alert started firing (UTC). EndsAt is when it
	// resolved; zero while it fires.
	StartsAt time.Time `json:"startsAt"`
	EndsAt   time.Time `json:"endsAt,omitzero"`
	// SenderStartsAt is the sender's own StartsAt when that was further
	// ahead of our clock than the decoder's skew, and StartsAt is a time
	// of receipt instead; zero otherwise. The same sender start is the
	// same alert, which keeps the start it was first given.
	SenderStartsAt time.Time `json:"senderStartsAt,omitzero"`
	GeneratorURL   string    `json:"generatorURL,omitempty"`
	// Fingerprint identifies the alert (a hash of its labels) at the sender.
	Fingerprint string `json:"fingerprint"`
	// DashboardURL, PanelURL, SilenceURL and Values are Grafana's.
	DashboardURL string             `json:"dashboardURL,omitempty"`
	PanelURL     string             `json:"panelURL,omitempty"`
	SilenceURL   string             `json:"silenceURL,omitempty"`
	Values       map[string]float64 `json:"values,omitempty"`
}

// Firing reports whether the alert fires.
func (a Alert) Firing() bool { return a.Status == AlertFiring }

// AlertGroup is an alert group as the store holds it: the latest group-level
// fields of its notifications, its alerts merged by fingerprint, and what
// opsbot did about it.
type AlertGroup struct {
	// ID is opsbot's identifier of the group, derived from the source,
	// the receiver and the sender's group key.
	ID                string            `json:"id"`
	Source            AlertSource       `json:"source"`
	Receiver          string            `json:"receiver"`
	GroupKey          string            `json:"groupKey"`
	GroupLabels       map[string]string `json:"groupLabels,omitempty"`
	CommonLabels      map[string]string `json:"commonLabels,omitempty"`
	CommonAnnotations map[string]string `json:"commonAnnotations,omitempty"`
	ExternalURL       string            `json:"externalURL,omitempty"`
	OrgID             int64             `json:"orgId,omitempty"`
	Title             string            `json:"title,omitempty"`
	TruncatedAlerts   int               `json:"truncatedAlerts,omitempty"`
	// Alerts are the alerts of the current episode, firing ones first
	// (oldest first), then resolved ones (most recently resolved first).
	Alerts []Alert `json:"alerts"`
	// Firing counts the firing alerts.
	Firing int `json:"firing"`
	// Episode counts how often the group started firing after being
	// resolved (1 for the first time); each episode gets its own message.
	// 0 means the group was never seen firing.
	Episode int `json:"episode"`
	// EpisodeStart is the earliest startsAt of the alerts that started the
	// episode: when the problem was first detected.
	EpisodeStart time.Time `json:"episodeStart,omitzero"`
	// Version changes whenever the alerts or the state change; a message
	// rendered from version v is current while Version is v.
	Version int64 `json:"version"`
	// Shown is the version the group's message was last rendered from;
	// NextEdit the earliest time it may be edited again; DueAt when it is
	// due for rendering (zero when it is not).
	Shown    int64     `json:"shown,omitempty"`
	NextEdit time.Time `json:"nextEdit,omitzero"`
	DueAt    time.Time `json:"dueAt,omitzero"`
	// Pending is when opsbot received the oldest change its message does
	// not show yet; zero when it shows everything.
	Pending   time.Time       `json:"pending,omitzero"`
	UpdatedAt time.Time       `json:"updatedAt,omitzero"`
	State     AlertGroupState `json:"state"`
}

// Name is a short human name for the group: its alertname, else its group
// labels, else its receiver. Raw text.
func (g *AlertGroup) Name() string {
	if n := g.CommonLabels["alertname"]; n != "" {
		return n
	}
	if n := g.GroupLabels["alertname"]; n != "" {
		return n
	}
	if len(g.Alerts) > 0 && g.Alerts[0].Labels["alertname"] != "" {
		return g.Alerts[0].Labels["alertname"]
	}
	if s := FormatLabels(g.GroupLabels); s != "" {
		return s
	}
	return g.Receiver
}

// AlertGroupState is what opsbot did about one episode of an alert group:
// its message, acknowledgement, silence, incident and page.
type AlertGroupState struct {
	// Episode is the group episode this state belongs to; a state of an
	// earlier episode only keeps its message for a final edit.
	Episode int `json:"episode"`
	// Channel is where the group's message is (chosen by the route when it
	// was first posted); Message the message itself.
	Channel  string     `json:"channel,omitempty"`
	Message  MessageRef `json:"message,omitzero"`
	PostedAt time.Time  `json:"posted_at,omitzero"`
	// PostAttempt names the attempt to post the episode's message, claimed
	// (with Channel) before the message is posted, at PostAttemptAt, and
	// carried in the message's metadata. While Message is empty whether
	// it landed is unknown: a render looks for it in Channel before
	// posting again.
	PostAttempt   string    `json:"post_attempt,omitempty"`
	PostAttemptAt time.Time `json:"post_attempt_at,omitzero"`
	// Previous is the message of the previous episode while it still
	// needs its final edit.
	Previous MessageRef `json:"previous,omitzero"`
	// ShownResolved says the message has shown the episode resolved, so a
	// new episode leaves it as it is.
	ShownResolved bool `json:"shown_resolved,omitempty"`
	// AckedBy is the Slack user who acknowledged; AckedAt when.
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
	// Silence is the Alertmanager silence created from Slack, if any.
	SilenceID     string    `json:"silence_id,omitempty"`
	SilencedBy    string    `json:"silenced_by,omitempty"`
	SilencedUntil time.Time `json:"silenced_until,omitzero"`
	// Incident is the key of the linked incident, IncidentChannel its
	// channel.
	Incident        string `json:"incident,omitempty"`
	IncidentChannel string `json:"incident_channel,omitempty"`
	// PagedAt is when the escalation paged; PagedVia "events" (Events API
	// v2) or "rest" (a REST incident); PageID the page at PagerDuty (the
	// REST incident's ID, or the Events API dedup key: <group>:<episode>,
	// the bare group ID for pages made before, or empty for pages recorded
	// before it was kept); PageURL its link when known; PageResolved says
	// the page was resolved with the group. PagedVia, PagedService and an
	// Events API PageID are set before the page is sent, with PagedAt
	// zero until it is recorded as sent: a page whose answer was lost is
	// still resolved with the group.
	PagedAt      time.Time `json:"paged_at,omitzero"`
	PagedVia     string    `json:"paged_via,omitempty"`
	PagedService string    `json:"paged_service,omitempty"`
	PageID       string    `json:"page_id,omitempty"`
	PageURL      string    `json:"page_url,omitempty"`
	PageResolved bool      `json:"page_resolved,omitempty"`
	// AutoDeclared says the route's declare rule was applied.
	AutoDeclared bool `json:"auto_declared,omitempty"`
}

// Silenced reports whether the group's silence lasts beyond now.
func (s *AlertGroupState) Silenced(now time.Time) bool {
	return s.SilenceID != "" && s.SilencedUntil.After(now)
}

// ErrAlertGroupNotFound is returned by AlertStore for unknown groups.
var ErrAlertGroupNotFound = errors.New("alert group not found")

// Error classes adapters of external services (Alertmanager, chat's
// FindPosted) wrap, so that a family can phrase a failure for people, or
// decide whether to try again, without knowing the adapter.
var (
	// ErrRequestRefused: the service refused the request as invalid; trying
	// again will not help.
	ErrRequestRefused = errors.New("request refused")
	// ErrServiceUnavailable: no answer, or a server error; trying again
	// later may.
	ErrServiceUnavailable = errors.New("service unavailable")
)

// AlertStore keeps alert groups shared by replicas.
type AlertStore interface {
	// Record merges notification n into group id: each alert by
	// fingerprint, a newer state of an alert replacing an older one whatever
	// the order of arrival, so duplicates and late retries change nothing.
	// When anything changed the group is due for rendering (at once when it
	// starts firing, else no earlier than its next allowed edit). A nil
	// error means the notification is durable: stored, or held locally
	// while the store is unreachable and merged later, exactly once.
	Record(ctx context.Context, id string, n AlertNotification) error
	// Group returns a group with its alerts, or ErrAlertGroupNotFound.
	Group(ctx context.Context, id string) (AlertGroup, error)
	// Due returns up to limit groups due for rendering at now, soonest
	// first.
	Due(ctx context.Context, now time.Time, limit int) ([]string, error)
	// Rendered records that the group's message shows version and that the
	// next edit may not come before next (zero keeps the recorded next
	// edit). Changes recorded since make the group due again then.
	Rendered(ctx context.Context, id string, version int64, next time.Time) error
	// Reschedule makes the group due at at (after a failed render).
	Reschedule(ctx context.Context, id string, at time.Time) error
	// UpdateState applies fn to the group's state atomically (fn may run
	// more than once on contention). With touch the group's version changes
	// and it is due for rendering at once. An error from fn aborts the
	// update and is returned as is.
	UpdateState(ctx context.Context, id string, touch bool, fn func(*AlertGroupState) error) (AlertGroupState, error)
	// ClaimState is UpdateState for a change that decides that something
	// happens once, or that a person is told about (an acknowledgement):
	// it returns only once the change is safe from a failover of the
	// store; otherwise the change is given back and an error returned, so
	// the caller acts as if nothing was written.
	ClaimState(ctx context.Context, id string, touch bool, fn func(*AlertGroupState) error) (AlertGroupState, error)
	// Firing lists the groups with firing alerts, longest firing first.
	Firing(ctx context.Context) ([]string, error)
	// ScheduleTimer makes id due in the timer queue kind at at, replacing
	// any earlier schedule; CancelTimer removes it.
	ScheduleTimer(ctx context.Context, kind, id string, at time.Time) error
	CancelTimer(ctx context.Context, kind, id string) error
	// ClaimTimers returns up to limit IDs of kind due at now, each pushed
	// to now+lease in the same atomic step, so that one replica takes each
	// and another retries it only when the lease runs out.
	ClaimTimers(ctx context.Context, kind string, now time.Time, lease time.Duration, limit int) ([]string, error)
}

// SilenceMatcher is one matcher of an Alertmanager silence.
type SilenceMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	// IsEqual false negates the matcher (!= or !~).
	IsEqual bool `json:"isEqual"`
}

// Silence is an Alertmanager silence.
type Silence struct {
	ID        string           `json:"id,omitempty"`
	Matchers  []SilenceMatcher `json:"matchers"`
	StartsAt  time.Time        `json:"startsAt"`
	EndsAt    time.Time        `json:"endsAt"`
	CreatedBy string           `json:"createdBy"`
	Comment   string           `json:"comment"`
	// State is "active", "pending" or "expired" (set by Alertmanager).
	State string `json:"state,omitempty"`
}

// Silencer creates and lists silences (Alertmanager's API v2).
type Silencer interface {
	// CreateSilence creates s and returns its ID.
	CreateSilence(ctx context.Context, s Silence) (string, error)
	// Silences lists every silence Alertmanager knows, expired ones
	// included.
	Silences(ctx context.Context) ([]Silence, error)
	// ExpireSilence ends a silence now; an unknown ID wraps ErrNotFound.
	ExpireSilence(ctx context.Context, id string) error
}

// PagerEventAction is what a PagerDuty Events API v2 event does.
type PagerEventAction string

// Event actions.
const (
	PagerTrigger     PagerEventAction = "trigger"
	PagerAcknowledge PagerEventAction = "acknowledge"
	PagerResolve     PagerEventAction = "resolve"
)

// PagerEvent is an Events API v2 event.
type PagerEvent struct {
	// RoutingKey is the integration key of the service to page. A secret.
	RoutingKey string
	Action     PagerEventAction
	// DedupKey ties trigger, acknowledge and resolve of one alert together;
	// a trigger with the key of an open alert adds nothing.
	DedupKey string
	// Summary, Source and Severity ("critical", "error", "warning",
	// "info") are required for a trigger.
	Summary  string
	Source   string
	Severity string
	// Details are shown with the alert at PagerDuty.
	Details map[string]string
	// Links are shown with the alert: text → URL.
	Links []PagerLink
}

// PagerLink is a link attached to a PagerDuty alert.
type PagerLink struct {
	Href string
	Text string
}

// EventPager sends Events API v2 events.
type EventPager interface {
	// Enqueue sends ev and returns PagerDuty's dedup key for it.
	Enqueue(ctx context.Context, ev PagerEvent) (string, error)
}

// FormatLabels writes labels as name=value pairs sorted by name and
// separated by commas. The result is raw text.
func FormatLabels(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}
