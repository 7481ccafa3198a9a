// Package fakepd is a fake PagerDuty REST API for tests and demos. It speaks
// the real wire format for the endpoints opsbot uses (GET /oncalls,
// /schedules, /schedules/{id}, /users, /users/{id}, /services, /incidents,
// /incidents/{id}, POST /incidents, PUT /incidents, and the overrides
// endpoints GET/POST /schedules/{id}/overrides and DELETE
// /schedules/{id}/overrides/{id}, which /oncalls and the final schedule
// reflect),
// with PagerDuty's JSON shapes, offset pagination (limit/offset/more/total),
// the `Authorization: Token token=…` check and the `From` header on incident
// creation and updates. Incidents keep a status that PUT /incidents changes
// (triggered, acknowledged, resolved) and that the list and get endpoints
// report. Tests set its state (users, schedules with layers and overrides,
// escalation policies, services, an incident's status as if someone changed
// it at PagerDuty) and inject failures: 429 with Retry-After, 5xx, and
// latency.
//
// Each test starts its own server with New; nothing is global.
package fakepd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// User is a PagerDuty user.
type User struct {
	ID, Name, Email string
}

// Entry puts a user on call for [Start, End).
type Entry struct {
	UserID     string
	Start, End time.Time
	// ID identifies an override (assigned when empty); unused in layers.
	ID string
}

// Schedule is a schedule whose final form is computed as PagerDuty does:
// overrides win over layers, and a later layer wins over an earlier one.
type Schedule struct {
	ID, Name string
	// TimeZone is reported as the schedule's zone (default UTC).
	TimeZone  string
	Layers    [][]Entry
	Overrides []Entry
}

// Rule is one level of an escalation policy: a schedule or a single user.
type Rule struct {
	Level      int
	ScheduleID string
	UserID     string
}

// EscalationPolicy is who gets paged, level by level.
type EscalationPolicy struct {
	ID, Name string
	Rules    []Rule
}

// Service is a PagerDuty service with its escalation policy.
type Service struct {
	ID, Name, EscalationPolicyID string
}

// Incident is an incident created through POST /incidents, as received,
// with the status later requests gave it.
type Incident struct {
	ID          string
	Number      int
	Title       string
	ServiceID   string
	IncidentKey string
	Details     string
	// From is the From header of the request.
	From      string
	Assignees []string // user IDs
	CreatedAt time.Time
	// Status is "triggered", "acknowledged" or "resolved".
	Status string
	// ResolvedAt is when it was resolved and ResolvedBy the From header of
	// the request that resolved it ("" when SetIncidentStatus did).
	ResolvedAt time.Time
	ResolvedBy string
}

// Fault is an injected failure for the next request(s).
type Fault struct {
	Status int
	// RetryAfter is sent as the Retry-After header when not empty.
	RetryAfter string
}

// Server is a running fake.
type Server struct {
	// URL is the API base URL to give the client.
	URL   string
	token string
	srv   *httptest.Server

	mu        sync.Mutex
	now       func() time.Time
	users     map[string]User
	schedules map[string]*Schedule
	policies  []EscalationPolicy
	services  []Service
	incidents []Incident
	// routeFaults fail the next requests of one route (see FailNextOn)
	// before those of the injector.
	routeFaults map[string][]Fault
	overrideSeq int
	requests    map[string]int

	injector
}

// TB is the part of testing.TB the fake needs.
type TB interface {
	Helper()
	Cleanup(func())
}

// New starts a fake that accepts token and stops it when the test ends.
func New(t TB, token string) *Server {
	t.Helper()
	s := NewServer(token)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake outside a test (console demos); Close stops it.
func NewServer(token string) *Server {
	s := &Server{
		token:     token,
		now:       time.Now,
		users:     map[string]User{},
		schedules: map[string]*Schedule{},
		requests:  map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oncalls", s.listOnCalls)
	mux.HandleFunc("GET /schedules", s.listSchedules)
	mux.HandleFunc("GET /schedules/{id}", s.getSchedule)
	mux.HandleFunc("GET /users/{id}", s.getUser)
	mux.HandleFunc("GET /services", s.listServices)
	mux.HandleFunc("POST /incidents", s.createIncident)
	s.handleIncidents(mux)
	s.handleOverrides(mux)
	s.srv = httptest.NewServer(s.middleware(mux))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetNow sets the fake's clock, used for the default on-call window and for
// incident assignment.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// SetSchedule adds or replaces a schedule.
func (s *Server) SetSchedule(sc Schedule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := sc
	cp.Overrides = append([]Entry(nil), sc.Overrides...)
	for i := range cp.Overrides {
		if cp.Overrides[i].ID == "" {
			cp.Overrides[i].ID = s.nextOverrideIDLocked()
		}
	}
	s.schedules[sc.ID] = &cp
}

// AddOverride adds an override to a schedule.
func (s *Server) AddOverride(scheduleID string, e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.schedules[scheduleID]; ok {
		if e.ID == "" {
			e.ID = s.nextOverrideIDLocked()
		}
		sc.Overrides = append(sc.Overrides, e)
	}
}

// AddEscalationPolicy adds an escalation policy.
func (s *Server) AddEscalationPolicy(ep EscalationPolicy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies = append(s.policies, ep)
}

// AddService adds a service.
func (s *Server) AddService(svc Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services = append(s.services, svc)
}

// Incidents returns the incidents created so far.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Incident(nil), s.incidents...)
}

// Requests returns how many requests reached a route such as "GET /oncalls",
// failed ones included.
func (s *Server) Requests(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[route]
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := routeOf(r)
		s.mu.Lock()
		s.requests[route]++
		var fault *Fault
		if fs := s.routeFaults[route]; len(fs) > 0 {
			f := fs[0]
			s.routeFaults[route] = fs[1:]
			fault = &f
		}
		s.mu.Unlock()
		if fault == nil {
			fault = s.take()
		}
		if !s.delay(r) {
			return
		}
		if r.Header.Get("Authorization") != "Token token="+s.token {
			writeError(w, http.StatusUnauthorized, 2006, "Unauthorized", nil)
			return
		}
		if fault != nil {
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			msg := http.StatusText(fault.Status)
			if fault.Status == http.StatusTooManyRequests {
				msg = "Rate Limit Exceeded"
			}
			writeError(w, fault.Status, 2020, msg, nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string, errs []string) {
	e := map[string]any{"message": msg, "code": code}
	if len(errs) > 0 {
		e["errors"] = errs
	}
	writeJSON(w, status, map[string]any{"error": e})
}

// notFound answers as PagerDuty does for an unknown id.
func notFound(w http.ResponseWriter) { writeError(w, http.StatusNotFound, 2100, "Not Found", nil) }

// invalidInput answers as PagerDuty does for a request it refuses, with the
// reasons it gives.
func invalidInput(w http.ResponseWriter, reasons ...string) {
	writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", reasons)
}

// writeList answers a list request with the page of items it asks for
// (limit, offset, total) under key, or refuses bad paging.
func writeList(w http.ResponseWriter, r *http.Request, key string, items []map[string]any) {
	limit, offset, ok := paging(r)
	if !ok {
		invalidInput(w, "bad limit or offset")
		return
	}
	out, meta := page(items, limit, offset, r.URL.Query().Get("total") == "true")
	meta[key] = out
	writeJSON(w, http.StatusOK, meta)
}

// schedule finds the schedule a request's {id} names, or answers 404.
// Callers hold s.mu.
func (s *Server) schedule(w http.ResponseWriter, r *http.Request) (*Schedule, bool) {
	sc, ok := s.schedules[r.PathValue("id")]
	if !ok {
		notFound(w)
	}
	return sc, ok
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (s *Server) userRef(id string, full bool) map[string]any {
	u := s.users[id]
	if full {
		return map[string]any{"id": id, "type": "user", "summary": u.Name, "name": u.Name, "email": u.Email,
			"self": s.URL + "/users/" + id, "html_url": "https://example.pagerduty.com/users/" + id}
	}
	return map[string]any{"id": id, "type": "user_reference", "summary": u.Name,
		"self": s.URL + "/users/" + id, "html_url": "https://example.pagerduty.com/users/" + id}
}

// final renders a schedule's final entries over [since, until), merged where
// the same user continues, clipped to the window.
func final(sc *Schedule, since, until time.Time) []Entry {
	var cuts []time.Time
	cuts = append(cuts, since, until)
	add := func(es []Entry) {
		for _, e := range es {
			for _, t := range []time.Time{e.Start, e.End} {
				if t.After(since) && t.Before(until) {
					cuts = append(cuts, t)
				}
			}
		}
	}
	for _, l := range sc.Layers {
		add(l)
	}
	add(sc.Overrides)
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].Before(cuts[j]) })
	covering := func(es []Entry, t time.Time) string {
		for _, e := range es {
			if !t.Before(e.Start) && t.Before(e.End) {
				return e.UserID
			}
		}
		return ""
	}
	var out []Entry
	for i := 0; i+1 < len(cuts); i++ {
		a, b := cuts[i], cuts[i+1]
		if !a.Before(b) {
			continue
		}
		who := newestCovering(sc.Overrides, a)
		for l := len(sc.Layers) - 1; who == "" && l >= 0; l-- {
			who = covering(sc.Layers[l], a)
		}
		if who == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].UserID == who && out[n-1].End.Equal(a) {
			out[n-1].End = b
			continue
		}
		out = append(out, Entry{UserID: who, Start: a, End: b})
	}
	return out
}

// unclipped extends the first and last entries to the true bounds of the
// shifts they belong to, as /oncalls reports them.
func unclipped(sc *Schedule, es []Entry, since, until time.Time) []Entry {
	if len(es) == 0 {
		return es
	}
	wide := final(sc, since.AddDate(0, 0, -90), until.AddDate(0, 0, 90))
	for i := range es {
		for _, w := range wide {
			if w.UserID == es[i].UserID && !es[i].Start.Before(w.Start) && !es[i].End.After(w.End) {
				es[i] = w
				break
			}
		}
	}
	return es
}

func parseWindow(r *http.Request, now time.Time) (since, until time.Time, err error) {
	since, until = now, now
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			return since, until, fmt.Errorf("since %q: %w", v, err)
		}
		until = since
	}
	if v := r.URL.Query().Get("until"); v != "" {
		if until, err = time.Parse(time.RFC3339, v); err != nil {
			return since, until, fmt.Errorf("until %q: %w", v, err)
		}
	}
	if until.Before(since) {
		return since, until, fmt.Errorf("until before since")
	}
	if until.Equal(since) {
		// PagerDuty treats an instant as "who is on call at that moment".
		until = since.Add(time.Second)
	}
	return since.UTC(), until.UTC(), nil
}

func paging(r *http.Request) (limit, offset int, ok bool) {
	limit, offset = 25, 0
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, false
		}
		limit = min(n, 100)
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

func page[T any](items []T, limit, offset int, wantTotal bool) ([]T, map[string]any) {
	end := min(offset+limit, len(items))
	var out []T
	if offset < len(items) {
		out = items[offset:end]
	}
	if out == nil {
		out = []T{}
	}
	meta := map[string]any{"limit": limit, "offset": offset, "more": end < len(items), "total": nil}
	if wantTotal {
		meta["total"] = len(items)
	}
	return out, meta
}

func inList(q []string, v string) bool {
	if len(q) == 0 {
		return true
	}
	for _, x := range q {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) listOnCalls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	since, until, err := parseWindow(r, s.now())
	if err != nil {
		invalidInput(w, err.Error())
		return
	}
	q := r.URL.Query()
	schedIDs, epIDs := q["schedule_ids[]"], q["escalation_policy_ids[]"]
	fullUsers := inList(q["include[]"], "users") && len(q["include[]"]) > 0
	var items []map[string]any
	for _, ep := range s.policies {
		if !inList(epIDs, ep.ID) {
			continue
		}
		epRef := map[string]any{"id": ep.ID, "type": "escalation_policy_reference", "summary": ep.Name}
		for _, rule := range ep.Rules {
			if rule.UserID != "" {
				if len(schedIDs) > 0 {
					continue
				}
				items = append(items, map[string]any{"user": s.userRef(rule.UserID, fullUsers), "schedule": nil,
					"escalation_policy": epRef, "escalation_level": rule.Level, "start": nil, "end": nil})
				continue
			}
			sc, ok := s.schedules[rule.ScheduleID]
			if !ok || !inList(schedIDs, sc.ID) {
				continue
			}
			for _, e := range unclipped(sc, final(sc, since, until), since, until) {
				items = append(items, map[string]any{
					"user":              s.userRef(e.UserID, fullUsers),
					"schedule":          map[string]any{"id": sc.ID, "type": "schedule_reference", "summary": sc.Name},
					"escalation_policy": epRef, "escalation_level": rule.Level,
					"start": ts(e.Start), "end": ts(e.End),
				})
			}
		}
	}
	writeList(w, r, "oncalls", items)
}

func (s *Server) scheduleJSON(sc *Schedule, since, until time.Time) map[string]any {
	rendered := func(es []Entry) []map[string]any {
		out := []map[string]any{}
		for _, e := range es {
			out = append(out, map[string]any{"start": ts(e.Start), "end": ts(e.End), "user": s.userRef(e.UserID, false)})
		}
		return out
	}
	tz := sc.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	var layers []map[string]any
	for i, l := range sc.Layers {
		single := &Schedule{Layers: [][]Entry{l}}
		layers = append(layers, map[string]any{"id": fmt.Sprintf("PL%03d", i+1), "name": fmt.Sprintf("Layer %d", i+1),
			"rendered_schedule_entries": rendered(final(single, since, until))})
	}
	ov := &Schedule{Overrides: sc.Overrides}
	return map[string]any{
		"id": sc.ID, "type": "schedule", "summary": sc.Name, "name": sc.Name, "time_zone": tz,
		"self": s.URL + "/schedules/" + sc.ID, "html_url": "https://example.pagerduty.com/schedules/" + sc.ID,
		"schedule_layers":      layers,
		"override_subschedule": map[string]any{"name": "Overrides", "rendered_schedule_entries": rendered(final(ov, since, until))},
		"final_schedule":       map[string]any{"name": "Final Schedule", "rendered_schedule_entries": rendered(final(sc, since, until))},
	}
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedule(w, r)
	if !ok {
		return
	}
	now := s.now()
	since, until, err := parseWindow(r, now)
	if err != nil {
		invalidInput(w, err.Error())
		return
	}
	if r.URL.Query().Get("until") == "" {
		// PagerDuty renders a week by default.
		until = since.AddDate(0, 0, 7)
	}
	writeJSON(w, http.StatusOK, map[string]any{"schedule": s.scheduleJSON(sc, since, until)})
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.schedules))
	for id := range s.schedules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var items []map[string]any
	for _, id := range ids {
		sc := s.schedules[id]
		tz := sc.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		items = append(items, map[string]any{"id": sc.ID, "type": "schedule", "summary": sc.Name, "name": sc.Name, "time_zone": tz})
	}
	writeList(w, r, "schedules", items)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := s.users[id]; !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.userRef(id, true)})
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []map[string]any
	for _, svc := range s.services {
		items = append(items, map[string]any{"id": svc.ID, "type": "service", "summary": svc.Name, "name": svc.Name,
			"status": "active", "escalation_policy": map[string]any{"id": svc.EscalationPolicyID, "type": "escalation_policy_reference"}})
	}
	writeList(w, r, "services", items)
}

type createBody struct {
	Incident struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Service *struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"service"`
		IncidentKey string `json:"incident_key"`
		Body        *struct {
			Type    string `json:"type"`
			Details string `json:"details"`
		} `json:"body"`
	} `json:"incident"`
}

func (s *Server) createIncident(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, ok := s.requester(r)
	if !ok {
		invalidInput(w, "Requester User Not Found")
		return
	}
	var body createBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		invalidInput(w, "Invalid JSON")
		return
	}
	in := body.Incident
	if in.Type != "incident" || strings.TrimSpace(in.Title) == "" || in.Service == nil || in.Service.Type != "service_reference" {
		invalidInput(w, "Incident type, title and service reference are required.")
		return
	}
	var svc *Service
	for i := range s.services {
		if s.services[i].ID == in.Service.ID {
			svc = &s.services[i]
		}
	}
	if svc == nil {
		invalidInput(w, "Service not found.")
		return
	}
	if in.IncidentKey != "" {
		for _, old := range s.incidents {
			if old.ServiceID == svc.ID && old.IncidentKey == in.IncidentKey && old.Status != statusResolved {
				writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided",
					[]string{fmt.Sprintf("Open incident with key '%s' already exists.", in.IncidentKey)})
				return
			}
		}
	}
	now := s.now().UTC()
	inc := Incident{ID: fmt.Sprintf("PINC%04d", len(s.incidents)+1), Number: len(s.incidents) + 1, Title: in.Title,
		ServiceID: svc.ID, IncidentKey: in.IncidentKey, From: from, CreatedAt: now, Status: statusTriggered}
	if in.Body != nil {
		inc.Details = in.Body.Details
	}
	inc.Assignees = s.firstLevel(svc.EscalationPolicyID, now)
	s.incidents = append(s.incidents, inc)
	writeJSON(w, http.StatusCreated, map[string]any{"incident": s.incidentJSON(&inc)})
}

func (s *Server) firstLevel(epID string, at time.Time) []string {
	for _, ep := range s.policies {
		if ep.ID != epID {
			continue
		}
		for _, rule := range ep.Rules {
			if rule.Level != 1 {
				continue
			}
			if rule.UserID != "" {
				return []string{rule.UserID}
			}
			if sc, ok := s.schedules[rule.ScheduleID]; ok {
				for _, e := range final(sc, at, at.Add(time.Second)) {
					return []string{e.UserID}
				}
			}
		}
	}
	return nil
}
