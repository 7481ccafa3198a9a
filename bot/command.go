package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Handler does the work of a command, a click, a modal or an event.
type Handler func(ctx context.Context, req *Request) (Response, error)

// Middleware wraps a Handler, e.g. to require admin rights.
type Middleware func(Handler) Handler

// Command is one subcommand of a slash command, declared as a value so that
// help, usage, argument checks and authorization come from the same place as
// the behaviour.
type Command struct {
	// Name is the first word after the slash command, e.g. "declare".
	Name    string
	Aliases []string
	// Usage shows the arguments, e.g. "declare [sev1..sev4] TITLE…".
	Usage       string
	Description string
	// Examples are whole command lines, shown by `/family help NAME`.
	Examples []string
	// Parse, when set, checks what was typed after Name before anything
	// else runs, and returns the value the handler works on (see
	// WithParsed) or a user error (Userf) saying what is wrong. It must do
	// no I/O and read no clock: it sees only the typed input, so the front
	// end can answer its errors at once, over Slack in the envelope's ack,
	// without a worker, a Web API call or a trip to Redis. Middleware and
	// Handler run only when it succeeds. Nil leaves the checks to Handler.
	Parse      func(in Args) (any, error)
	Middleware []Middleware
	Handler    Handler
}

// Args is what a person typed after a subcommand's name (for a family's
// FallbackParse, everything they typed), as Command.Parse sees it.
type Args struct {
	// Words are the arguments split on white space.
	Words []string
	// Text is the same input as typed, trimmed, with its inner spacing and
	// line breaks (a note, an update).
	Text string
}

// Parser adapts a typed parse function to Command.Parse.
func Parser[T any](parse func(in Args) (T, error)) func(Args) (any, error) {
	return func(in Args) (any, error) { return parse(in) }
}

// WithParsed adapts a handler of a command with Parse: it receives the
// parsed value instead of re-reading the text.
func WithParsed[T any](h func(ctx context.Context, req *Request, args T) (Response, error)) Handler {
	return func(ctx context.Context, req *Request) (Response, error) {
		args, ok := req.Parsed.(T)
		if !ok {
			var want T
			return Response{}, fmt.Errorf("bot: handler wants %T arguments, the request carries %T (is Parse set?)", want, req.Parsed)
		}
		return h(ctx, req, args)
	}
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
	// FallbackParse checks the input of Fallback as Command.Parse does for
	// a subcommand (its Args hold every word typed).
	FallbackParse func(in Args) (any, error)
}

// Router maps requests to handlers. Routes are registered explicitly by the
// composition root; there are no init-time registries.
type Router struct {
	families map[string]*Family
	// help is each family's help text, built once: families do not change
	// after registration, and help is the most frequent request.
	help    map[string]string
	actions map[string]Handler
	views   map[string]ViewRoute
	events  map[EventType][]Handler
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
		help:     map[string]string{},
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
	r.help[f.Name] = f.Help()
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
	rc := r.resolveCommand(req)
	if rc.answer != nil {
		resp, err := *rc.answer, rc.err
		return func(context.Context, *Request) (Response, error) { return resp, err }, rc.label
	}
	h := rc.handler
	if parse := rc.parse; parse != nil {
		next := h
		// Parsed here, inside the handler, when the front end has not
		// parsed already: the engine recovers a panicking Parse as it does
		// a panicking handler.
		h = func(ctx context.Context, req *Request) (Response, error) {
			if !req.parsed {
				v, err := parse(rc.input)
				if err != nil {
					return Response{}, err
				}
				req.Parsed, req.parsed = v, true
			}
			return next(ctx, req)
		}
	}
	return h, rc.label
}

// resolved is where a slash command goes: an answer known without running
// anything (help, usage), or a handler with the parse step it needs first.
type resolved struct {
	label   string
	answer  *Response
	err     error
	handler Handler
	parse   func(Args) (any, error)
	input   Args
}

func answered(resp Response, label string) resolved { return resolved{label: label, answer: &resp} }

func (r *Router) resolveCommand(req *Request) resolved {
	f, ok := r.families[req.Command]
	if !ok {
		return answered(Reply(fmt.Sprintf("I do not know the command %s.", req.Command)), "command:unknown")
	}
	args := req.Args()
	if len(args) == 0 {
		if f.Default != nil {
			return resolved{label: f.Name, handler: f.Default}
		}
		return answered(Reply(r.help[f.Name]), f.Name+" help")
	}
	word := strings.ToLower(args[0])
	if word == "help" || word == "-h" || word == "--help" {
		if len(args) > 1 {
			if c := f.command(strings.ToLower(args[1])); c != nil {
				return answered(Reply(f.CommandHelp(c)), f.Name+" help")
			}
		}
		return answered(Reply(r.help[f.Name]), f.Name+" help")
	}
	if c := f.command(word); c != nil {
		h := c.Handler
		for j := len(c.Middleware) - 1; j >= 0; j-- {
			h = c.Middleware[j](h)
		}
		return resolved{label: f.Name + " " + c.Name, handler: h, parse: c.Parse,
			input: Args{Words: args[1:], Text: afterFirstWord(req.Text)}}
	}
	if f.Fallback != nil {
		return resolved{label: f.Name, handler: f.Fallback, parse: f.FallbackParse,
			input: Args{Words: args, Text: strings.TrimSpace(req.Text)}}
	}
	return answered(Reply(fmt.Sprintf("I do not know `%s %s`.\n%s", f.Name, args[0], r.help[f.Name])), f.Name+" unknown")
}

// Immediate is the answer to a request that needs no I/O, for the front end
// to deliver at once (Slack: in the envelope's ack).
type Immediate struct {
	Response Response
	// Route labels the request for logs and metrics, as Route does.
	Route string
	// Err is the user error the answer reports, if it is one.
	Err error
}

// Immediate answers req when that needs no I/O: help, usage, an unknown
// subcommand, and the user errors of a command's Parse. Otherwise ok is
// false; what Parse returned is then kept in req, so the handler does not
// parse again. Only slash commands are answered here: clicks, forms and
// events always need their handlers.
func (r *Router) Immediate(req *Request) (im Immediate, ok bool) {
	if req.Kind != KindCommand {
		return Immediate{}, false
	}
	rc := r.resolveCommand(req)
	if rc.answer != nil {
		return Immediate{Response: *rc.answer, Route: rc.label, Err: rc.err}, true
	}
	if rc.parse == nil || req.parsed {
		return Immediate{}, false
	}
	v, err, panicked := safeParse(rc.parse, rc.input)
	var ue *UserError
	switch {
	case panicked:
		// Left to the engine, which recovers, logs and answers it.
		return Immediate{}, false
	case err == nil:
		req.Parsed, req.parsed = v, true
		return Immediate{}, false
	case errors.As(err, &ue):
		return Immediate{Response: Reply(ue.Msg), Route: rc.label, Err: err}, true
	default:
		// Not a user error: a bug or a misconfiguration, which the engine
		// logs and answers with a reference.
		return Immediate{}, false
	}
}

func safeParse(parse func(Args) (any, error), in Args) (v any, err error, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			v, err, panicked = nil, nil, true
		}
	}()
	v, err = parse(in)
	return v, err, false
}

// afterFirstWord is text without its first word, trimmed, keeping inner
// spacing and line breaks.
func afterFirstWord(text string) string {
	t := strings.TrimSpace(text)
	if i := strings.IndexAny(t, " \t\n"); i >= 0 {
		return strings.TrimSpace(t[i:])
	}
	return ""
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
