package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// Handler runs one request to completion; *bot.Engine's Handle fits.
type Handler interface {
	Handle(ctx context.Context, req *bot.Request)
}

// answerer answers requests that need no I/O at once, as the Slack listener
// does in the ack; *bot.Engine fits.
type answerer interface {
	Immediate(req *bot.Request) (bot.Immediate, bool)
	Answered(req *bot.Request, im bot.Immediate, took time.Duration)
}

// REPL reads what a person would type in Slack and feeds it to the bot.
type REPL struct {
	Workspace *Workspace
	Handler   Handler
	Clock     bot.Clock
	// User and Channel are the IDs the session starts as and in.
	User, Channel string
	Team          string
	// Prompt is shown before each line when the input is a terminal.
	Prompt bool
	// Commands are console commands the composition root adds (":alert"),
	// by name with the colon; Help lists their usage lines.
	Commands map[string]Command
	seq      int
}

// Command is a console command added by the composition root.
type Command struct {
	// Usage is its line in :help, e.g. ":alert fire|resolve [k=v …]  inject an alert".
	Usage string
	Run   func(ctx context.Context, arg string, out io.Writer)
}

// Help lists the console's own commands.
const Help = `Type what you would type in Slack:
  /incident declare sev2 checkout errors     slash commands (/incident, /oncall, /runbook, /alerts; "help" on each)
  any other text                             a message from you in the current channel
Console commands:
  :as NAME        act as another person (:users lists them)
  :in CHANNEL     move to a channel (:channels lists them)
  :react EMOJI    react to the newest message typed in this channel (e.g. :react pushpin)
  :unreact EMOJI  remove that reaction
  :click N        click button N of a message above
  :submit k=v …   submit the open modal (quote values with spaces: title="db down")
  :users, :channels, :help, :quit`

// Run reads lines from in until EOF, :quit or ctx ends.
func (r *REPL) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for {
		if r.Prompt {
			fmt.Fprintf(out, "%s@#%s> ", r.userName(), r.channelName())
		}
		if !sc.Scan() {
			return sc.Err()
		}
		if ctx.Err() != nil {
			return nil
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#!") {
			continue
		}
		if !r.Prompt {
			fmt.Fprintf(out, "%s@#%s> %s\n", r.userName(), r.channelName(), line)
		}
		if quit := r.line(ctx, line, out); quit {
			return nil
		}
	}
}

func (r *REPL) line(ctx context.Context, line string, out io.Writer) (quit bool) {
	switch {
	case strings.HasPrefix(line, "/"):
		cmd, text, _ := strings.Cut(line, " ")
		r.dispatch(ctx, &bot.Request{Kind: bot.KindCommand, Command: cmd, Text: r.escape(strings.TrimSpace(text))})
	case strings.HasPrefix(line, ":"):
		return r.console(ctx, line, out)
	default:
		if _, err := r.Workspace.Say(r.Channel, r.User, r.escape(line)); err != nil {
			fmt.Fprintf(out, "  ! %v\n", err)
		}
	}
	return false
}

func (r *REPL) console(ctx context.Context, line string, out io.Writer) (quit bool) {
	word, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch word {
	case ":quit", ":exit", ":q":
		return true
	case ":help":
		fmt.Fprintln(out, Help)
		for _, name := range sortedCommands(r.Commands) {
			fmt.Fprintf(out, "  %s\n", r.Commands[name].Usage)
		}
	case ":as":
		u, ok := r.Workspace.UserByName(arg)
		if !ok {
			fmt.Fprintf(out, "  ! no user %q (:users lists them)\n", arg)
			return false
		}
		r.User = u.ID
	case ":in":
		id, _, ok := r.Workspace.ChannelByName(arg)
		if !ok {
			fmt.Fprintf(out, "  ! no channel %q (:channels lists them)\n", arg)
			return false
		}
		r.Channel = id
	case ":users":
		for _, u := range r.Workspace.Users() {
			note := ""
			if u.IsRestricted || u.IsUltraRestricted {
				note = " (guest)"
			}
			fmt.Fprintf(out, "  @%s  %s  %s%s\n", u.Name, u.ID, u.Email, note)
		}
	case ":channels":
		for _, c := range r.Workspace.ChannelNames() {
			fmt.Fprintf(out, "  %s\n", c)
		}
	case ":react", ":unreact":
		ref, ok := r.Workspace.LastUserMessage(r.Channel)
		if !ok {
			fmt.Fprintln(out, "  ! nobody has typed a message in this channel yet")
			return false
		}
		typ := bot.EventReactionAdded
		if word == ":unreact" {
			typ = bot.EventReactionRemoved
		}
		msg, _ := r.Workspace.Message(ctx, ref)
		r.dispatch(ctx, &bot.Request{Kind: bot.KindEvent, Event: &bot.Event{
			Type: typ, Reaction: strings.Trim(arg, ":"), Item: ref, ItemUser: msg.User, Time: r.Clock.Now(),
		}})
	case ":click":
		n, err := strconv.Atoi(arg)
		b, ref, ok := r.Workspace.Button(n)
		if err != nil || !ok {
			fmt.Fprintf(out, "  ! no button %q\n", arg)
			return false
		}
		r.dispatch(ctx, &bot.Request{Kind: bot.KindAction, ChannelID: ref.Channel,
			Action: &bot.Action{ID: b.ID, Value: b.Value, Message: ref}})
	case ":submit":
		m, ok := r.Workspace.TakeModal()
		if !ok {
			fmt.Fprintln(out, "  ! no modal is open")
			return false
		}
		values := map[string]string{}
		for _, kv := range splitQuoted(arg) {
			k, v, _ := strings.Cut(kv, "=")
			values[k] = v
		}
		// A user picker hands the bot an ID, as Slack's does; a checkbox
		// "true" when ticked.
		for _, in := range m.Inputs {
			if u, ok := r.Workspace.UserByName(values[in.ID]); ok && in.Kind == bot.InputUser {
				values[in.ID] = u.ID
			}
			if in.Kind == bot.InputCheckbox {
				switch strings.ToLower(values[in.ID]) {
				case "true", "yes", "y", "1", "on", "x":
					values[in.ID] = "true"
				default:
					values[in.ID] = ""
				}
			}
		}
		v := &bot.ViewSubmission{CallbackID: m.CallbackID, PrivateMetadata: m.PrivateMetadata, Values: values}
		if errs := r.validate(v); len(errs) > 0 {
			for k, e := range errs {
				fmt.Fprintf(out, "  ! %s: %s\n", k, e)
			}
			r.Workspace.mu.Lock()
			r.Workspace.modal = &openModal{modal: m}
			r.Workspace.mu.Unlock()
			return false
		}
		r.dispatch(ctx, &bot.Request{Kind: bot.KindView, View: v})
	default:
		if c, ok := r.Commands[word]; ok && c.Run != nil {
			c.Run(ctx, arg, out)
			return false
		}
		fmt.Fprintf(out, "  ! unknown console command %s (:help)\n", word)
	}
	return false
}

func sortedCommands(m map[string]Command) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (r *REPL) validate(v *bot.ViewSubmission) map[string]string {
	if e, ok := r.Handler.(interface {
		ValidateView(*bot.ViewSubmission) map[string]string
	}); ok {
		return e.ValidateView(v)
	}
	return nil
}

func (r *REPL) dispatch(ctx context.Context, req *bot.Request) {
	r.seq++
	req.EnvelopeID = fmt.Sprintf("console-%d", r.seq)
	req.TriggerID = fmt.Sprintf("console-trigger-%d", r.seq)
	req.DedupeKey = req.TriggerID
	if req.Kind == bot.KindEvent {
		req.Event.ID = fmt.Sprintf("console-event-%d", r.seq)
		req.DedupeKey = req.Event.ID
	}
	req.UserID, req.TeamID, req.Received = r.User, r.Team, r.Clock.Now()
	if u, err := r.Workspace.User(ctx, r.User); err == nil {
		req.UserName = u.Name
	}
	if req.ChannelID == "" {
		req.ChannelID = r.Channel
	}
	_, req.ChannelName, _ = r.Workspace.ChannelByName(req.ChannelID)
	// The same answer Slack shows from the ack, marked as such.
	if a, ok := r.Handler.(answerer); ok {
		if im, ok := a.Immediate(req); ok {
			start := time.Now()
			r.Workspace.ackAnswer(req, im.Response)
			a.Answered(req, im, time.Since(start))
			return
		}
	}
	before := r.Workspace.MemberChannels(r.User)
	hctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	r.Handler.Handle(hctx, req)
	cancel()
	if id := r.Workspace.Joined(r.User, before); id != "" {
		r.Channel = id
		fmt.Fprintf(r.Workspace.out, "  (you are now in #%s)\n", r.channelName())
	}
}

func (r *REPL) userName() string {
	r.Workspace.mu.Lock()
	defer r.Workspace.mu.Unlock()
	return r.Workspace.userName(r.User)
}

func (r *REPL) channelName() string {
	_, name, ok := r.Workspace.ChannelByName(r.Channel)
	if !ok {
		return r.Channel
	}
	return name
}

var (
	atName   = regexp.MustCompile(`(^|\s)@([a-z0-9._-]+)`)
	hashName = regexp.MustCompile(`(^|\s)#([a-z0-9._-]+)`)
)

// escape does what the Slack client does for a command registered with
// should_escape: mentions of known people and channels become <@ID|name> and
// <#ID|name>. Unknown names stay as typed, so the bot's hint shows.
func (r *REPL) escape(s string) string {
	s = atName.ReplaceAllStringFunc(s, func(m string) string {
		sub := atName.FindStringSubmatch(m)
		if u, ok := r.Workspace.UserByName(sub[2]); ok {
			return sub[1] + "<@" + u.ID + "|" + u.Name + ">"
		}
		return m
	})
	return hashName.ReplaceAllStringFunc(s, func(m string) string {
		sub := hashName.FindStringSubmatch(m)
		if id, name, ok := r.Workspace.ChannelByName(sub[2]); ok {
			return sub[1] + "<#" + id + "|" + name + ">"
		}
		return m
	})
}

// splitQuoted splits on spaces, keeping "double quoted" runs together.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
