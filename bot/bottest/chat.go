package bottest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// Chat is a recording, in-memory bot.Chat. It keeps what a workspace would
// show (messages and their edits, channels, invitations, topics, pins,
// uploads, forms), serves a directory of people and user groups, logs every
// call in order, and fails any method on demand. It is safe for concurrent
// use.
//
// It behaves as Slack does where tests depend on it: a message posted to a
// user ID is a direct message, and its reference names the DM channel
// ("D" + user ID); editing a message it never posted, or naming the wrong
// channel, fails; a taken or rejected channel name fails with
// bot.ErrNameTaken or bot.ErrInvalidName; an unknown person is
// bot.ErrNotFound. An unknown user group has no members. Message reads only
// what AddMessage stored (messages people posted), not the bot's own posts:
// a test says what people wrote.
type Chat struct {
	mu       sync.Mutex
	seq      int
	channels int

	calls    []string
	fail     map[string]error
	failNext map[string]*failure

	posts     []bot.Message
	where     map[string]string        // ts -> channel of the reference Post returned
	latest    map[string]bot.Message   // ts -> content as it stands now
	updates   map[string][]bot.Message // ts -> every edit, in order
	edits     []bot.Message            // every edit of any message, in order
	ephemeral []bot.Message
	deleted   map[string]bool // ts -> deleted

	names    map[string]string // channel name -> ID, for channels created here
	taken    map[string]bool
	invalid  map[string]bool
	invites  map[string][]string
	topics   map[string]string
	purposes map[string]string
	pins     []bot.MessageRef
	archived []string
	uploads  []bot.File
	modals   []bot.Modal

	users  map[string]bot.User
	groups map[string][]string
	said   map[bot.MessageRef]bot.ChatMessage
}

type failure struct {
	n   int
	err error
}

var _ bot.Chat = (*Chat)(nil)

// NewChat returns an empty workspace.
func NewChat() *Chat {
	return &Chat{
		fail: map[string]error{}, failNext: map[string]*failure{},
		where: map[string]string{}, latest: map[string]bot.Message{}, updates: map[string][]bot.Message{}, deleted: map[string]bool{},
		names: map[string]string{}, taken: map[string]bool{}, invalid: map[string]bool{},
		invites: map[string][]string{}, topics: map[string]string{}, purposes: map[string]string{},
		users: map[string]bot.User{}, groups: map[string][]string{}, said: map[bot.MessageRef]bot.ChatMessage{},
	}
}

// record logs a call as "Method detail…" and returns the failure injected
// for method, if any; c.mu is held.
func (c *Chat) record(method string, detail ...string) error {
	c.calls = append(c.calls, strings.TrimSpace(method+" "+strings.Join(detail, " ")))
	if f := c.failNext[method]; f != nil {
		f.n--
		if f.n <= 0 {
			delete(c.failNext, method)
		}
		return f.err
	}
	return c.fail[method]
}

// isDM says whether a channel argument names a person (a direct message),
// as Slack reads user IDs given as a channel.
func isDM(channel string) bool {
	return strings.HasPrefix(channel, "U") || strings.HasPrefix(channel, "W")
}

// apply logs a call and, unless a failure is injected for it, makes its
// change.
func (c *Chat) apply(change func(), method string, detail ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(method, detail...); err != nil {
		return err
	}
	change()
	return nil
}

// Setup.

// AddUser adds u to the directory, replacing anyone with the same ID.
func (c *Chat) AddUser(u bot.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users[u.ID] = u
}

// EditUser changes a person in the directory (a deactivation, a new time
// zone). It panics when the person is unknown: that is a mistake in the
// test's setup, not something to assert on.
func (c *Chat) EditUser(id string, edit func(*bot.User)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[id]
	if !ok {
		panic("bottest: EditUser of unknown user " + id)
	}
	edit(&u)
	c.users[id] = u
}

// SetGroup sets a user group's members.
func (c *Chat) SetGroup(id string, members ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groups[id] = slices.Clone(members)
}

// AddMessage stores a message a person posted, for Message to read; m.Ref
// says where.
func (c *Chat) AddMessage(m bot.ChatMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.said[m.Ref] = m
}

// TakeName makes CreateChannel answer bot.ErrNameTaken for name, as for a
// channel someone else made.
func (c *Chat) TakeName(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.taken[name] = true
}

// RejectName makes CreateChannel answer bot.ErrInvalidName for name.
func (c *Chat) RejectName(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalid[name] = true
}

// Fail makes every call of method (a bot.Chat method name, "Post") return
// err after it is logged; a nil err makes it succeed again.
func (c *Chat) Fail(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.fail, method)
		return
	}
	c.fail[method] = err
}

// FailNext makes the next n calls of method return err, then lets it
// succeed.
func (c *Chat) FailNext(method string, n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext[method] = &failure{n: n, err: err}
}

// bot.Messenger.

// Post posts m; in a DM (m.Channel is a user ID) the reference names the DM
// channel.
func (c *Chat) Post(_ context.Context, m bot.Message) (bot.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("Post", m.Channel); err != nil {
		return bot.MessageRef{}, err
	}
	c.seq++
	ref := bot.MessageRef{Channel: m.Channel, TS: fmt.Sprintf("1700000000.%06d", c.seq)}
	if isDM(m.Channel) {
		ref.Channel = "D" + m.Channel
	}
	c.posts = append(c.posts, m)
	c.where[ref.TS] = ref.Channel
	c.latest[ref.TS] = m
	return ref, nil
}

// Update replaces a message this chat posted, named by the reference Post
// returned; any other fails as Slack's message_not_found.
func (c *Chat) Update(_ context.Context, ref bot.MessageRef, m bot.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("Update", ref.Channel, ref.TS); err != nil {
		return err
	}
	if ch, ok := c.where[ref.TS]; !ok || ch != ref.Channel || c.deleted[ref.TS] {
		return fmt.Errorf("update %s in %s: message_not_found", ref.TS, ref.Channel)
	}
	if m.Metadata == nil {
		// Slack keeps a message's metadata when an edit sends none.
		m.Metadata = c.latest[ref.TS].Metadata
	}
	c.latest[ref.TS] = m
	c.updates[ref.TS] = append(c.updates[ref.TS], m)
	c.edits = append(c.edits, m)
	return nil
}

// Delete removes a message this chat posted; one already deleted is not an
// error, one it never posted fails as Slack's message_not_found.
func (c *Chat) Delete(_ context.Context, ref bot.MessageRef) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("Delete", ref.Channel, ref.TS); err != nil {
		return err
	}
	if ch, ok := c.where[ref.TS]; !ok || ch != ref.Channel {
		return fmt.Errorf("delete %s in %s: message_not_found", ref.TS, ref.Channel)
	}
	c.deleted[ref.TS] = true
	return nil
}

// Deleted reports whether the message posted with ts was deleted.
func (c *Chat) Deleted(ts string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleted[ts]
}

// PostEphemeral records m as shown to user.
func (c *Chat) PostEphemeral(_ context.Context, user string, m bot.Message) error {
	return c.apply(func() { c.ephemeral = append(c.ephemeral, m) }, "PostEphemeral", m.Channel, user)
}

// bot.Channels.

// CreateChannel creates a channel unless its name is taken, rejected or
// longer than Slack's 80 characters.
func (c *Chat) CreateChannel(_ context.Context, name string) (bot.ChannelInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("CreateChannel", name); err != nil {
		return bot.ChannelInfo{}, err
	}
	if c.invalid[name] || len(name) > 80 {
		return bot.ChannelInfo{}, fmt.Errorf("create %q: %w", name, bot.ErrInvalidName)
	}
	if _, ok := c.names[name]; ok || c.taken[name] {
		return bot.ChannelInfo{}, fmt.Errorf("create %q: %w", name, bot.ErrNameTaken)
	}
	c.channels++
	id := fmt.Sprintf("CNEW%04d", c.channels)
	c.names[name] = id
	return bot.ChannelInfo{ID: id, Name: name}, nil
}

// Invite records users invited to channel.
func (c *Chat) Invite(_ context.Context, channel string, users ...string) error {
	return c.apply(func() { c.invites[channel] = append(c.invites[channel], users...) }, "Invite", channel, strings.Join(users, ","))
}

// SetTopic sets channel's topic.
func (c *Chat) SetTopic(_ context.Context, channel, topic string) error {
	return c.apply(func() { c.topics[channel] = topic }, "SetTopic", channel)
}

// SetPurpose sets channel's purpose.
func (c *Chat) SetPurpose(_ context.Context, channel, purpose string) error {
	return c.apply(func() { c.purposes[channel] = purpose }, "SetPurpose", channel)
}

// Archive records channel as archived.
func (c *Chat) Archive(_ context.Context, channel string) error {
	return c.apply(func() { c.archived = append(c.archived, channel) }, "Archive", channel)
}

// Pin records ref as pinned.
func (c *Chat) Pin(_ context.Context, ref bot.MessageRef) error {
	return c.apply(func() { c.pins = append(c.pins, ref) }, "Pin", ref.Channel, ref.TS)
}

// bot.Directory.

// User looks a person up by ID.
func (c *Chat) User(_ context.Context, id string) (bot.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("User", id); err != nil {
		return bot.User{}, err
	}
	if u, ok := c.users[id]; ok {
		return u, nil
	}
	return bot.User{}, fmt.Errorf("user %s: %w", id, bot.ErrNotFound)
}

// UserByEmail looks a person up by e-mail address, exactly as given.
func (c *Chat) UserByEmail(_ context.Context, email string) (bot.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("UserByEmail", email); err != nil {
		return bot.User{}, err
	}
	for _, u := range c.users {
		if u.Email != "" && u.Email == email {
			return u, nil
		}
	}
	return bot.User{}, bot.ErrNotFound
}

// UsergroupMembers lists a group's members; an unknown group has none.
func (c *Chat) UsergroupMembers(_ context.Context, group string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("UsergroupMembers", group); err != nil {
		return nil, err
	}
	return slices.Clone(c.groups[group]), nil
}

// SetUsergroupMembers replaces a group's members.
func (c *Chat) SetUsergroupMembers(_ context.Context, group string, users []string) error {
	return c.apply(func() { c.groups[group] = slices.Clone(users) }, "SetUsergroupMembers", group)
}

// bot.MessageReader.

// Message returns a message AddMessage stored.
func (c *Chat) Message(_ context.Context, ref bot.MessageRef) (bot.ChatMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("Message", ref.Channel, ref.TS); err != nil {
		return bot.ChatMessage{}, err
	}
	m, ok := c.said[ref]
	if !ok {
		return bot.ChatMessage{}, fmt.Errorf("message %s: %w", ref.TS, bot.ErrNotFound)
	}
	return m, nil
}

// Permalink returns a Slack-shaped link to ref.
func (c *Chat) Permalink(_ context.Context, ref bot.MessageRef) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("Permalink", ref.Channel, ref.TS); err != nil {
		return "", err
	}
	return "https://example.slack.com/archives/" + ref.Channel + "/p" + strings.ReplaceAll(ref.TS, ".", ""), nil
}

// FindPosted returns the first message this chat posted in channel (not
// in a thread, not deleted) whose metadata matches. Its timestamps are
// counters, not times, so since is not applied.
func (c *Chat) FindPosted(_ context.Context, channel string, _ time.Time, match bot.MessageMetadata) (bot.MessageRef, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record("FindPosted", channel, match.EventType); err != nil {
		return bot.MessageRef{}, false, err
	}
	for i := 1; i <= c.seq; i++ {
		ts := fmt.Sprintf("1700000000.%06d", i)
		m, ok := c.latest[ts]
		if !ok || c.where[ts] != channel || c.deleted[ts] || m.ThreadTS != "" || !metadataMatches(m.Metadata, match) {
			continue
		}
		return bot.MessageRef{Channel: channel, TS: ts}, true, nil
	}
	return bot.MessageRef{}, false, nil
}

func metadataMatches(m *bot.MessageMetadata, match bot.MessageMetadata) bool {
	if m == nil || m.EventType != match.EventType {
		return false
	}
	for k, v := range match.Payload {
		if m.Payload[k] != v {
			return false
		}
	}
	return true
}

// bot.Files and bot.Modals.

// Upload records f.
func (c *Chat) Upload(_ context.Context, f bot.File) error {
	return c.apply(func() { c.uploads = append(c.uploads, f) }, "Upload", f.Channel, f.Name)
}

// OpenModal records m as opened.
func (c *Chat) OpenModal(_ context.Context, triggerID string, m bot.Modal) error {
	return c.apply(func() { c.modals = append(c.modals, m) }, "OpenModal", triggerID)
}

// What the test reads back. Every method returns a copy.

// Calls returns every call so far as "Method detail…", in order.
func (c *Chat) Calls() []string {
	return cloneLocked(&c.mu, &c.calls)
}

// CallsMatching returns the calls that start with prefix ("User UALICE").
func (c *Chat) CallsMatching(prefix string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, call := range c.calls {
		if strings.HasPrefix(call, prefix) {
			out = append(out, call)
		}
	}
	return out
}

// Mutations returns the calls that change or show something in the
// workspace: every call but the directory and message lookups.
func (c *Chat) Mutations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, call := range c.calls {
		m, _, _ := strings.Cut(call, " ")
		switch m {
		case "User", "UserByEmail", "UsergroupMembers", "Message", "Permalink", "FindPosted":
		default:
			out = append(out, call)
		}
	}
	return out
}

// Posts returns every message posted, direct messages included, as posted.
func (c *Chat) Posts() []bot.Message {
	return cloneLocked(&c.mu, &c.posts)
}

// PostsIn returns the messages posted to channel (a user ID for DMs).
func (c *Chat) PostsIn(channel string) []bot.Message {
	return c.postsWhere(func(m bot.Message) bool { return m.Channel == channel })
}

// ChannelPosts returns the messages posted in channels, not in DMs.
func (c *Chat) ChannelPosts() []bot.Message {
	return c.postsWhere(func(m bot.Message) bool { return !isDM(m.Channel) })
}

// DMs returns the direct messages; Channel is the person's ID.
func (c *Chat) DMs() []bot.Message {
	return c.postsWhere(func(m bot.Message) bool { return isDM(m.Channel) })
}

func (c *Chat) postsWhere(keep func(bot.Message) bool) []bot.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []bot.Message
	for _, m := range c.posts {
		if keep(m) {
			out = append(out, m)
		}
	}
	return out
}

// Latest returns the message with timestamp ts as it stands now (posted,
// then edited); the zero Message when this chat never posted it.
func (c *Chat) Latest(ts string) bot.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest[ts]
}

// Updates returns every edit of the message with timestamp ts, in order.
func (c *Chat) Updates(ts string) []bot.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.updates[ts])
}

// AllUpdates returns every edit of any message, in order.
func (c *Chat) AllUpdates() []bot.Message {
	return cloneLocked(&c.mu, &c.edits)
}

// Ephemerals returns the ephemeral messages, in order.
func (c *Chat) Ephemerals() []bot.Message {
	return cloneLocked(&c.mu, &c.ephemeral)
}

// Invites returns everyone invited to channel, in order, repeats included.
func (c *Chat) Invites(channel string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.invites[channel])
}

// Topics returns each channel's topic.
func (c *Chat) Topics() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.topics)
}

// Purposes returns each channel's purpose.
func (c *Chat) Purposes() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.purposes)
}

// Pins returns the pinned messages, in order.
func (c *Chat) Pins() []bot.MessageRef {
	return cloneLocked(&c.mu, &c.pins)
}

// Archived returns the archived channels, in order.
func (c *Chat) Archived() []string {
	return cloneLocked(&c.mu, &c.archived)
}

// Uploads returns the uploaded files, in order.
func (c *Chat) Uploads() []bot.File {
	return cloneLocked(&c.mu, &c.uploads)
}

// Modals returns the forms opened, in order.
func (c *Chat) Modals() []bot.Modal {
	return cloneLocked(&c.mu, &c.modals)
}

// Group returns a user group's members now.
func (c *Chat) Group(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.groups[id])
}

// cloneLocked copies the slice *s under mu, so that the test reads a
// snapshot while the code under test goes on writing.
func cloneLocked[T any](mu *sync.Mutex, s *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(*s)
}
