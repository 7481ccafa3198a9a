package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// DefaultEventsURL is PagerDuty's Events API (v2) base URL.
const DefaultEventsURL = "https://events.pagerduty.com"

// EventsConfig configures an Events client.
type EventsConfig struct {
	// URL is the Events API base URL (PAGERDUTY_EVENTS_URL, default
	// DefaultEventsURL); events go to URL + "/v2/enqueue".
	URL string
	// HTTPClient defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	Logger     *zap.Logger
	// Timeout bounds one attempt (default 10s); MaxAttempts bounds tries,
	// the first included (default 4); MinBackoff and MaxBackoff bound the
	// waits between them when PagerDuty sends no Retry-After (defaults
	// 500ms and 30s).
	Timeout     time.Duration
	MaxAttempts int
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
}

// Events sends Events API v2 events (trigger, acknowledge, resolve) through
// go-pagerduty. Events are idempotent by dedup key, so 429s and 5xx are
// retried with backoff. Routing keys are secrets: they never appear in
// errors or logs. It implements bot.EventPager.
type Events struct {
	api *pd.Client
	c   *Client // for the shared retry and classification
}

var _ bot.EventPager = (*Events)(nil)

// NewEvents validates cfg and returns a client. It makes no request.
func NewEvents(cfg EventsConfig) (*Events, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultEventsURL
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("pagerduty: events url %q: want http(s)://host[/path] without credentials", cfg.URL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	rc := Config{Timeout: cfg.Timeout, MaxAttempts: cfg.MaxAttempts, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff}
	if rc.Timeout <= 0 {
		rc.Timeout = 10 * time.Second
	}
	if rc.MaxAttempts <= 0 {
		rc.MaxAttempts = 4
	}
	if rc.MinBackoff <= 0 {
		rc.MinBackoff = 500 * time.Millisecond
	}
	if rc.MaxBackoff <= 0 {
		rc.MaxBackoff = 30 * time.Second
	}
	api := pd.NewClient("", pd.WithV2EventsAPIEndpoint(strings.TrimRight(cfg.URL, "/")))
	api.HTTPClient = eventsRecorder{cfg.HTTPClient}
	return &Events{api: api, c: &Client{cfg: rc, log: cfg.Logger.With(zap.String("integration", "pagerduty-events")), sleep: bot.Sleep}}, nil
}

// eventsRecorder passes requests through and keeps, in the attempt's
// context, a failed answer's Retry-After and the Events API's own error
// message: go-pagerduty expects REST API error bodies and drops these.
type eventsRecorder struct{ c *http.Client }

func (r eventsRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.c.Do(req)
	if err != nil || resp.StatusCode/100 == 2 {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var e struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	_ = json.Unmarshal(body, &e)
	msg := strings.TrimSpace(strings.Join(append([]string{e.Message}, e.Errors...), ": "))
	if h, ok := req.Context().Value(hintKey{}).(*hint); ok && resp.StatusCode == http.StatusTooManyRequests {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			h.mu.Lock()
			h.retryAfter = d
			h.mu.Unlock()
		}
	}
	if m, ok := req.Context().Value(eventsMessageKey{}).(*eventsMessage); ok {
		m.mu.Lock()
		m.msg = strings.Trim(msg, ": ")
		m.mu.Unlock()
	}
	return resp, nil
}

// Enqueue implements bot.EventPager.
func (e *Events) Enqueue(ctx context.Context, ev bot.PagerEvent) (string, error) {
	op := fmt.Sprintf("%s event %q", ev.Action, ev.DedupKey)
	switch {
	case ev.RoutingKey == "":
		return "", &Error{Op: op, Class: ErrInvalid, Detail: "no routing key"}
	case ev.Action != bot.PagerTrigger && ev.Action != bot.PagerAcknowledge && ev.Action != bot.PagerResolve:
		return "", &Error{Op: op, Class: ErrInvalid, Detail: "unknown action"}
	case ev.Action != bot.PagerTrigger && ev.DedupKey == "":
		return "", &Error{Op: op, Class: ErrInvalid, Detail: "acknowledge and resolve need a dedup key"}
	}
	v2 := &pd.V2Event{RoutingKey: ev.RoutingKey, Action: string(ev.Action), DedupKey: ev.DedupKey, Client: "opsbot"}
	for _, l := range ev.Links {
		v2.Links = append(v2.Links, map[string]string{"href": l.Href, "text": l.Text})
	}
	if ev.Action == bot.PagerTrigger {
		v2.Payload = &pd.V2Payload{Summary: truncateRunes(ev.Summary, 1024), Source: ev.Source, Severity: ev.Severity}
		if len(ev.Details) > 0 {
			v2.Payload.Details = ev.Details
		}
	}
	var resp *pd.V2EventResponse
	m := &eventsMessage{}
	err := e.c.call(context.WithValue(ctx, eventsMessageKey{}, m), op, true, func(ctx context.Context) error {
		var err error
		resp, err = e.api.ManageEventWithContext(ctx, v2)
		if err != nil {
			m.mu.Lock()
			msg := m.msg
			m.msg = ""
			m.mu.Unlock()
			if msg != "" {
				err = &eventsError{err: err, msg: msg}
			}
		}
		return err
	})
	if err != nil {
		return "", redactKey(err, ev.RoutingKey)
	}
	return resp.DedupKey, nil
}

// eventsError adds the Events API's message to go-pagerduty's error.
type eventsError struct {
	err error
	msg string
}

func (e *eventsError) Error() string { return e.msg }
func (e *eventsError) Unwrap() error { return e.err }

// redactKey removes the routing key from an error's text, keeping its
// class.
func redactKey(err error, key string) error {
	var pe *Error
	if key != "" && errors.As(err, &pe) {
		cp := *pe
		cp.Detail = strings.ReplaceAll(cp.Detail, key, "[routing key]")
		cp.Op = strings.ReplaceAll(cp.Op, key, "[routing key]")
		return &cp
	}
	return err
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// eventsMessage holds the Events API's message of the latest failed
// attempt of one Enqueue.
type eventsMessage struct {
	mu  sync.Mutex
	msg string
}

type eventsMessageKey struct{}
