package bot

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Responder delivers a handler's response to the user who asked.
type Responder interface {
	Respond(ctx context.Context, req *Request, resp Response) error
}

// Observer is told how each request ended, for metrics.
type Observer interface {
	// Handled reports the route label, the outcome ("ok", "user_error",
	// "error", "panic", "timeout", "duplicate") and how long it took.
	Handled(route, outcome string, took time.Duration)
}

// EngineConfig configures an Engine.
type EngineConfig struct {
	Router    *Router
	Responder Responder
	// Deduper makes redelivered envelopes and repeated triggers run once,
	// across replicas when it is shared (Redis). Nil keeps only the local
	// memory, which protects one process.
	Deduper Deduper
	Logger  *zap.Logger
	// Observer may be nil.
	Observer Observer
	// Workers bounds how many requests run at once (default 16).
	Workers int
	// Queue is how many acknowledged requests may wait for a worker (default 256).
	Queue int
	// Timeout bounds one request's handler (default 2 minutes). Work that
	// must outlive it (a long runbook) is started by the handler with its
	// own context.
	Timeout time.Duration
	// DedupeTTL is how long a key is remembered (default 24 hours; Slack
	// retries for far less).
	DedupeTTL time.Duration
	// TeamID is the workspace the bot serves. Requests from any other
	// (another workspace's user in a shared channel, a crafted envelope)
	// are refused before they reach a family: commands, clicks and forms
	// get a short refusal, events are dropped. Empty checks nothing.
	TeamID string
}

// Engine runs requests: once each, in a bounded pool, with a timeout and
// recovery from panics, and delivers the responses. NewEngine starts
// nothing; Run runs the pool.
type Engine struct {
	cfg   EngineConfig
	log   *zap.Logger
	queue chan queued
	local *memo
	done  chan struct{} // closed when Run's workers have all stopped
	// started is apart from mu: a Submit waiting for room in the queue
	// holds mu, and only Run's workers make room.
	started atomic.Bool
	mu      sync.RWMutex
	closed  bool
}

type queued struct {
	ctx context.Context
	req *Request
}

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("engine closed")

// NewEngine validates cfg and returns the engine; Run starts its workers.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Router == nil || cfg.Responder == nil {
		return nil, errors.New("bot: engine needs a router and a responder")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 256
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.DedupeTTL <= 0 {
		cfg.DedupeTTL = 24 * time.Hour
	}
	e := &Engine{
		cfg:   cfg,
		log:   cfg.Logger,
		queue: make(chan queued, cfg.Queue),
		local: newMemo(100_000),
		done:  make(chan struct{}),
	}
	return e, nil
}

// ValidateView runs the router's synchronous validation of a modal
// submission, for front ends to call before the ack.
func (e *Engine) ValidateView(v *ViewSubmission) map[string]string {
	return e.cfg.Router.ValidateView(v)
}

// Run handles submitted requests with the configured number of workers
// until ctx ends or Close is called; then it stops taking requests and
// returns once every request already accepted is handled. Requests
// submitted before Run wait in the queue.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("bot: engine already running")
	}
	var wg sync.WaitGroup
	for i := 0; i < e.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.work()
		}()
	}
	defer context.AfterFunc(ctx, e.stopIntake)()
	wg.Wait()
	close(e.done)
	return nil
}

// stopIntake makes Submit refuse new requests; the workers drain the queue
// and stop.
func (e *Engine) stopIntake() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.queue)
	}
}

// Immediate returns the answer to req when it needs no I/O (see
// Router.Immediate): the front end delivers it at once, without a worker
// (Slack: in the envelope's ack), and then calls Answered. When it cannot
// deliver it that way (too big for an ack), it submits req instead, and a
// worker answers the same through the Responder.
func (e *Engine) Immediate(req *Request) (Immediate, bool) {
	if e.cfg.TeamID != "" && req.TeamID != e.cfg.TeamID {
		// Another workspace gets the engine's refusal, from a worker, and
		// nothing of any family: not even its help.
		return Immediate{}, false
	}
	return e.cfg.Router.Immediate(req)
}

// Answered records an answer the front end delivered from Immediate, as
// Handle records a request it ran: the outcome for metrics, and a log line
// when it refused something. took is from receipt to delivery.
func (e *Engine) Answered(req *Request, im Immediate, took time.Duration) {
	outcome := "ok"
	if im.Err != nil {
		outcome = "user_error"
		// Built only here: most immediate answers are help, logged by nobody.
		e.log.Info("request refused", zap.String("envelope_id", req.EnvelopeID), zap.String("kind", string(req.Kind)),
			zap.String("user", req.UserID), zap.String("channel", req.ChannelID), zap.String("route", im.Route),
			zap.String("reason", im.Err.Error()), zap.Bool("in_ack", true))
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.Handled(im.Route, outcome, took)
	}
}

// Submit queues an acknowledged request. It blocks while the queue is full,
// until ctx ends. The request's own context is detached from ctx's
// cancellation so that a request already accepted finishes during shutdown.
func (e *Engine) Submit(ctx context.Context, req *Request) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	q := queued{ctx: context.WithoutCancel(ctx), req: req}
	// A free slot first: the front end has already acknowledged req, and a
	// select over a free slot and an ended ctx (SIGTERM just after the ack)
	// picks at random, which would drop an acknowledged request.
	select {
	case e.queue <- q:
		return nil
	default:
	}
	select {
	case e.queue <- q:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking requests and waits until the queued and running ones
// finish or ctx ends. Without Run, nothing was running and it returns at
// once.
func (e *Engine) Close(ctx context.Context) error {
	e.stopIntake()
	if !e.started.Load() {
		return nil
	}
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("requests still running at shutdown: %w", ctx.Err())
	}
}

func (e *Engine) work() {
	for q := range e.queue {
		e.Handle(q.ctx, q.req)
	}
}

// Handle runs one request now, in the caller's goroutine: console mode uses
// it directly, so scripts see replies in order.
func (e *Engine) Handle(ctx context.Context, req *Request) {
	start := time.Now()
	// Lazy: most requests log nothing, and encoding these fields for every
	// one of them was a good part of the allocation per request.
	log := e.log.WithLazy(zap.String("envelope_id", req.EnvelopeID), zap.String("kind", string(req.Kind)),
		zap.String("user", req.UserID), zap.String("channel", req.ChannelID))
	if e.cfg.TeamID != "" && req.TeamID != e.cfg.TeamID {
		e.refuseForeign(ctx, req, log, start)
		return
	}
	handler, route := e.cfg.Router.Route(req)
	log = log.WithLazy(zap.String("route", route))

	if dup := e.duplicate(ctx, req, log); dup {
		log.Info("duplicate delivery dropped", zap.Int("retry_attempt", req.RetryAttempt))
		e.observe(route, "duplicate", start)
		return
	}

	ctx = WithLogger(ctx, log)
	resp, outcome, err := e.run(ctx, handler, req)
	if err != nil {
		resp = Reply(UserMessage(err, req.EnvelopeID))
		if outcome == "user_error" {
			log.Info("request refused", zap.String("reason", err.Error()))
		} else {
			log.Error("request failed", zap.Error(err))
		}
	}
	if !resp.empty() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if rerr := e.cfg.Responder.Respond(rctx, req, resp); rerr != nil {
			log.Error("response not delivered", zap.Error(rerr))
			if outcome == "ok" {
				outcome = "error"
			}
		}
		cancel()
	}
	e.observe(route, outcome, start)
}

// errForeignTeam is the refusal for requests from another workspace.
var errForeignTeam = Userf("This bot serves another Slack workspace, so it does not act on requests from yours. Nothing was done.")

// refuseForeign answers a request from another workspace without routing
// it: one rule for every family, before any handler can act.
func (e *Engine) refuseForeign(ctx context.Context, req *Request, log *zap.Logger, start time.Time) {
	log.Warn("request from another workspace refused", zap.String("team", req.TeamID))
	if req.Kind != KindEvent {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if err := e.cfg.Responder.Respond(rctx, req, Reply(UserMessage(errForeignTeam, ""))); err != nil {
			log.Warn("refusal not delivered", zap.Error(err))
		}
		cancel()
	}
	e.observe("foreign_team", "user_error", start)
}

func (e *Engine) run(ctx context.Context, h Handler, req *Request) (resp Response, outcome string, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("handler panicked", zap.String("envelope_id", req.EnvelopeID),
				zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			resp, outcome, err = Response{}, "panic", fmt.Errorf("handler panicked: %v", p)
		}
	}()
	resp, err = h(ctx, req)
	var ue *UserError
	switch {
	case err == nil:
		return resp, "ok", nil
	case errors.As(err, &ue):
		return resp, "user_error", err
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return resp, "timeout", Userf("That took too long and was stopped (ref `%s`).", req.EnvelopeID)
	default:
		return resp, "error", err
	}
}

// duplicate claims the request's dedupe key, or its envelope ID when it has
// none. The dedupe key alone suffices otherwise: a redelivered envelope
// carries the same one, so claiming the envelope too would only cost a second
// round trip. Seen before means the user's action already ran (or is
// running) here or on another replica. When the shared store fails, the local
// memory still protects this process, and the request runs: during an outage
// a rare double is better than dropping someone's command.
func (e *Engine) duplicate(ctx context.Context, req *Request, log *zap.Logger) bool {
	var key string
	switch {
	case req.DedupeKey != "":
		key = "action:" + req.DedupeKey
	case req.EnvelopeID != "":
		key = "envelope:" + req.EnvelopeID
	default:
		return false
	}
	if !e.local.add(key, time.Now().Add(e.cfg.DedupeTTL)) {
		return true
	}
	if e.cfg.Deduper == nil {
		return false
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	first, err := e.cfg.Deduper.Claim(dctx, key, e.cfg.DedupeTTL)
	if err != nil {
		log.Warn("dedupe store unavailable; relying on local memory", zap.Error(err))
		return false
	}
	return !first
}

func (e *Engine) observe(route, outcome string, start time.Time) {
	if e.cfg.Observer != nil {
		e.cfg.Observer.Handled(route, outcome, time.Since(start))
	}
}

func (r Response) empty() bool {
	m := r.Message
	return m.Text == "" && m.Title == "" && len(m.Fields) == 0 && m.Code == "" && len(m.Buttons) == 0
}

// memo is a bounded set of keys with expiry, the per-process line of defence
// against duplicates.
type memo struct {
	mu    sync.Mutex
	max   int
	keys  map[string]time.Time
	order []string
}

func newMemo(max int) *memo { return &memo{max: max, keys: map[string]time.Time{}} }

// add reports whether key was new (or expired).
func (m *memo) add(key string, until time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, known := m.keys[key]
	if known && time.Now().Before(exp) {
		return false
	}
	m.keys[key] = until
	if !known {
		// A key already in order keeps its place: listing it twice would
		// let the older entry evict the renewed key early.
		m.order = append(m.order, key)
	}
	for len(m.order) > m.max {
		delete(m.keys, m.order[0])
		m.order = m.order[1:]
	}
	return true
}

type loggerKey struct{}

// WithLogger stores a request-scoped logger (carrying the envelope ID) in ctx.
func WithLogger(ctx context.Context, l *zap.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the request-scoped logger, or a no-op logger.
func Logger(ctx context.Context) *zap.Logger { return LoggerOr(ctx, zap.NewNop()) }

// LoggerOr returns the request-scoped logger, or fallback when ctx serves no
// request: code shared by handlers and scheduled work logs with the envelope
// ID when there is one, and still logs when there is not.
func LoggerOr(ctx context.Context, fallback *zap.Logger) *zap.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*zap.Logger); ok {
		return l
	}
	return fallback
}
