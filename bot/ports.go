package bot

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Messenger posts and edits messages.
type Messenger interface {
	// Post posts msg in msg.Channel (in msg.ThreadTS when set).
	Post(ctx context.Context, msg Message) (MessageRef, error)
	// Update replaces the content of a message the bot posted.
	Update(ctx context.Context, ref MessageRef, msg Message) error
	// PostEphemeral shows msg to one user in msg.Channel.
	PostEphemeral(ctx context.Context, user string, msg Message) error
	// Delete removes a message the bot posted; one already gone is not an
	// error.
	Delete(ctx context.Context, ref MessageRef) error
}

// Channels manages conversations.
type Channels interface {
	// CreateChannel creates a public channel. It returns ErrNameTaken when
	// the name exists and ErrInvalidName when Slack rejects it.
	CreateChannel(ctx context.Context, name string) (ChannelInfo, error)
	Invite(ctx context.Context, channel string, users ...string) error
	SetTopic(ctx context.Context, channel, topic string) error
	SetPurpose(ctx context.Context, channel, purpose string) error
	Archive(ctx context.Context, channel string) error
	Pin(ctx context.Context, ref MessageRef) error
}

// ChannelInfo describes a channel.
type ChannelInfo struct {
	ID   string
	Name string
}

// Directory answers who people and user groups are.
type Directory interface {
	User(ctx context.Context, id string) (User, error)
	// UserByEmail returns ErrNotFound when no user has that address.
	UserByEmail(ctx context.Context, email string) (User, error)
	UsergroupMembers(ctx context.Context, group string) ([]string, error)
	SetUsergroupMembers(ctx context.Context, group string, users []string) error
}

// User is a chat user.
type User struct {
	ID       string
	TeamID   string
	Name     string
	RealName string
	Email    string
	IsBot    bool
	// IsRestricted is a multi-channel guest, IsUltraRestricted a
	// single-channel guest.
	IsRestricted      bool
	IsUltraRestricted bool
	// Deleted is a deactivated account.
	Deleted bool
	// TZ is the user's IANA time zone as chat knows it ("Europe/Berlin");
	// empty when unknown. Times the user types are read in it.
	TZ string
}

// Location returns the user's time zone, or fallback when it is unknown or
// not a zone this machine knows.
func (u User) Location(fallback *time.Location) *time.Location {
	if u.TZ != "" {
		if loc, err := time.LoadLocation(u.TZ); err == nil {
			return loc
		}
	}
	return fallback
}

// MessageReader fetches messages people posted.
type MessageReader interface {
	// Message fetches one message by channel and ts, thread replies included.
	Message(ctx context.Context, ref MessageRef) (ChatMessage, error)
	Permalink(ctx context.Context, ref MessageRef) (string, error)
	// FindPosted returns the earliest of the bot's own top-level messages
	// in channel, posted at or after since, whose metadata has match's
	// event type and every entry of match's payload: how work that posts
	// once learns, after a crash or a post whose answer was lost, whether
	// its message landed. It reads a bounded part of the channel's
	// history, newest first (the Slack integration: 1,000 messages); found
	// is false when nothing in it matches. An error wraps ErrRequestRefused
	// when chat refused to answer (a missing scope, a channel the bot
	// cannot read), which trying again does not change.
	FindPosted(ctx context.Context, channel string, since time.Time, match MessageMetadata) (ref MessageRef, found bool, err error)
}

// ChatMessage is a message read back from chat.
type ChatMessage struct {
	Ref  MessageRef
	User string
	Text string
	// Time is the message's own timestamp (UTC), not when it was read.
	Time     time.Time
	ThreadTS string
}

// Files uploads documents.
type Files interface {
	Upload(ctx context.Context, f File) error
}

// File is a document to upload into a channel.
type File struct {
	Channel  string
	ThreadTS string
	Name     string
	Title    string
	Content  []byte
	// Comment is posted with the file.
	Comment string
}

// Modals opens forms.
type Modals interface {
	OpenModal(ctx context.Context, triggerID string, m Modal) error
}

// Chat is everything commands may do in the chat workspace. Implemented by
// the Slack integration and by console mode.
type Chat interface {
	Messenger
	Channels
	Directory
	MessageReader
	Files
	Modals
}

// Errors chat implementations return so that commands can react to them
// without knowing the SDK.
var (
	ErrNameTaken   = errors.New("name taken")
	ErrInvalidName = errors.New("invalid name")
	ErrNotFound    = errors.New("not found")
)

// Deduper remembers keys for a while so that work keyed by them runs once
// across redeliveries and replicas.
type Deduper interface {
	// Claim records key and reports whether this caller is the first to
	// claim it within ttl.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Locker grants short exclusive leases so that scheduled work runs on one
// replica at a time.
type Locker interface {
	// TryLock takes the lease on key for ttl. ok is false when another holder
	// has it. release gives it back early; it is safe to call more than once.
	TryLock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}

// Clock tells the time; injected so time logic is tested at fixed dates.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock is the real clock, in UTC.
var SystemClock Clock = ClockFunc(func() time.Time { return time.Now().UTC() })

// IDs generates identifiers; injected so tests can make them predictable.
type IDs interface {
	New() uuid.UUID
}

// IDFunc adapts a function to IDs.
type IDFunc func() uuid.UUID

// New calls f.
func (f IDFunc) New() uuid.UUID { return f() }

// RandomIDs makes random version 4 UUIDs.
var RandomIDs IDs = IDFunc(uuid.New)
