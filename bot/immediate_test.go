package bot

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countFamily has a command whose Parse counts its calls and a handler that
// counts its runs, to show what runs where.
type countFamily struct {
	parses, runs, fallbacks atomic.Int32
}

func (c *countFamily) family() *Family {
	return &Family{Name: "/count", Description: "counts", Commands: []Command{{
		Name: "add", Usage: "add N [NOTE…]", Description: "add N",
		Parse: Parser(func(in Args) (addArgs, error) {
			c.parses.Add(1)
			if len(in.Words) == 0 {
				return addArgs{}, Userf("Name a number. Usage: `/count add N`")
			}
			n, err := strconv.Atoi(in.Words[0])
			if err != nil {
				return addArgs{}, Userf("`%s` is not a number.", in.Words[0])
			}
			if n == 13 {
				return addArgs{}, errors.New("unlucky parser bug")
			}
			if n == 666 {
				panic("parser panic")
			}
			note := strings.TrimSpace(strings.TrimPrefix(in.Text, in.Words[0]))
			return addArgs{n: n, note: note}, nil
		}),
		Middleware: []Middleware{func(next Handler) Handler {
			return func(ctx context.Context, req *Request) (Response, error) {
				if req.UserID == "UBANNED" {
					return Response{}, Userf("not you")
				}
				return next(ctx, req)
			}
		}},
		Handler: WithParsed(func(_ context.Context, _ *Request, a addArgs) (Response, error) {
			c.runs.Add(1)
			return Reply(strconv.Itoa(a.n+1) + "|" + a.note), nil
		}),
	}, {
		Name: "raw", Usage: "raw", Description: "no parse",
		Handler: func(context.Context, *Request) (Response, error) { c.runs.Add(1); return Reply("raw"), nil },
	}},
		Fallback: func(_ context.Context, req *Request) (Response, error) {
			c.fallbacks.Add(1)
			return Reply("fallback " + req.Parsed.(string)), nil
		},
		FallbackParse: func(in Args) (any, error) {
			if len(in.Words) != 1 {
				return nil, Userf("One name, please.")
			}
			return in.Words[0], nil
		},
	}
}

type addArgs struct {
	n    int
	note string
}

func countReq(text string) *Request {
	return &Request{Kind: KindCommand, Command: "/count", Text: text, UserID: "U1", ChannelID: "C1", EnvelopeID: "E1"}
}

func TestRouterImmediate(t *testing.T) {
	tests := []struct {
		name      string
		req       *Request
		wantOK    bool
		wantRoute string
		wantText  string
		wantErr   bool
		wantParse int32
	}{
		{name: "help", req: countReq("help"), wantOK: true, wantRoute: "/count help", wantText: "`/count add N [NOTE…]`"},
		{name: "no text shows help", req: countReq("  "), wantOK: true, wantRoute: "/count help", wantText: "/count help"},
		{name: "unknown command", req: &Request{Kind: KindCommand, Command: "/nope"}, wantOK: true, wantRoute: "command:unknown", wantText: "/nope"},
		{name: "usage error", req: countReq("add"), wantOK: true, wantRoute: "/count add", wantText: "Name a number", wantErr: true, wantParse: 1},
		{name: "validation error", req: countReq("add x"), wantOK: true, wantRoute: "/count add", wantText: "`x` is not a number", wantErr: true, wantParse: 1},
		{name: "valid needs the handler", req: countReq("add 1 a  b"), wantParse: 1},
		{name: "middleware is not run before the ack", req: &Request{Kind: KindCommand, Command: "/count", Text: "add 1", UserID: "UBANNED"}, wantParse: 1},
		{name: "parser bug goes to the engine", req: countReq("add 13"), wantParse: 1},
		{name: "parser panic goes to the engine", req: countReq("add 666"), wantParse: 1},
		{name: "command without Parse", req: countReq("raw")},
		{name: "fallback parse error", req: countReq("a b"), wantOK: true, wantRoute: "/count", wantText: "One name", wantErr: true},
		{name: "fallback valid", req: countReq("alpha")},
		{name: "clicks are never immediate", req: &Request{Kind: KindAction, Action: &Action{ID: "x"}}},
		{name: "events are never immediate", req: &Request{Kind: KindEvent, Event: &Event{Type: EventReactionAdded}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := &countFamily{}
			r := NewRouter()
			r.Family(cf.family())
			im, ok := r.Immediate(tt.req)
			if ok != tt.wantOK {
				t.Fatalf("Immediate ok = %v, want %v (answer %q)", ok, tt.wantOK, im.Response.Message.Text)
			}
			if got := cf.parses.Load(); got != tt.wantParse {
				t.Errorf("Parse ran %d times, want %d", got, tt.wantParse)
			}
			if cf.runs.Load() != 0 || cf.fallbacks.Load() != 0 {
				t.Errorf("a handler ran during Immediate")
			}
			if !ok {
				return
			}
			if im.Route != tt.wantRoute {
				t.Errorf("route = %q, want %q", im.Route, tt.wantRoute)
			}
			if !strings.Contains(im.Response.Message.Text, tt.wantText) || im.Response.Visibility != Ephemeral {
				t.Errorf("answer = %+v, want an ephemeral text containing %q", im.Response, tt.wantText)
			}
			if (im.Err != nil) != tt.wantErr {
				t.Errorf("Err = %v, want an error: %v", im.Err, tt.wantErr)
			}
		})
	}
}

// TestRouteMatchesImmediate: what Immediate answers is what the worker path
// (Route and the handler) answers, so a front end that cannot send the answer
// in the ack can submit the request and the user sees the same.
func TestRouteMatchesImmediate(t *testing.T) {
	for _, text := range []string{"help", "", "add", "add x", "a b"} {
		cf := &countFamily{}
		r := NewRouter()
		r.Family(cf.family())
		im, ok := r.Immediate(countReq(text))
		if !ok {
			t.Fatalf("%q: not immediate", text)
		}
		h, route := r.Route(countReq(text))
		resp, err := h(context.Background(), countReq(text))
		if err != nil {
			resp = Reply(UserMessage(err, ""))
		}
		if route != im.Route || resp.Message.Text != im.Response.Message.Text {
			t.Errorf("%q: Route gives %q %q, Immediate %q %q", text, route, resp.Message.Text, im.Route, im.Response.Message.Text)
		}
	}
}

// TestParsedOnce: a request parsed before the ack is not parsed again by the
// worker, which receives the parsed value; one routed only by the worker is
// parsed there.
func TestParsedOnce(t *testing.T) {
	cf := &countFamily{}
	r := NewRouter()
	r.Family(cf.family())

	req := countReq("add 41 the  answer")
	if _, ok := r.Immediate(req); ok {
		t.Fatal("a valid command was answered immediately")
	}
	h, _ := r.Route(req)
	resp, err := h(context.Background(), req)
	if err != nil || resp.Message.Text != "42|the  answer" {
		t.Errorf("got %q, %v; want 42|the  answer", resp.Message.Text, err)
	}
	if got := cf.parses.Load(); got != 1 {
		t.Errorf("Parse ran %d times, want 1", got)
	}

	req = countReq("add 1")
	h, _ = r.Route(req)
	if resp, err := h(context.Background(), req); err != nil || resp.Message.Text != "2|" {
		t.Errorf("worker-only path: got %q, %v; want 2|", resp.Message.Text, err)
	}
	if got := cf.parses.Load(); got != 2 {
		t.Errorf("Parse ran %d times in all, want 2", got)
	}

	req = &Request{Kind: KindCommand, Command: "/count", Text: "add 1", UserID: "UBANNED"}
	h, _ = r.Route(req)
	if _, err := h(context.Background(), req); err == nil || err.Error() != "not you" {
		t.Errorf("middleware after Parse: got %v, want not you", err)
	}
	if got := cf.runs.Load(); got != 2 {
		t.Errorf("handler ran %d times, want 2", got)
	}
}

func TestWithParsedWrongType(t *testing.T) {
	h := WithParsed(func(context.Context, *Request, addArgs) (Response, error) { return Reply("no"), nil })
	if _, err := h(context.Background(), &Request{Parsed: "text"}); err == nil {
		t.Error("a handler given the wrong parsed type ran")
	}
}

// TestEngineParserFailures: a parser bug or panic is not answered in the ack;
// the engine handles it like a handler's, with a reference and the outcome.
func TestEngineParserFailures(t *testing.T) {
	cf := &countFamily{}
	r := NewRouter()
	r.Family(cf.family())
	e, rec, obs := newTestEngine(t, r, nil, time.Second)
	for i, text := range []string{"add 13", "add 666"} {
		req := countReq(text)
		req.EnvelopeID = "E" + strconv.Itoa(i)
		if _, ok := e.Immediate(req); ok {
			t.Fatalf("%q answered immediately", text)
		}
		e.Handle(context.Background(), req)
	}
	texts := rec.texts()
	if len(texts) != 2 || !strings.Contains(texts[0], "ref `E0`") || !strings.Contains(texts[1], "ref `E1`") {
		t.Errorf("replies = %q, want two generic failures with references", texts)
	}
	if got := strings.Join(obs.got, ","); got != "/count add=error,/count add=panic" {
		t.Errorf("outcomes = %s, want /count add=error,/count add=panic", got)
	}
}

func TestEngineAnswered(t *testing.T) {
	cf := &countFamily{}
	r := NewRouter()
	r.Family(cf.family())
	e, rec, obs := newTestEngine(t, r, nil, time.Second)
	for _, text := range []string{"help", "add x"} {
		req := countReq(text)
		im, ok := e.Immediate(req)
		if !ok {
			t.Fatalf("%q not immediate", text)
		}
		e.Answered(req, im, time.Millisecond)
	}
	if got := strings.Join(obs.got, ","); got != "/count help=ok,/count add=user_error" {
		t.Errorf("outcomes = %s, want /count help=ok,/count add=user_error", got)
	}
	if len(rec.texts()) != 0 {
		t.Errorf("the responder was used for answers the front end delivered: %q", rec.texts())
	}
}

// TestImmediateRefusesOtherWorkspaces: a request from another workspace is
// never answered at once, not even with help; the worker refuses it.
func TestImmediateRefusesOtherWorkspaces(t *testing.T) {
	cf := &countFamily{}
	r := NewRouter()
	r.Family(cf.family())
	rec, obs := &recorder{}, &outcomes{}
	e, err := NewEngine(EngineConfig{Router: r, Responder: rec, Observer: obs, TeamID: "T0HOME"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	for _, text := range []string{"help", "add x"} {
		req := countReq(text)
		req.TeamID = "T0EVIL"
		if im, ok := e.Immediate(req); ok {
			t.Errorf("%q from another workspace answered at once: %q", text, im.Response.Message.Text)
		}
		e.Handle(context.Background(), req)
	}
	for _, txt := range rec.texts() {
		if !strings.Contains(txt, "another Slack workspace") {
			t.Errorf("reply %q, want the refusal", txt)
		}
	}
	req := countReq("help")
	req.TeamID = "T0HOME"
	if _, ok := e.Immediate(req); !ok {
		t.Error("help from the home workspace not answered at once")
	}
}
