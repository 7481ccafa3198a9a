package fakeslack

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// User is a member of the fake workspace.
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
	Deleted           bool
	// TZ is the user's IANA time zone as users.info reports it (default
	// UTC).
	TZ string
}

// Channel is a conversation as the fake holds it.
type Channel struct {
	ID        string
	Name      string
	Topic     string
	Purpose   string
	Members   []string
	Archived  bool
	IsPrivate bool
	// IsIM is a direct message channel between the bot and one user.
	IsIM    bool
	Created time.Time
	// Pins are the timestamps of pinned messages, in pin order.
	Pins []string
}

// Message is a message posted in a channel (or thread), by the bot or added
// with AddMessage.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	User     string
	// BotID is set on messages the bot posted.
	BotID  string
	Text   string
	Blocks json.RawMessage
	// Replies counts thread replies, on a thread's parent.
	Replies int
	Edited  bool
	Deleted bool
	Files   []string
	// Metadata is the message metadata the bot posted it with (or set in
	// an edit); nil for none.
	Metadata *Metadata
}

// Metadata is a message's metadata as chat.postMessage takes it.
type Metadata struct {
	EventType string
	// Payload is event_payload as the client sent it.
	Payload json.RawMessage
}

// Rendered is the message's text followed by every text inside its blocks,
// one per line, for assertions that should not depend on the block layout.
func (m Message) Rendered() string { return render(m.Text, m.Blocks) }

// Ephemeral is a message only one user saw: posted with chat.postEphemeral,
// through a response URL with response_type ephemeral, or sent in the ack of
// the user's slash command.
type Ephemeral struct {
	Channel  string
	User     string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	// Via is "chat.postEphemeral", "response_url" or "ack".
	Via string
	// Time is when the fake received it.
	Time time.Time
}

// Rendered is like Message.Rendered.
func (e Ephemeral) Rendered() string { return render(e.Text, e.Blocks) }

// View is a modal opened with views.open.
type View struct {
	ID              string
	TriggerID       string
	CallbackID      string
	PrivateMetadata string
	Title           string
	// JSON is the view as the client sent it.
	JSON json.RawMessage
}

// File is a file uploaded through the external upload flow.
type File struct {
	ID       string
	Name     string
	Title    string
	Content  []byte
	Channel  string
	ThreadTS string
	Comment  string
	// Shared is set once files.completeUploadExternal shared it.
	Shared bool
}

// Usergroup is a user group (subteam).
type Usergroup struct {
	ID     string
	Handle string
	Name   string
	Users  []string
}

type channelState struct {
	Channel
	messages []*Message
}

type responseTarget struct {
	channel   string
	user      string
	messageTS string
}

// AddUser adds (or replaces) a user. TeamID defaults to TeamID.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUserLocked(u)
	s.notifyLocked()
}

func (s *Server) addUserLocked(u User) {
	if u.TeamID == "" {
		u.TeamID = TeamID
	}
	if _, ok := s.users[u.ID]; !ok {
		s.userOrder = append(s.userOrder, u.ID)
	}
	s.users[u.ID] = &u
}

// AddChannel creates a public channel with the bot and members in it and
// returns its ID.
func (s *Server) AddChannel(name string, members ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.newChannelLocked(name, "")
	for _, m := range members {
		if !contains(c.Members, m) {
			c.Members = append(c.Members, m)
		}
	}
	s.notifyLocked()
	return c.ID
}

func (s *Server) newChannelLocked(name, id string) *channelState {
	if id == "" {
		id = s.nextIDLocked("C")
	}
	c := &channelState{Channel: Channel{ID: id, Name: name, Members: []string{BotUserID}, Created: time.Now().UTC()}}
	s.channels[id] = c
	s.chanOrder = append(s.chanOrder, id)
	return c
}

// AddUsergroup creates a user group with users and returns its ID.
func (s *Server) AddUsergroup(handle string, users ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextIDLocked("S")
	s.usergroups[id] = &Usergroup{ID: id, Handle: handle, Name: handle, Users: append([]string{}, users...)}
	s.ugOrder = append(s.ugOrder, id)
	s.notifyLocked()
	return id
}

// AddMessage posts a message as user (a person, not the bot), in a thread
// when threadTS is set, and returns its ts. It sends no event.
func (s *Server) AddMessage(channel, user, text, threadTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.channels[channel]
	if !ok {
		c = s.newChannelLocked(strings.ToLower(channel), channel)
	}
	m := s.appendMessageLocked(c, &Message{User: user, Text: text, ThreadTS: threadTS})
	s.notifyLocked()
	return m.TS
}

// AddBotMessage posts m as another app would (m.BotID set to that app's
// bot, m.Metadata as it posted it) and returns its ts. It sends no event.
func (s *Server) AddBotMessage(channel string, m Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.channels[channel]
	if !ok {
		c = s.newChannelLocked(strings.ToLower(channel), channel)
	}
	m.TS, m.Replies, m.Edited, m.Deleted = "", 0, false, false
	out := s.appendMessageLocked(c, &m)
	s.notifyLocked()
	return out.TS
}

func (s *Server) appendMessageLocked(c *channelState, m *Message) *Message {
	m.Channel = c.ID
	m.TS = s.nextTSLocked()
	if m.ThreadTS != "" {
		parent := c.find(m.ThreadTS)
		switch {
		case parent == nil:
			// Slack posts the reply at top level when the parent is gone.
			m.ThreadTS = ""
		case parent.ThreadTS != "" && parent.ThreadTS != parent.TS:
			m.ThreadTS = parent.ThreadTS
			if root := c.find(parent.ThreadTS); root != nil {
				root.Replies++
			}
		default:
			parent.ThreadTS = parent.TS
			parent.Replies++
		}
	}
	c.messages = append(c.messages, m)
	return m
}

func (c *channelState) find(ts string) *Message {
	for _, m := range c.messages {
		if m.TS == ts && !m.Deleted {
			return m
		}
	}
	return nil
}

// isReply reports whether m is a thread reply rather than a top-level message.
func (m *Message) isReply() bool { return m.ThreadTS != "" && m.ThreadTS != m.TS }

// Channel returns a channel by ID.
func (s *Server) Channel(id string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.channels[id]
	if !ok {
		return Channel{}, false
	}
	return c.snapshot(), true
}

// ChannelByName returns a channel by name.
func (s *Server) ChannelByName(name string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.byNameLocked(name); c != nil {
		return c.snapshot(), true
	}
	return Channel{}, false
}

// Channels lists channels in creation order.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, 0, len(s.chanOrder))
	for _, id := range s.chanOrder {
		out = append(out, s.channels[id].snapshot())
	}
	return out
}

func (s *Server) byNameLocked(name string) *channelState {
	for _, id := range s.chanOrder {
		if c := s.channels[id]; c.Name == name && !c.IsIM {
			return c
		}
	}
	return nil
}

func (c *channelState) snapshot() Channel {
	out := c.Channel
	out.Members = append([]string{}, c.Members...)
	out.Pins = append([]string{}, c.Pins...)
	return out
}

// Topic returns a channel's topic.
func (s *Server) Topic(channel string) string { c, _ := s.Channel(channel); return c.Topic }

// Members returns a channel's members.
func (s *Server) Members(channel string) []string { c, _ := s.Channel(channel); return c.Members }

// Pins returns the timestamps of a channel's pinned messages.
func (s *Server) Pins(channel string) []string { c, _ := s.Channel(channel); return c.Pins }

// DMChannel returns the ID of the bot's direct message channel with user,
// if the bot has written to them.
func (s *Server) DMChannel(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.dms[user]
	return id, ok
}

// Messages returns a channel's messages (thread replies included) in the
// order they were posted. Deleted messages are left out.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.channels[channel]
	if !ok {
		return nil
	}
	out := []Message{}
	for _, m := range c.messages {
		if !m.Deleted {
			out = append(out, *m)
		}
	}
	return out
}

// Message returns one message by channel and ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.channels[channel]; ok {
		if m := c.find(ts); m != nil {
			return *m, true
		}
	}
	return Message{}, false
}

// Ephemerals returns what user saw privately in channel ("" for every
// channel), in order.
func (s *Server) Ephemerals(channel, user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Ephemeral{}
	for _, e := range s.ephemerals {
		if (channel == "" || e.Channel == channel) && (user == "" || e.User == user) {
			out = append(out, e)
		}
	}
	return out
}

// UsergroupMembers returns a user group's members.
func (s *Server) UsergroupMembers(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.usergroups[id]; ok {
		return append([]string{}, g.Users...)
	}
	return nil
}

// Views returns the modals opened, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View{}, s.views...)
}

// Files returns the uploaded files, in upload order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, 0, len(s.fileOrder))
	for _, id := range s.fileOrder {
		f := *s.files[id]
		f.Content = append([]byte{}, f.Content...)
		out = append(out, f)
	}
	return out
}

// render collects text and every "text" string inside blocks.
func render(text string, blocks json.RawMessage) string {
	parts := []string{}
	if text != "" {
		parts = append(parts, text)
	}
	if len(blocks) > 0 {
		var v any
		if json.Unmarshal(blocks, &v) == nil {
			collectText(v, &parts)
		}
	}
	return strings.Join(parts, "\n")
}

func collectText(v any, out *[]string) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		// Block order matters, key order does not: sort keys so the
		// output is stable.
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := t[k].(string); ok && k == "text" {
				*out = append(*out, s)
				continue
			}
			collectText(t[k], out)
		}
	case []any:
		for _, x := range t {
			collectText(x, out)
		}
	}
}
