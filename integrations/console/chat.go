// Package console is opsbot's terminal front end: a chat workspace kept in
// memory that implements the same ports as the Slack integration (bot.Chat,
// bot.Responder) and prints, as readable text, everything the bot would post
// and where. Console mode runs the real dispatcher and command handlers on
// it, so a newcomer sees the whole product without Slack.
package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/opsbot/opsbot/bot"
)

// Workspace is the in-memory chat workspace.
type Workspace struct {
	mu       sync.Mutex
	out      io.Writer
	clock    bot.Clock
	team     string
	seq      int
	channels map[string]*channel
	users    map[string]bot.User
	groups   map[string]*group
	buttons  []buttonRef
	modal    *openModal
	// filesDir receives uploads that are not text; default a directory in
	// the system's temporary directory.
	filesDir string
}

type channel struct {
	id, name, topic, purpose string
	members                  map[string]bool
	archived, im             bool
	messages                 []*stored
	pins                     map[string]bool
}

type stored struct {
	ref     bot.MessageRef
	user    string
	text    string
	thread  string
	time    time.Time
	bot     bool
	meta    *bot.MessageMetadata
	deleted bool
}

type group struct {
	id, handle string
	members    []string
}

type buttonRef struct {
	button bot.Button
	ref    bot.MessageRef
}

type openModal struct {
	user  string
	modal bot.Modal
}

var _ bot.Chat = (*Workspace)(nil)
var _ bot.Responder = (*Workspace)(nil)

// NewWorkspace returns a workspace printing to out.
func NewWorkspace(out io.Writer, clock bot.Clock, team string) *Workspace {
	return &Workspace{
		out: &lockedWriter{w: out}, clock: clock, team: team,
		channels: map[string]*channel{},
		users:    map[string]bot.User{},
		groups:   map[string]*group{},
	}
}

// Output is the workspace's output. The REPL and console commands write
// through it too: the bot posts from background work (on-call handoffs,
// reminders) while the REPL echoes what was typed, and both reach one
// terminal.
func (w *Workspace) Output() io.Writer { return w.out }

// lockedWriter serialises writes from the workspace and the REPL.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// AddUser adds a person to the directory.
func (w *Workspace) AddUser(u bot.User) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if u.TeamID == "" {
		u.TeamID = w.team
	}
	w.users[u.ID] = u
}

// AddChannel adds an existing channel with the given members.
func (w *Workspace) AddChannel(id, name string, members ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := &channel{id: id, name: name, members: map[string]bool{}, pins: map[string]bool{}}
	for _, m := range members {
		c.members[m] = true
	}
	w.channels[id] = c
}

// AddUsergroup adds a user group.
func (w *Workspace) AddUsergroup(id, handle string, members ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.groups[id] = &group{id: id, handle: handle, members: members}
}

// UserByName finds a user by display name (console convenience only: the
// bot itself never resolves names).
func (w *Workspace) UserByName(name string) (bot.User, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	name = strings.TrimPrefix(strings.ToLower(name), "@")
	for _, u := range w.users {
		if strings.ToLower(u.Name) == name || strings.EqualFold(u.ID, name) {
			return u, true
		}
	}
	return bot.User{}, false
}

// ChannelByName finds a channel by name or ID.
func (w *Workspace) ChannelByName(name string) (string, string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	name = strings.TrimPrefix(name, "#")
	for _, c := range w.channels {
		if c.name == name || c.id == name {
			return c.id, c.name, true
		}
	}
	return "", "", false
}

// Users lists the directory, sorted by name.
func (w *Workspace) Users() []bot.User {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]bot.User, 0, len(w.users))
	for _, u := range w.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ChannelNames lists channels that are not DMs, sorted, with "(archived)".
func (w *Workspace) ChannelNames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.channels {
		if c.im {
			continue
		}
		s := "#" + c.name
		if c.topic != "" {
			s += " — " + c.topic
		}
		if c.archived {
			s += " (archived)"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (w *Workspace) nextTS() string {
	w.seq++
	return fmt.Sprintf("%d.%06d", w.clock.Now().Unix(), w.seq)
}

func (w *Workspace) channelLabel(id string) string {
	if c, ok := w.channels[id]; ok {
		if c.im {
			for m := range c.members {
				return "DM to @" + w.userName(m)
			}
		}
		return "#" + c.name
	}
	if u, ok := w.users[id]; ok {
		return "DM to @" + u.Name
	}
	return id
}

func (w *Workspace) userName(id string) string {
	if u, ok := w.users[id]; ok {
		return u.Name
	}
	return id
}

// resolve finds the channel a message goes to; a user ID opens a DM, as it
// does in Slack.
func (w *Workspace) resolve(id string) (*channel, error) {
	if c, ok := w.channels[id]; ok {
		if c.archived {
			return nil, fmt.Errorf("channel %s: is_archived", id)
		}
		return c, nil
	}
	if _, ok := w.users[id]; ok {
		c := &channel{id: "D" + id, name: "dm-" + w.userName(id), im: true, members: map[string]bool{id: true}, pins: map[string]bool{}}
		w.channels[id] = c
		return c, nil
	}
	return nil, fmt.Errorf("channel %s: channel_not_found", id)
}

// Post implements bot.Messenger.
func (w *Workspace) Post(_ context.Context, msg bot.Message) (bot.MessageRef, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := w.resolve(msg.Channel)
	if err != nil {
		return bot.MessageRef{}, err
	}
	ref := bot.MessageRef{Channel: c.id, TS: w.nextTS()}
	c.messages = append(c.messages, &stored{ref: ref, text: msg.Text, thread: msg.ThreadTS, time: w.clock.Now(), bot: true, meta: msg.Metadata})
	where := w.channelLabel(msg.Channel)
	if msg.ThreadTS != "" {
		where += " (thread " + msg.ThreadTS + ")"
	}
	w.print(where, ref, msg, "")
	return ref, nil
}

// Update implements bot.Messenger.
func (w *Workspace) Update(_ context.Context, ref bot.MessageRef, msg bot.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := w.resolve(ref.Channel)
	if err != nil {
		return err
	}
	for _, m := range c.messages {
		if m.ref.TS == ref.TS && !m.deleted {
			m.text = msg.Text
			if msg.Metadata != nil {
				m.meta = msg.Metadata
			}
			w.print(w.channelLabel(ref.Channel)+" (edited "+ref.TS+")", ref, msg, "")
			return nil
		}
	}
	return fmt.Errorf("update %s: message_not_found", ref.TS)
}

// Delete implements bot.Messenger.
func (w *Workspace) Delete(_ context.Context, ref bot.MessageRef) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.channels[ref.Channel]
	if !ok {
		return fmt.Errorf("delete %s: channel_not_found", ref.TS)
	}
	for _, m := range c.messages {
		if m.ref.TS == ref.TS && m.bot {
			if !m.deleted {
				m.deleted = true
				fmt.Fprintf(w.out, "  (message %s deleted in %s)\n", ref.TS, w.channelLabel(ref.Channel))
			}
			return nil
		}
	}
	return fmt.Errorf("delete %s: message_not_found", ref.TS)
}

// PostEphemeral implements bot.Messenger.
func (w *Workspace) PostEphemeral(_ context.Context, user string, msg bot.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.print(fmt.Sprintf("only @%s sees, in %s", w.userName(user), w.channelLabel(msg.Channel)), bot.MessageRef{Channel: msg.Channel}, msg, "")
	return nil
}

// ackAnswer shows an answer Slack would show from the command's ack.
func (w *Workspace) ackAnswer(req *bot.Request, resp bot.Response) {
	msg := resp.Message
	msg.Channel = req.ChannelID
	if resp.Visibility == bot.InChannel {
		_, _ = w.Post(context.Background(), msg)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.print(fmt.Sprintf("only @%s sees, in %s (answered in the ack)", w.userName(req.UserID), w.channelLabel(msg.Channel)),
		bot.MessageRef{Channel: msg.Channel}, msg, "")
}

// Respond implements bot.Responder.
func (w *Workspace) Respond(ctx context.Context, req *bot.Request, resp bot.Response) error {
	msg := resp.Message
	if msg.Channel == "" {
		msg.Channel = req.ChannelID
	}
	switch {
	case resp.ReplaceOriginal && req.Action != nil:
		return w.Update(ctx, req.Action.Message, msg)
	case resp.Visibility == bot.InChannel:
		_, err := w.Post(ctx, msg)
		return err
	default:
		return w.PostEphemeral(ctx, req.UserID, msg)
	}
}

// CreateChannel implements bot.Channels.
func (w *Workspace) CreateChannel(_ context.Context, name string) (bot.ChannelInfo, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if name == "" || len(name) > 80 || strings.ToLower(name) != name || strings.ContainsAny(name, " .#@") {
		return bot.ChannelInfo{}, fmt.Errorf("create %q: %w", name, bot.ErrInvalidName)
	}
	for _, c := range w.channels {
		if c.name == name {
			return bot.ChannelInfo{}, fmt.Errorf("create %q: %w", name, bot.ErrNameTaken)
		}
	}
	id := fmt.Sprintf("C%07d", len(w.channels)+1)
	w.channels[id] = &channel{id: id, name: name, members: map[string]bool{}, pins: map[string]bool{}}
	fmt.Fprintf(w.out, "  ⚙ created channel #%s (%s)\n", name, id)
	return bot.ChannelInfo{ID: id, Name: name}, nil
}

// Invite implements bot.Channels.
func (w *Workspace) Invite(_ context.Context, ch string, users ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := w.resolve(ch)
	if err != nil {
		return err
	}
	var added []string
	for _, u := range users {
		if _, ok := w.users[u]; !ok {
			return fmt.Errorf("invite %s: user_not_found", u)
		}
		if !c.members[u] {
			c.members[u] = true
			added = append(added, "@"+w.userName(u))
		}
	}
	if len(added) > 0 {
		sort.Strings(added)
		fmt.Fprintf(w.out, "  ⚙ invited %s to #%s\n", strings.Join(added, ", "), c.name)
	}
	return nil
}

// Joined returns a channel user is in that is not in known: the channel the
// bot just invited them to, which the REPL follows.
func (w *Workspace) Joined(user string, known map[string]bool) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.channels {
		if !c.im && c.members[user] && !known[c.id] && !c.archived {
			return c.id
		}
	}
	return ""
}

// MemberChannels lists the IDs of channels user is in.
func (w *Workspace) MemberChannels(user string) map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]bool{}
	for _, c := range w.channels {
		if c.members[user] {
			out[c.id] = true
		}
	}
	return out
}

// SetTopic implements bot.Channels.
func (w *Workspace) SetTopic(_ context.Context, ch, topic string) error {
	return w.setText(ch, func(c *channel) { c.topic = topic }, "topic", topic)
}

// SetPurpose implements bot.Channels.
func (w *Workspace) SetPurpose(_ context.Context, ch, purpose string) error {
	return w.setText(ch, func(c *channel) { c.purpose = purpose }, "purpose", purpose)
}

func (w *Workspace) setText(ch string, set func(*channel), what, text string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := w.resolve(ch)
	if err != nil {
		return err
	}
	set(c)
	fmt.Fprintf(w.out, "  ⚙ #%s %s: %s\n", c.name, what, w.humanize(text))
	return nil
}

// Archive implements bot.Channels.
func (w *Workspace) Archive(_ context.Context, ch string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := w.resolve(ch)
	if err != nil {
		return err
	}
	c.archived = true
	fmt.Fprintf(w.out, "  ⚙ archived #%s\n", c.name)
	return nil
}

// Pin implements bot.Channels.
func (w *Workspace) Pin(_ context.Context, ref bot.MessageRef) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := w.resolve(ref.Channel)
	if err != nil {
		return err
	}
	c.pins[ref.TS] = true
	fmt.Fprintf(w.out, "  ⚙ pinned message %s in #%s\n", ref.TS, c.name)
	return nil
}

// User implements bot.Directory.
func (w *Workspace) User(_ context.Context, id string) (bot.User, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if u, ok := w.users[id]; ok {
		return u, nil
	}
	return bot.User{}, fmt.Errorf("user %s: %w", id, bot.ErrNotFound)
}

// UserByEmail implements bot.Directory.
func (w *Workspace) UserByEmail(_ context.Context, email string) (bot.User, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range w.users {
		if u.Email != "" && strings.EqualFold(u.Email, email) {
			return u, nil
		}
	}
	return bot.User{}, fmt.Errorf("user by e-mail: %w", bot.ErrNotFound)
}

// UsergroupMembers implements bot.Directory.
func (w *Workspace) UsergroupMembers(_ context.Context, id string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, ok := w.groups[id]
	if !ok {
		return nil, fmt.Errorf("usergroup %s: no_such_subteam", id)
	}
	return append([]string(nil), g.members...), nil
}

// SetUsergroupMembers implements bot.Directory.
func (w *Workspace) SetUsergroupMembers(_ context.Context, id string, users []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, ok := w.groups[id]
	if !ok {
		return fmt.Errorf("usergroup %s: no_such_subteam", id)
	}
	g.members = append([]string(nil), users...)
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = "@" + w.userName(u)
	}
	fmt.Fprintf(w.out, "  ⚙ user group @%s is now: %s\n", g.handle, strings.Join(names, ", "))
	return nil
}

// Say stores a message typed by a person and returns its reference.
func (w *Workspace) Say(ch, user, text string) (bot.MessageRef, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := w.resolve(ch)
	if err != nil {
		return bot.MessageRef{}, err
	}
	ref := bot.MessageRef{Channel: c.id, TS: w.nextTS()}
	c.messages = append(c.messages, &stored{ref: ref, user: user, text: text, time: w.clock.Now()})
	fmt.Fprintf(w.out, "  (message %s posted in #%s)\n", ref.TS, c.name)
	return ref, nil
}

// LastUserMessage returns the newest message a person typed in ch.
func (w *Workspace) LastUserMessage(ch string) (bot.MessageRef, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.channels[ch]
	if !ok {
		return bot.MessageRef{}, false
	}
	for i := len(c.messages) - 1; i >= 0; i-- {
		if !c.messages[i].bot {
			return c.messages[i].ref, true
		}
	}
	return bot.MessageRef{}, false
}

// Message implements bot.MessageReader.
func (w *Workspace) Message(_ context.Context, ref bot.MessageRef) (bot.ChatMessage, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.channels[ref.Channel]
	if !ok {
		return bot.ChatMessage{}, fmt.Errorf("message %s: channel_not_found", ref.TS)
	}
	for _, m := range c.messages {
		if m.ref.TS == ref.TS {
			return bot.ChatMessage{Ref: m.ref, User: m.user, Text: m.text, Time: m.time, ThreadTS: m.thread}, nil
		}
	}
	return bot.ChatMessage{}, fmt.Errorf("message %s: %w", ref.TS, bot.ErrNotFound)
}

// FindPosted implements bot.MessageReader over the messages the bot posted
// in this session.
func (w *Workspace) FindPosted(_ context.Context, channel string, since time.Time, match bot.MessageMetadata) (bot.MessageRef, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.channels[channel]
	if !ok {
		return bot.MessageRef{}, false, fmt.Errorf("find messages in %s: channel_not_found: %w", channel, bot.ErrRequestRefused)
	}
	for _, m := range c.messages {
		if !m.bot || m.deleted || m.thread != "" || m.time.Before(since) || m.meta == nil || m.meta.EventType != match.EventType {
			continue
		}
		matches := true
		for k, v := range match.Payload {
			matches = matches && m.meta.Payload[k] == v
		}
		if matches {
			return m.ref, true, nil
		}
	}
	return bot.MessageRef{}, false, nil
}

// Permalink implements bot.MessageReader.
func (w *Workspace) Permalink(_ context.Context, ref bot.MessageRef) (string, error) {
	return fmt.Sprintf("console://%s/p%s", ref.Channel, strings.ReplaceAll(ref.TS, ".", "")), nil
}

// Upload implements bot.Files: console mode prints a text document, and
// writes anything else (a chart) to a file in FilesDir whose path it prints.
func (w *Workspace) Upload(_ context.Context, f bot.File) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.out, "→ %s: uploaded file %q (%d bytes)\n", w.channelLabel(f.Channel), f.Name, len(f.Content))
	if f.Comment != "" {
		fmt.Fprintf(w.out, "  %s\n", w.humanize(f.Comment))
	}
	if isText(f.Content) {
		fmt.Fprintln(w.out, indent(string(f.Content), "  │ "))
		return nil
	}
	dir := w.filesDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "opsbot-console")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("upload %s: %w", f.Name, err)
	}
	// The name is the bot's, but keep it to one plain path element anyway.
	name := filepath.Base(filepath.Clean("/" + f.Name))
	w.seq++
	path := filepath.Join(dir, fmt.Sprintf("%03d-%s", w.seq, name))
	if err := os.WriteFile(path, f.Content, 0o600); err != nil {
		return fmt.Errorf("upload %s: %w", f.Name, err)
	}
	fmt.Fprintf(w.out, "  🖼 %s written to %s\n", http.DetectContentType(f.Content), path)
	return nil
}

// SetFilesDir sets where uploaded files that are not text are written.
func (w *Workspace) SetFilesDir(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.filesDir = dir
}

// isText says whether an upload is text to print rather than a file to
// write.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	ct := http.DetectContentType(b)
	return strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "application/json")
}

// OpenModal implements bot.Modals: the form is printed and filled with :submit.
func (w *Workspace) OpenModal(_ context.Context, triggerID string, m bot.Modal) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.modal = &openModal{user: triggerID, modal: m}
	fmt.Fprintf(w.out, "→ modal %q opened. Fill it with :submit", m.Title)
	for _, in := range m.Inputs {
		fmt.Fprintf(w.out, " %s=…", in.ID)
	}
	fmt.Fprintln(w.out)
	for _, in := range m.Inputs {
		opt := ""
		if in.Optional {
			opt = " (optional)"
		}
		if len(in.Options) > 0 {
			opt += " one of: " + strings.Join(in.Options, ", ")
		}
		if in.Kind == bot.InputUser {
			opt += " a person, e.g. @bob"
		}
		if in.Kind == bot.InputCheckbox {
			opt += " yes to tick"
		}
		fmt.Fprintf(w.out, "  %s — %s%s\n", in.ID, in.Label, opt)
	}
	return nil
}

// TakeModal returns the open modal, if any, and closes it.
func (w *Workspace) TakeModal() (bot.Modal, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.modal == nil {
		return bot.Modal{}, false
	}
	m := w.modal.modal
	w.modal = nil
	return m, true
}

// Button returns numbered button n (as printed) and the message holding it.
func (w *Workspace) Button(n int) (bot.Button, bot.MessageRef, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n < 1 || n > len(w.buttons) {
		return bot.Button{}, bot.MessageRef{}, false
	}
	b := w.buttons[n-1]
	return b.button, b.ref, true
}

var (
	userRef    = regexp.MustCompile(`<@([UW][A-Z0-9]+)(\|[^>]*)?>`)
	channelRef = regexp.MustCompile(`<#([CDG][A-Z0-9]+)(\|[^>]*)?>`)
	groupRef   = regexp.MustCompile(`<!subteam\^([A-Z0-9]+)(\|[^>]*)?>`)
	linkRef    = regexp.MustCompile(`<((?:https?|console)://[^|>]+)\|([^>]+)>`)
)

// humanize shows Slack's markup as a person would see it in Slack: <@U0BOB>
// as @bob, <#C1> as #name, dates as their fallback text; w.mu is held.
func (w *Workspace) humanize(s string) string {
	s = userRef.ReplaceAllStringFunc(s, func(m string) string {
		return "@" + w.userName(userRef.FindStringSubmatch(m)[1])
	})
	s = channelRef.ReplaceAllStringFunc(s, func(m string) string {
		id := channelRef.FindStringSubmatch(m)[1]
		if c, ok := w.channels[id]; ok {
			return "#" + c.name
		}
		return "#" + id
	})
	s = groupRef.ReplaceAllStringFunc(s, func(m string) string {
		id := groupRef.FindStringSubmatch(m)[1]
		if g, ok := w.groups[id]; ok {
			return "@" + g.handle
		}
		return "@" + id
	})
	// Dates show their fallback: the terminal has no reader's zone to
	// render them in.
	return linkRef.ReplaceAllString(bot.DateFallbacks(s), "$2 ($1)")
}

// print writes a message as text; w.mu is held.
func (w *Workspace) print(where string, ref bot.MessageRef, msg bot.Message, _ string) {
	var b strings.Builder
	defer func() { io.WriteString(w.out, w.humanize(b.String())) }()
	fmt.Fprintf(&b, "→ %s:\n", where)
	if msg.Title != "" {
		fmt.Fprintf(&b, "  ▌%s\n", msg.Title)
	}
	if msg.Text != "" {
		b.WriteString(indent(msg.Text, "  ") + "\n")
	}
	for _, f := range msg.Fields {
		fmt.Fprintf(&b, "  %s: %s\n", f.Label, f.Value)
	}
	if msg.Code != "" {
		b.WriteString(indent(msg.Code, "  │ ") + "\n")
	}
	if len(msg.Buttons) > 0 {
		b.WriteString(" ")
		for _, bt := range msg.Buttons {
			w.buttons = append(w.buttons, buttonRef{button: bt, ref: ref})
			fmt.Fprintf(&b, " [%d %s]", len(w.buttons), bt.Text)
		}
		b.WriteString("   (click with :click N)\n")
	}
	if msg.Context != "" {
		b.WriteString(indent(msg.Context, "  ‧ ") + "\n")
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
