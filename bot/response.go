package bot

import (
	"strconv"
	"strings"
	"time"
)

// Visibility says who sees a response.
type Visibility int

// Visibilities.
const (
	// Ephemeral responses are seen only by the user who asked.
	Ephemeral Visibility = iota
	// InChannel responses are posted for everyone in the channel.
	InChannel
)

// Response is what a handler answers, free of any chat SDK. The Slack
// integration renders it as Block Kit; console mode renders it as text.
type Response struct {
	Visibility Visibility
	Message    Message
	// ReplaceOriginal, for a button click, replaces the message holding the
	// button instead of posting a new one.
	ReplaceOriginal bool
}

// Message is a neutral chat message.
type Message struct {
	// Channel to post in, for messages posted through Messenger.
	Channel string
	// ThreadTS makes the message a reply in that thread.
	ThreadTS string
	// Title is shown as a header.
	Title string
	// Text is the body in Slack mrkdwn (which console mode shows as is).
	Text string
	// Fields are short label/value pairs shown in two columns.
	Fields []Field
	// Code is preformatted text (command output), shown in a code block.
	Code string
	// Buttons are shown in one row under the body.
	Buttons []Button
	// Context is small print under everything else.
	Context string
	// Metadata is data for machines carried with a posted message (Slack's
	// message metadata), which people do not see; nil for none. A message
	// posted with it can be found again with MessageReader.FindPosted.
	Metadata *MessageMetadata
}

// MessageMetadata is what the bot attaches to a message to find it again:
// an event type naming what the message is for, and a flat payload
// identifying it. Anyone in the workspace can read it: never put a secret
// in it.
type MessageMetadata struct {
	// EventType is a short snake_case name ("alert_group_message").
	EventType string
	Payload   map[string]string
}

// Field is one label/value pair.
type Field struct {
	Label string
	Value string
}

// ButtonStyle colours a button.
type ButtonStyle string

// Button styles, as Slack names them.
const (
	ButtonDefault ButtonStyle = ""
	ButtonPrimary ButtonStyle = "primary"
	ButtonDanger  ButtonStyle = "danger"
)

// Button is a clickable action; clicks come back as a KindAction request with
// the same ID and Value.
type Button struct {
	ID    string
	Text  string
	Value string
	Style ButtonStyle
}

// MessageRef points at a posted message.
type MessageRef struct {
	Channel string `json:"channel"`
	// TS is the message's timestamp in Slack's form, "1700000000.000100"
	// (seconds and microseconds); it identifies the message in Channel.
	TS string `json:"ts"`
}

// ParseTS reads a Slack timestamp ("1700000000.000100") as a UTC time; the
// zero time when it is not one.
func ParseTS(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	var us int64
	if frac != "" {
		us, _ = strconv.ParseInt((frac + "000000")[:6], 10, 64)
	}
	return time.Unix(s, us*1000).UTC()
}

// Reply builds an ephemeral text response.
func Reply(text string) Response { return Response{Message: Message{Text: text}} }

// Say builds an in-channel text response.
func Say(text string) Response {
	return Response{Visibility: InChannel, Message: Message{Text: text}}
}

// Modal is a neutral form opened with a trigger ID.
type Modal struct {
	CallbackID      string
	Title           string
	Submit          string
	PrivateMetadata string
	Inputs          []Input
}

// InputKind is the widget an Input is shown as.
type InputKind string

// Input kinds.
const (
	InputText      InputKind = "text"
	InputMultiline InputKind = "multiline"
	InputSelect    InputKind = "select"
	// InputUser picks one person from the workspace; its value is the
	// user's ID, never a name.
	InputUser InputKind = "user"
	// InputCheckbox is one checkbox labelled by the input's Label; its
	// value is "true" when ticked and "" otherwise. It is always optional.
	InputCheckbox InputKind = "checkbox"
)

// Input is one field of a Modal.
type Input struct {
	ID          string
	Label       string
	Kind        InputKind
	Placeholder string
	Initial     string
	Optional    bool
	// Options are the choices of an InputSelect (value and label alike).
	Options []string
	// MaxLength bounds text inputs; 0 means Slack's default.
	MaxLength int
}
