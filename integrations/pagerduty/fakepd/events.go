package fakepd

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// EventsServer is a fake of PagerDuty's Events API v2 (POST /v2/enqueue), a
// separate host from the REST API as at PagerDuty (events.pagerduty.com).
// It speaks the real wire format: 202 {"status":"success","message":"Event
// processed","dedup_key":…}; 400 {"status":"invalid event","message":"Event
// object is invalid","errors":[…]} for a malformed event or an unknown
// routing key; 429 with Retry-After and 5xx on injected faults. It keeps
// PagerDuty's alert semantics: a trigger with the dedup key of an open alert
// adds nothing, acknowledge and resolve move it, resolve of an unknown key
// is accepted and does nothing.
type EventsServer struct {
	// URL is the base URL to give the client (PAGERDUTY_EVENTS_URL).
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	keys     map[string]string // routing key -> service name
	requests int               // POST /v2/enqueue received, failed ones included
	events   []Event
	alerts   []*EventAlert
	open     map[string]*EventAlert // routing key/dedup key -> unresolved alert
	now      func() time.Time

	injector
}

// Event is one accepted event, as received.
type Event struct {
	RoutingKey string
	Action     string
	DedupKey   string
	Summary    string
	Source     string
	Severity   string
	Details    map[string]any
	Links      []map[string]string
	Client     string
	Time       time.Time
}

// EventAlert is an alert the events created, per routing key and dedup key.
type EventAlert struct {
	Service  string
	DedupKey string
	Summary  string
	// Status is "triggered", "acknowledged" or "resolved".
	Status string
	// Triggers counts trigger events, deduplicated ones included.
	Triggers    int
	TriggeredAt time.Time
	ResolvedAt  time.Time
}

// NewEvents starts a fake Events API for one test and stops it when the
// test ends.
func NewEvents(t TB) *EventsServer {
	t.Helper()
	s := NewEventsServer()
	t.Cleanup(s.Close)
	return s
}

// NewEventsServer starts a fake Events API outside a test; Close stops it.
func NewEventsServer() *EventsServer {
	s := &EventsServer{keys: map[string]string{}, open: map[string]*EventAlert{}, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/enqueue", s.enqueue)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *EventsServer) Close() { s.srv.Close() }

// SetNow sets the fake's clock, which times alerts' triggers and
// resolutions.
func (s *EventsServer) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// AddRoutingKey makes key a known integration key of service; events with
// other keys are refused, as PagerDuty does.
func (s *EventsServer) AddRoutingKey(key, service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = service
}

// RemoveRoutingKey forgets key, as when its integration is deleted at
// PagerDuty: its events are refused from then on, its alerts stay as they
// are.
func (s *EventsServer) RemoveRoutingKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

// Events returns the accepted events in order.
func (s *EventsServer) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Requests counts the requests POST /v2/enqueue received, those that failed
// (injected faults, invalid events, clients that gave up) included.
func (s *EventsServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Alerts returns the alerts the events created, in creation order. A
// trigger after its alert resolved creates a new one, as at PagerDuty.
func (s *EventsServer) Alerts() []EventAlert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EventAlert, 0, len(s.alerts))
	for _, a := range s.alerts {
		out = append(out, *a)
	}
	return out
}

type v2Event struct {
	RoutingKey string              `json:"routing_key"`
	Action     string              `json:"event_action"`
	DedupKey   string              `json:"dedup_key"`
	Client     string              `json:"client"`
	Links      []map[string]string `json:"links"`
	Payload    *struct {
		Summary  string         `json:"summary"`
		Source   string         `json:"source"`
		Severity string         `json:"severity"`
		Details  map[string]any `json:"custom_details"`
	} `json:"payload"`
}

func (s *EventsServer) enqueue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	fault := s.take()
	if !s.delay(r) {
		return
	}
	if fault != nil {
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		if fault.Status == http.StatusTooManyRequests {
			writeJSON(w, fault.Status, map[string]any{"status": "throttle event",
				"message": "Requests for this service are arriving too quickly.  Please retry later."})
			return
		}
		writeJSON(w, fault.Status, map[string]any{"status": "unavailable", "message": http.StatusText(fault.Status)})
		return
	}
	invalid := func(errs ...string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		invalid("Content-Type must be application/json")
		return
	}
	var ev v2Event
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 512<<10)).Decode(&ev); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid",
			"errors": []string{"Could not parse JSON"}})
		return
	}
	var errs []string
	if len(ev.RoutingKey) != 32 {
		errs = append(errs, "Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	switch ev.Action {
	case "trigger":
		if ev.Payload == nil {
			errs = append(errs, "'payload' is missing or blank")
			break
		}
		if ev.Payload.Summary == "" {
			errs = append(errs, "'payload.summary' is missing or blank")
		}
		if ev.Payload.Source == "" {
			errs = append(errs, "'payload.source' is missing or blank")
		}
		switch ev.Payload.Severity {
		case "critical", "error", "warning", "info":
		default:
			errs = append(errs, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
		}
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
	default:
		errs = append(errs, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	if len(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' is too long (maximum is 255 characters)")
	}
	if len(errs) > 0 {
		invalid(errs...)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	service, ok := s.keys[ev.RoutingKey]
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid",
			"errors": []string{"Invalid routing key"}})
		return
	}
	now := s.now().UTC()
	if ev.DedupKey == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		ev.DedupKey = hex.EncodeToString(b[:])
	}
	rec := Event{RoutingKey: ev.RoutingKey, Action: ev.Action, DedupKey: ev.DedupKey, Links: ev.Links, Client: ev.Client, Time: now}
	if ev.Payload != nil {
		rec.Summary, rec.Source, rec.Severity, rec.Details = ev.Payload.Summary, ev.Payload.Source, ev.Payload.Severity, ev.Payload.Details
	}
	s.events = append(s.events, rec)
	k := ev.RoutingKey + "/" + ev.DedupKey
	a := s.open[k]
	switch ev.Action {
	case "trigger":
		if a == nil {
			a = &EventAlert{Service: service, DedupKey: ev.DedupKey, Summary: rec.Summary, Status: "triggered", TriggeredAt: now}
			s.alerts = append(s.alerts, a)
			s.open[k] = a
		}
		a.Triggers++
	case "acknowledge":
		if a != nil {
			a.Status = "acknowledged"
		}
	case "resolve":
		if a != nil {
			a.Status, a.ResolvedAt = "resolved", now
			delete(s.open, k)
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}
