package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// recorder is a Responder that keeps what it was asked to deliver.
type recorder struct {
	mu    sync.Mutex
	resps []Response
	reqs  []*Request
}

func (r *recorder) Respond(_ context.Context, req *Request, resp Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	r.resps = append(r.resps, resp)
	return nil
}

func (r *recorder) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, x := range r.resps {
		out = append(out, x.Message.Text)
	}
	return out
}

// mapDeduper is a shared Deduper, as Redis is across replicas.
type mapDeduper struct {
	mu   sync.Mutex
	keys map[string]bool
	err  error
}

func (d *mapDeduper) Claim(_ context.Context, key string, _ time.Duration) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return false, d.err
	}
	if d.keys[key] {
		return false, nil
	}
	d.keys[key] = true
	return true, nil
}

type outcomes struct {
	mu  sync.Mutex
	got []string
}

func (o *outcomes) Handled(route, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, route+"="+outcome)
}

func newTestEngine(t *testing.T, r *Router, d Deduper, timeout time.Duration) (*Engine, *recorder, *outcomes) {
	t.Helper()
	rec, obs := &recorder{}, &outcomes{}
	e, err := NewEngine(EngineConfig{Router: r, Responder: rec, Deduper: d, Logger: zaptest.NewLogger(t),
		Observer: obs, Workers: 2, Queue: 4, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	go e.Run(context.Background())
	t.Cleanup(func() { e.Close(context.Background()) })
	return e, rec, obs
}

func echoFamily(calls *atomic.Int32) *Family {
	return &Family{Name: "/echo", Description: "says it back", Commands: []Command{{
		Name: "say", Usage: "say TEXT…", Description: "say it",
		Handler: func(_ context.Context, req *Request) (Response, error) {
			calls.Add(1)
			return Say(strings.Join(req.Args()[1:], " ")), nil
		},
	}}}
}

func cmd(env, trigger, text string) *Request {
	return &Request{Kind: KindCommand, EnvelopeID: env, DedupeKey: trigger, Command: "/echo", Text: text, UserID: "U1", ChannelID: "C1"}
}

func TestEngineHandlesOnceAcrossEnvelopesAndReplicas(t *testing.T) {
	shared := &mapDeduper{keys: map[string]bool{}}
	var calls atomic.Int32
	r := NewRouter()
	r.Family(echoFamily(&calls))
	a, recA, obsA := newTestEngine(t, r, shared, time.Second)
	b, recB, _ := newTestEngine(t, r, shared, time.Second)
	ctx := context.Background()

	a.Handle(ctx, cmd("E1", "T1", "say hi"))
	a.Handle(ctx, cmd("E1", "T1", "say hi")) // redelivered envelope, same replica
	b.Handle(ctx, cmd("E1", "T1", "say hi")) // redelivered to another replica
	b.Handle(ctx, cmd("E2", "T1", "say hi")) // new envelope, same trigger
	a.Handle(ctx, cmd("E3", "T2", "say bye"))

	if got := calls.Load(); got != 2 {
		t.Errorf("handler ran %d times, want 2", got)
	}
	if got := len(recA.texts()) + len(recB.texts()); got != 2 {
		t.Errorf("got %d responses, want 2", got)
	}
	if got := strings.Join(obsA.got, " "); !strings.Contains(got, "/echo say=duplicate") {
		t.Errorf("observer got %q, want a duplicate outcome", got)
	}
}

func TestEngineRunsWhenDedupeStoreIsDown(t *testing.T) {
	down := &mapDeduper{err: errors.New("connection refused")}
	var calls atomic.Int32
	r := NewRouter()
	r.Family(echoFamily(&calls))
	e, _, _ := newTestEngine(t, r, down, time.Second)
	e.Handle(context.Background(), cmd("E1", "T1", "say hi"))
	e.Handle(context.Background(), cmd("E1", "T1", "say hi"))
	if got := calls.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1 (local memory still dedupes)", got)
	}
}

func TestEngineTurnsFailuresIntoSafeReplies(t *testing.T) {
	r := NewRouter()
	r.Family(&Family{Name: "/x", Commands: []Command{
		{Name: "panic", Handler: func(context.Context, *Request) (Response, error) { panic("boom: xoxb-secret") }},
		{Name: "fail", Handler: func(context.Context, *Request) (Response, error) {
			return Response{}, errors.New("dial tcp 10.0.0.1:6379: password=hunter2")
		}},
		{Name: "refuse", Handler: func(context.Context, *Request) (Response, error) {
			return Response{}, Userf("Unknown severity %q.", "sev9")
		}},
		{Name: "slow", Handler: func(ctx context.Context, _ *Request) (Response, error) {
			<-ctx.Done()
			return Response{}, ctx.Err()
		}},
	}})
	e, rec, obs := newTestEngine(t, r, nil, 50*time.Millisecond)
	tests := []struct {
		name, text, want, notWant, outcome string
	}{
		{"panic is recovered", "panic", "failed on our side (ref `Epanic`)", "boom", "panic"},
		{"internal error is hidden", "fail", "failed on our side", "hunter2", "error"},
		{"user error is shown", "refuse", `Unknown severity "sev9".`, "", "user_error"},
		{"timeout", "slow", "took too long", "", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Handle(context.Background(), &Request{Kind: KindCommand, EnvelopeID: "E" + tt.text, Command: "/x", Text: tt.text})
			texts := rec.texts()
			got := texts[len(texts)-1]
			if !strings.Contains(got, tt.want) || (tt.notWant != "" && strings.Contains(got, tt.notWant)) {
				t.Errorf("got reply %q, want it to contain %q and not %q", got, tt.want, tt.notWant)
			}
			if last := obs.got[len(obs.got)-1]; !strings.HasSuffix(last, "="+tt.outcome) {
				t.Errorf("got outcome %q, want %q", last, tt.outcome)
			}
		})
	}
}

// The pool runs at most Workers handlers at once and Close waits for the
// accepted ones.
func TestEnginePoolIsBoundedAndDrainsOnClose(t *testing.T) {
	var running, peak, done atomic.Int32
	release := make(chan struct{})
	r := NewRouter()
	r.Family(&Family{Name: "/w", Commands: []Command{{Name: "work", Handler: func(context.Context, *Request) (Response, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		done.Add(1)
		return Response{}, nil
	}}}})
	e, _, _ := newTestEngine(t, r, nil, 5*time.Second)
	for i := 0; i < 6; i++ {
		req := &Request{Kind: KindCommand, EnvelopeID: "E" + string(rune('a'+i)), Command: "/w", Text: "work"}
		if err := e.Submit(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("peak concurrency %d, want at most 2 workers", p)
	}
	if d := done.Load(); d != 6 {
		t.Errorf("%d requests finished before Close returned, want 6", d)
	}
	if err := e.Submit(context.Background(), cmd("E9", "T9", "say x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: got %v, want ErrClosed", err)
	}
}

// An acknowledged request must be queued whenever there is room, even when
// shutdown has already begun: Slack will not deliver it again.
func TestEngineSubmitQueuesAcknowledgedRequestDuringShutdown(t *testing.T) {
	var ran atomic.Int32
	r := NewRouter()
	r.Family(&Family{Name: "/w", Commands: []Command{{Name: "work", Handler: func(context.Context, *Request) (Response, error) {
		ran.Add(1)
		return Response{}, nil
	}}}})
	const n = 64
	e, err := NewEngine(EngineConfig{Router: r, Responder: &recorder{}, Logger: zaptest.NewLogger(t), Workers: 2, Queue: n})
	if err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	// A random choice between the free slot and the ended context would
	// drop about half of these.
	for i := 0; i < n; i++ {
		req := &Request{Kind: KindCommand, EnvelopeID: fmt.Sprintf("E%d", i), Command: "/w", Text: "work"}
		if err := e.Submit(ended, req); err != nil {
			t.Fatalf("Submit %d with room in the queue and shutdown begun: %v", i, err)
		}
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The workers, even started once shutdown has begun, run every
	// request that was acknowledged and queued.
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ran.Load(); got != n {
		t.Errorf("%d requests ran, want %d", got, n)
	}
}

func TestRouter(t *testing.T) {
	var calls atomic.Int32
	r := NewRouter()
	fam := echoFamily(&calls)
	fam.Commands[0].Aliases = []string{"s"}
	fam.Commands[0].Examples = []string{"/echo say hello"}
	fam.Commands[0].Middleware = []Middleware{func(next Handler) Handler {
		return func(ctx context.Context, req *Request) (Response, error) {
			if req.UserID != "U1" {
				return Response{}, Userf("admins only")
			}
			return next(ctx, req)
		}
	}}
	r.Family(fam)
	r.Action("echo.ok", func(context.Context, *Request) (Response, error) { return Reply("clicked"), nil })
	tests := []struct {
		name      string
		req       *Request
		wantRoute string
		wantText  string
		wantErr   string
	}{
		{"subcommand", cmd("", "", "say hi there"), "/echo say", "hi there", ""},
		{"alias and case", cmd("", "", "S hi"), "/echo say", "hi", ""},
		{"help", cmd("", "", "help"), "/echo help", "`/echo say TEXT…`", ""},
		{"empty shows help", cmd("", "", ""), "/echo help", "/echo help", ""},
		{"help for a command shows its examples", cmd("", "", "help say"), "/echo help",
			"`/echo say TEXT…` — say it\nAlso: `s`\nExamples:\n• `/echo say hello`", ""},
		{"help for an alias", cmd("", "", "help S"), "/echo help", "Examples:\n• `/echo say hello`", ""},
		{"help for an unknown command shows the family", cmd("", "", "help shout"), "/echo help", "`/echo say TEXT…`", ""},
		{"unknown subcommand", cmd("", "", "shout hi"), "/echo unknown", "I do not know `/echo shout`", ""},
		{"middleware refuses", &Request{Kind: KindCommand, Command: "/echo", Text: "say hi", UserID: "U2"}, "/echo say", "", "admins only"},
		{"unknown command", &Request{Kind: KindCommand, Command: "/nope"}, "command:unknown", "I do not know the command /nope", ""},
		{"action", &Request{Kind: KindAction, Action: &Action{ID: "echo.ok"}}, "action:echo.ok", "clicked", ""},
		{"stale action", &Request{Kind: KindAction, Action: &Action{ID: "gone"}}, "action:unknown", "no longer supported", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, route := r.Route(tt.req)
			if route != tt.wantRoute {
				t.Errorf("route: got %q, want %q", route, tt.wantRoute)
			}
			resp, err := h(context.Background(), tt.req)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(resp.Message.Text, tt.wantText) {
				t.Errorf("got %q, %v; want text containing %q", resp.Message.Text, err, tt.wantText)
			}
		})
	}
}

// TestEngineRefusesOtherWorkspaces sends every kind of request from another
// team_id: no handler runs, people get a refusal, events are dropped quietly.
func TestEngineRefusesOtherWorkspaces(t *testing.T) {
	var ran atomic.Int32
	count := func(context.Context, *Request) (Response, error) { ran.Add(1); return Reply("done"), nil }
	r := NewRouter()
	r.Family(&Family{Name: "/x", Default: count, Fallback: count, Commands: []Command{{Name: "do", Handler: count}}})
	r.Action("x.click", count)
	r.View("x.form", ViewRoute{Handler: count})
	r.Event(EventReactionAdded, count)
	rec, obs := &recorder{}, &outcomes{}
	e, err := NewEngine(EngineConfig{Router: r, Responder: rec, Logger: zaptest.NewLogger(t), Observer: obs, TeamID: "T0HOME"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	ctx := context.Background()
	foreign := []*Request{
		{Kind: KindCommand, Command: "/x", Text: "do", TeamID: "T0EVIL", EnvelopeID: "E1"},
		{Kind: KindCommand, Command: "/x", Text: "", TeamID: "", EnvelopeID: "E2"},
		{Kind: KindAction, Action: &Action{ID: "x.click"}, TeamID: "T0EVIL", EnvelopeID: "E3"},
		{Kind: KindView, View: &ViewSubmission{CallbackID: "x.form"}, TeamID: "T0EVIL", EnvelopeID: "E4"},
		{Kind: KindEvent, Event: &Event{Type: EventReactionAdded}, TeamID: "T0EVIL", EnvelopeID: "E5"},
	}
	for _, req := range foreign {
		e.Handle(ctx, req)
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("%d handlers ran for requests from another workspace, want 0", n)
	}
	texts := rec.texts()
	if len(texts) != 4 {
		t.Fatalf("got %d replies, want 4 (none for the event): %q", len(texts), texts)
	}
	for _, txt := range texts {
		if !strings.Contains(txt, "another Slack workspace") {
			t.Errorf("reply %q does not say why", txt)
		}
	}
	e.Handle(ctx, &Request{Kind: KindCommand, Command: "/x", Text: "do", TeamID: "T0HOME", EnvelopeID: "E6"})
	if n := ran.Load(); n != 1 {
		t.Errorf("the home workspace's command ran %d times, want 1", n)
	}
	if got := strings.Join(obs.got, " "); strings.Count(got, "foreign_team=user_error") != 5 {
		t.Errorf("observer got %q, want 5 foreign_team outcomes", got)
	}
}
