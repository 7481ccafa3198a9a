package bot

import (
	"context"
	"fmt"
	"strings"
)

// Handler does the work of a command, a click, a modal or an event.
type Handler func(ctx context.Context, req *Request) (Response, error)

// Middleware wraps a Handler, e.g. to require admin rights.
type Middleware func(Handler) Handler

// Command is one subcommand of a slash command, declared as a value so that
// help, usage and authorization come from the same place as the behaviour.
type Command struct {
	// Name is the first word after the slash command, e.g. "declare".
	Name    string
	Aliases []string
	// Usage shows the arguments, e.g. "declare [sev1..sev4] TITLE…".
	Usage       string
	Description string
	// Examples are whole command lines, shown by `/family help NAME`.
	Examples   []string
	Middleware []Middleware
	Handler    Handler
}

// Family is a slash command and its subcommands, e.g. /incident.
type Family struct {
	// Name is the slash command, e.g. "/incident".
	Name        string
	Description string
	Commands    []Command
	// Default runs when the command has no text (e.g. /incident opens a
	// modal). Nil shows help.
	Default Handler
	// Fallback runs when the first word names no subcommand (e.g.
	// /oncall payments). Nil answers with usage.
	Fallback Handler
}

// Router maps requests to handlers. Routes are registered explicitly by the
// composition root; there are no init-time registries.
type Router struct {
	families map[string]*Family
	actions  map[string]Handler
	views    map[string]ViewRoute
	events   map[EventType][]Handler
}

// ViewRoute handles a modal submission. Validate runs before the envelope is
// acknowledged, so its field errors can be shown in the modal; it must be fast
// and do no I/O.
type ViewRoute struct {
	Validate func(v *ViewSubmission) map[string]string
	Handler  Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{
		families: map[string]*Family{},
		actions:  map[string]Handler{},
		views:    map[string]ViewRoute{},
		events:   map[EventType][]Handler{},
	}
}

// Family registers a slash command family. A second registration of the same
// name panics: that is a wiring bug, found at start.
func (r *Router) Family(f *Family) {
	if _, dup := r.families[f.Name]; dup {
		panic("bot: family registered twice: " + f.Name)
	}
	r.families[f.Name] = f
}

// Action registers the handler for clicks on buttons with this action ID.
func (r *Router) Action(id string, h Handler) {
	if _, dup := r.actions[id]; dup {
		panic("bot: action registered twice: " + id)
	}
	r.actions[id] = h
}

// View registers the handler for a modal callback ID.
func (r *Router) View(callbackID string, v ViewRoute) {
	if _, dup := r.views[callbackID]; dup {
		panic("bot: view registered twice: " + callbackID)
	}
	r.views[callbackID] = v
}

// Event registers a handler for an event type; several may listen.
func (r *Router) Event(t EventType, h Handler) { r.events[t] = append(r.events[t], h) }

// ValidateView runs the synchronous validation of a modal submission, if any.
func (r *Router) ValidateView(v *ViewSubmission) map[string]string {
	if route, ok := r.views[v.CallbackID]; ok && route.Validate != nil {
		return route.Validate(v)
	}
	return nil
}

// Route finds the handler for req and a label naming it for logs and metrics.
// Requests that name nothing registered get a handler answering with usage.
func (r *Router) Route(req *Request) (Handler, string) {
	switch req.Kind {
	case KindCommand:
		return r.routeCommand(req)
	case KindAction:
		if h, ok := r.actions[req.Action.ID]; ok {
			return h, "action:" + req.Action.ID
		}
		return replyHandler("That button is no longer supported."), "action:unknown"
	case KindView:
		if v, ok := r.views[req.View.CallbackID]; ok {
			return v.Handler, "view:" + req.View.CallbackID
		}
		return replyHandler("That form is no longer supported."), "view:unknown"
	case KindEvent:
		hs := r.events[req.Event.Type]
		return func(ctx context.Context, req *Request) (Response, error) {
			for _, h := range hs {
				if _, err := h(ctx, req); err != nil {
					return Response{}, err
				}
			}
			return Response{}, nil
		}, "event:" + string(req.Event.Type)
	}
	return replyHandler("Unsupported request."), "unknown"
}

func (r *Router) routeCommand(req *Request) (Handler, string) {
	f, ok := r.families[req.Command]
	if !ok {
		return replyHandler(fmt.Sprintf("I do not know the command %s.", req.Command)), "command:unknown"
	}
	args := req.Args()
	if len(args) == 0 {
		if f.Default != nil {
			return f.Default, f.Name
		}
		return replyHandler(f.Help()), f.Name + " help"
	}
	word := strings.ToLower(args[0])
	if word == "help" || word == "-h" || word == "--help" {
		if len(args) > 1 {
			if c := f.command(strings.ToLower(args[1])); c != nil {
				return replyHandler(f.CommandHelp(c)), f.Name + " help"
			}
		}
		return replyHandler(f.Help()), f.Name + " help"
	}
	if c := f.command(word); c != nil {
		h := c.Handler
		for j := len(c.Middleware) - 1; j >= 0; j-- {
			h = c.Middleware[j](h)
		}
		return h, f.Name + " " + c.Name
	}
	if f.Fallback != nil {
		return f.Fallback, f.Name
	}
	return replyHandler(fmt.Sprintf("I do not know `%s %s`.\n%s", f.Name, args[0], f.Help())), f.Name + " unknown"
}

// command returns the subcommand named word (or one of its aliases), or nil.
func (f *Family) command(word string) *Command {
	for i := range f.Commands {
		if f.Commands[i].matches(word) {
			return &f.Commands[i]
		}
	}
	return nil
}

func (c *Command) matches(word string) bool {
	if word == c.Name {
		return true
	}
	for _, a := range c.Aliases {
		if word == a {
			return true
		}
	}
	return false
}

// Help lists the family's subcommands with usage and descriptions.
func (f *Family) Help() string {
	var b strings.Builder
	if f.Description != "" {
		fmt.Fprintf(&b, "*%s* — %s\n", f.Name, f.Description)
	}
	for _, c := range f.Commands {
		fmt.Fprintf(&b, "• `%s %s` — %s\n", f.Name, c.Usage, c.Description)
	}
	fmt.Fprintf(&b, "• `%s help [COMMAND]` — this message, or one command in detail with examples", f.Name)
	return b.String()
}

// CommandHelp describes one subcommand: usage, description, aliases and
// examples.
func (f *Family) CommandHelp(c *Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "`%s %s` — %s", f.Name, c.Usage, c.Description)
	if len(c.Aliases) > 0 {
		fmt.Fprintf(&b, "\nAlso: `%s`", strings.Join(c.Aliases, "`, `"))
	}
	if len(c.Examples) > 0 {
		b.WriteString("\nExamples:")
		for _, e := range c.Examples {
			fmt.Fprintf(&b, "\n• `%s`", e)
		}
	}
	return b.String()
}

// CommandUsage is the usage line of one subcommand, for error replies.
func (f *Family) CommandUsage(name string) string {
	for _, c := range f.Commands {
		if c.Name == name {
			return fmt.Sprintf("Usage: `%s %s`", f.Name, c.Usage)
		}
	}
	return ""
}

func replyHandler(text string) Handler {
	return func(context.Context, *Request) (Response, error) { return Reply(text), nil }
}
