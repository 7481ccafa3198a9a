package bot

import (
	"strings"
	"time"
)

// Kind says what sort of Slack interaction a Request came from.
type Kind string

// Kinds of request.
const (
	KindCommand Kind = "command" // a slash command
	KindAction  Kind = "action"  // a click on a button or a menu choice
	KindView    Kind = "view"    // a modal submitted
	KindEvent   Kind = "event"   // an Events API event (reaction_added, …)
)

// Request is one thing a user did, as every front end describes it. Identity
// is always by ID: names are for display only and never used for decisions.
type Request struct {
	Kind Kind
	// EnvelopeID is the Socket Mode envelope that carried the request; used
	// for logs, and to drop exact redeliveries of a request without a
	// DedupeKey.
	EnvelopeID string
	// DedupeKey identifies the user's action across envelopes: trigger_id for
	// commands and interactions, event_id for events. Slack may deliver one
	// action in several envelopes (retries, other replicas); it runs once.
	DedupeKey string
	// RetryAttempt is Slack's retry_attempt (0 on first delivery).
	RetryAttempt int
	TriggerID    string
	TeamID       string
	UserID       string
	UserName     string
	ChannelID    string
	ChannelName  string
	// Command is the slash command with its slash, e.g. "/incident".
	Command string
	// Text is everything the user typed after the command.
	Text string
	// Action is set for KindAction.
	Action *Action
	// View is set for KindView.
	View *ViewSubmission
	// Event is set for KindEvent.
	Event *Event
	// ResponseURL is where the front end can answer out of band (Slack's
	// response_url of a slash command or a click), valid for 30 minutes;
	// empty when there is none. It carries a secret: never log it.
	ResponseURL string
	// Received is when the front end received the request (UTC).
	Received time.Time
	// Parsed is what the command's Parse returned (see Command.Parse and
	// WithParsed); set by the router before the middleware and handler run.
	Parsed any
	// parsed says Parsed is set, so a request parsed by the front end
	// before its ack is not parsed again by the worker.
	parsed bool
}

// Args splits Text into words.
func (r *Request) Args() []string { return strings.Fields(r.Text) }

// Action is a click on a button or a menu choice in a message the bot posted.
type Action struct {
	ID    string // action_id
	Value string
	// Message is the message holding the button. Request.ResponseURL
	// replaces or answers it.
	Message MessageRef
}

// ViewSubmission is a modal the user submitted.
type ViewSubmission struct {
	CallbackID string
	// PrivateMetadata is what the handler stored in the modal when opening it.
	PrivateMetadata string
	// Values holds each input's value by input ID.
	Values map[string]string
}

// EventType is an Events API inner event type.
type EventType string

// Event types the bot subscribes to.
const (
	EventReactionAdded   EventType = "reaction_added"
	EventReactionRemoved EventType = "reaction_removed"
	EventMessageChanged  EventType = "message_changed"
	EventMessageDeleted  EventType = "message_deleted"
	EventMemberJoined    EventType = "member_joined_channel"
)

// Event is an Events API event the bot subscribes to.
type Event struct {
	ID   string // event_id
	Type EventType
	// Reaction is the emoji name without colons, for reaction events.
	Reaction string
	// Item is the message the event is about.
	Item MessageRef
	// ItemUser is the author of that message, when Slack says.
	ItemUser string
	// Text is the new text, for message_changed.
	Text string
	// Inviter is who added the user to the channel, for
	// member_joined_channel; empty when they joined by themselves.
	Inviter string
	// Time is when the event happened (UTC).
	Time time.Time
}
