// Package fakegh is a fake GitHub REST API for tests and demos. It speaks the
// real wire format of the issue endpoints opsbot uses — POST
// /repos/{owner}/{repo}/issues, GET and PATCH /repos/{owner}/{repo}/issues/{n},
// and GET /repos/{owner}/{repo}/issues with state, sort, direction, since and
// page/per_page pagination (Link header) — with GitHub's JSON shapes, the
// x-ratelimit-* headers, and GitHub's error bodies: 401 Bad credentials,
// 404 Not Found for unknown repositories and issues, 400 Problems parsing
// JSON, 422 Validation Failed with its errors array. Tests inject failures:
// primary rate limits (403/429 with x-ratelimit-remaining: 0), secondary
// rate limits (403/429 with Retry-After and the secondary-rate-limit
// documentation URL), 5xx, latency, and "applied then failed" (the change
// is made, the answer is a 502: what a gateway timeout looks like to a
// client).
//
// Each test starts its own server with New; nothing is global.
package fakegh

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHub's documentation URLs, as its error bodies carry them. go-github
// recognises secondary rate limits by the suffix of this URL.
const (
	docsRoot           = "https://docs.github.com/rest"
	docsCreateIssue    = "https://docs.github.com/rest/issues/issues#create-an-issue"
	docsPrimaryLimit   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
	docsSecondaryLimit = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

// titleMax is GitHub's limit on issue titles.
const titleMax = 256

// Issue is an issue as the fake stores it.
type Issue struct {
	Number      int
	Title       string
	Body        string
	Labels      []string
	Assignees   []string
	State       string // "open" or "closed"
	StateReason string // "", "completed", "not_planned", "reopened"
	Author      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ClosedAt    time.Time
}

// FaultKind says how an injected failure looks.
type FaultKind int

// Kinds of injected failure.
const (
	// ServerError answers Status (default 502) with GitHub's error body.
	ServerError FaultKind = iota
	// PrimaryRateLimit answers Status (default 403) with
	// x-ratelimit-remaining: 0 and x-ratelimit-reset RetryAfter from now.
	PrimaryRateLimit
	// SecondaryRateLimit answers Status (default 403) with Retry-After and
	// the secondary-rate-limit documentation URL.
	SecondaryRateLimit
	// AppliedThenFailed makes the change and then answers 502, as a
	// gateway that timed out after the backend committed.
	AppliedThenFailed
)

// Fault is an injected failure for the next matching request(s).
type Fault struct {
	Kind FaultKind
	// Method and Path restrict the fault ("POST", "/repos/acme/ops/issues");
	// empty matches any.
	Method, Path string
	Status       int
	RetryAfter   time.Duration
	// Times is how many requests fail; 0 means 1.
	Times int
}

// Request is one request the fake answered.
type Request struct {
	Method, Path string
	Status       int
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock of created_at and updated_at (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLatency delays every answer.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// Server is the fake GitHub API.
type Server struct {
	srv     *httptest.Server
	token   string
	now     func() time.Time
	latency time.Duration

	mu       sync.Mutex
	repos    map[string]*repo // "owner/name"
	faults   []*Fault
	requests []Request
	nextID   int64
}

type repo struct {
	owner, name string
	issues      []*Issue // index = number-1
}

// New starts a server for the test and stops it at cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a server; the caller closes it.
func NewServer(opts ...Option) *Server {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	s := &Server{token: "ghp_" + hex.EncodeToString(b), now: time.Now, repos: map[string]*repo{}, nextID: 2000000000}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// URL is the API base URL, ending in "/", as go-github wants it.
func (s *Server) URL() string { return s.srv.URL + "/" }

// Token is the one token the fake accepts.
func (s *Server) Token() string { return s.token }

// AddRepo creates an empty repository "owner/name".
func (s *Server) AddRepo(full string) {
	owner, name, _ := strings.Cut(full, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[strings.ToLower(full)] = &repo{owner: owner, name: name}
}

// Fail queues f.
func (s *Server) Fail(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Issues returns a copy of a repository's issues by number.
func (s *Server) Issues(full string) []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(full)]
	if r == nil {
		return nil
	}
	out := make([]Issue, len(r.issues))
	for i, is := range r.issues {
		out[i] = *is
	}
	return out
}

// Issue returns one issue.
func (s *Server) Issue(full string, number int) (Issue, bool) {
	for _, is := range s.Issues(full) {
		if is.Number == number {
			return is, true
		}
	}
	return Issue{}, false
}

// SetState changes an issue as a person would on GitHub ("closed" with
// reason completed, or "open" to reopen).
func (s *Server) SetState(full string, number int, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(full)]
	if r == nil || number < 1 || number > len(r.issues) {
		panic(fmt.Sprintf("fakegh: no issue %s#%d", full, number))
	}
	s.setState(r.issues[number-1], state, "")
}

// Requests lists the requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

type obj = map[string]any

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.latency > 0 {
		select {
		case <-time.After(s.latency):
		case <-r.Context().Done():
			return
		}
	}
	rec := &statusRecorder{ResponseWriter: w}
	s.handle(rec, r)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: rec.status})
	s.mu.Unlock()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	h := w.Header()
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("FAKE:%d", len(s.requests)+1))
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	if !s.authorized(r) {
		// GitHub counts unauthenticated requests against a separate, low
		// limit; the body never repeats what was sent.
		s.rateHeaders(h, now, 60, 59)
		writeJSON(w, http.StatusUnauthorized, obj{"message": "Bad credentials", "documentation_url": docsRoot, "status": "401"})
		return
	}
	s.rateHeaders(h, now, 5000, 4999-len(s.requests)%4999)
	fault := s.takeFault(r)
	if fault != nil && fault.Kind != AppliedThenFailed {
		s.writeFault(w, fault, now)
		return
	}
	if fault != nil {
		// Do the work into a throwaway recorder, then fail.
		s.route(httptest.NewRecorder(), r, now)
		writeJSON(w, http.StatusBadGateway, obj{"message": "Server Error"})
		return
	}
	s.route(w, r, now)
}

func (s *Server) authorized(r *http.Request) bool {
	a := r.Header.Get("Authorization")
	for _, scheme := range []string{"Bearer ", "token "} {
		if tok, ok := strings.CutPrefix(a, scheme); ok && tok == s.token {
			return true
		}
	}
	return false
}

func (s *Server) rateHeaders(h http.Header, now time.Time, limit, remaining int) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(limit-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

func (s *Server) takeFault(r *http.Request) *Fault {
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && (f.Path == "" || f.Path == r.URL.Path) {
			f.Times--
			if f.Times <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func (s *Server) writeFault(w http.ResponseWriter, f *Fault, now time.Time) {
	h := w.Header()
	switch f.Kind {
	case PrimaryRateLimit:
		status := orDefault(f.Status, http.StatusForbidden)
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", "5000")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(f.RetryAfter).Unix(), 10))
		writeJSON(w, status, obj{"message": "API rate limit exceeded for user ID 1.",
			"documentation_url": docsPrimaryLimit, "status": strconv.Itoa(status)})
	case SecondaryRateLimit:
		status := orDefault(f.Status, http.StatusForbidden)
		if f.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		}
		writeJSON(w, status, obj{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
			"If you reach out to GitHub Support for help, please include the request ID " + h.Get("X-GitHub-Request-Id") + ".",
			"documentation_url": docsSecondaryLimit, "status": strconv.Itoa(status)})
	default:
		status := orDefault(f.Status, http.StatusBadGateway)
		if f.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		}
		msg := "Server Error"
		if status == http.StatusServiceUnavailable {
			msg = "Service Unavailable"
		}
		writeJSON(w, status, obj{"message": msg})
	}
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// route dispatches /repos/{owner}/{repo}/issues[/{n}].
func (s *Server) route(w http.ResponseWriter, r *http.Request, now time.Time) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 4 || parts[0] != "repos" || parts[3] != "issues" || len(parts) > 5 {
		notFound(w, docsRoot)
		return
	}
	rp := s.repos[strings.ToLower(parts[1]+"/"+parts[2])]
	if rp == nil {
		notFound(w, docsCreateIssue)
		return
	}
	if len(parts) == 4 {
		switch r.Method {
		case http.MethodPost:
			s.createIssue(w, r, rp, now)
		case http.MethodGet:
			s.listIssues(w, r, rp)
		default:
			notFound(w, docsRoot)
		}
		return
	}
	n, err := strconv.Atoi(parts[4])
	if err != nil || n < 1 || n > len(rp.issues) {
		notFound(w, "https://docs.github.com/rest/issues/issues#get-an-issue")
		return
	}
	is := rp.issues[n-1]
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.issueJSON(rp, is, true))
	case http.MethodPatch:
		s.updateIssue(w, r, rp, is, now)
	default:
		notFound(w, docsRoot)
	}
}

func notFound(w http.ResponseWriter, docs string) {
	writeJSON(w, http.StatusNotFound, obj{"message": "Not Found", "documentation_url": docs, "status": "404"})
}

func validationFailed(w http.ResponseWriter, errs ...obj) {
	writeJSON(w, http.StatusUnprocessableEntity, obj{"message": "Validation Failed", "errors": errs,
		"documentation_url": docsCreateIssue, "status": "422"})
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, obj{"message": "Problems parsing JSON", "documentation_url": docsCreateIssue, "status": "400"})
		return false
	}
	return true
}

func (s *Server) createIssue(w http.ResponseWriter, r *http.Request, rp *repo, now time.Time) {
	var in struct {
		Title     *string  `json:"title"`
		Body      *string  `json:"body"`
		Labels    []string `json:"labels"`
		Assignees []string `json:"assignees"`
	}
	if !readBody(w, r, &in) {
		return
	}
	switch {
	case in.Title == nil || strings.TrimSpace(*in.Title) == "":
		validationFailed(w, obj{"resource": "Issue", "code": "missing_field", "field": "title"})
		return
	case len([]rune(*in.Title)) > titleMax:
		validationFailed(w, obj{"resource": "Issue", "code": "custom", "field": "title",
			"message": fmt.Sprintf("title is too long (maximum is %d characters)", titleMax)})
		return
	}
	for _, l := range in.Labels {
		// GitHub creates missing labels, but not with a name it refuses.
		if l == "" || len([]rune(l)) > 50 {
			validationFailed(w, obj{"resource": "Label", "code": "invalid", "field": "name", "value": l})
			return
		}
	}
	for _, a := range in.Assignees {
		// The fake knows no collaborators but the token's own user.
		if a != "opsbot" {
			validationFailed(w, obj{"resource": "Issue", "code": "invalid", "field": "assignees", "value": a})
			return
		}
	}
	is := &Issue{Number: len(rp.issues) + 1, Title: *in.Title, Labels: in.Labels, Assignees: in.Assignees,
		State: "open", Author: "opsbot", CreatedAt: now, UpdatedAt: now}
	if in.Body != nil {
		is.Body = *in.Body
	}
	rp.issues = append(rp.issues, is)
	w.Header().Set("Location", s.apiURL(rp, is))
	writeJSON(w, http.StatusCreated, s.issueJSON(rp, is, false))
}

func (s *Server) updateIssue(w http.ResponseWriter, r *http.Request, rp *repo, is *Issue, now time.Time) {
	var in struct {
		Title       *string `json:"title"`
		Body        *string `json:"body"`
		State       *string `json:"state"`
		StateReason *string `json:"state_reason"`
	}
	if !readBody(w, r, &in) {
		return
	}
	if in.State != nil && *in.State != "open" && *in.State != "closed" {
		validationFailed(w, obj{"resource": "Issue", "code": "invalid", "field": "state"})
		return
	}
	if in.Title != nil {
		if strings.TrimSpace(*in.Title) == "" {
			validationFailed(w, obj{"resource": "Issue", "code": "missing_field", "field": "title"})
			return
		}
		is.Title = *in.Title
	}
	if in.Body != nil {
		is.Body = *in.Body
	}
	if in.State != nil && *in.State != is.State {
		reason := ""
		if in.StateReason != nil {
			reason = *in.StateReason
		}
		s.setState(is, *in.State, reason)
	}
	is.UpdatedAt = now
	writeJSON(w, http.StatusOK, s.issueJSON(rp, is, true))
}

func (s *Server) setState(is *Issue, state, reason string) {
	now := s.now().UTC()
	is.State, is.UpdatedAt = state, now
	if state == "closed" {
		is.ClosedAt = now
		is.StateReason = "completed"
		if reason != "" {
			is.StateReason = reason
		}
	} else {
		is.ClosedAt = time.Time{}
		is.StateReason = "reopened"
	}
}

// listIssues answers GET /repos/{owner}/{repo}/issues: state (open, closed,
// all; default open), sort (created, updated; default created), direction
// (default desc), since (updated at or after), page and per_page (default
// 30, at most 100), with a Link header.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request, rp *repo) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		validationFailed(w, obj{"resource": "Issue", "code": "invalid", "field": "state"})
		return
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			validationFailed(w, obj{"resource": "Issue", "code": "invalid", "field": "since"})
			return
		}
		since = t
	}
	var out []*Issue
	for _, is := range rp.issues {
		if (state == "all" || is.State == state) && !is.UpdatedAt.Before(since) {
			out = append(out, is)
		}
	}
	key := func(is *Issue) time.Time { return is.CreatedAt }
	if q.Get("sort") == "updated" {
		key = func(is *Issue) time.Time { return is.UpdatedAt }
	}
	asc := q.Get("direction") == "asc"
	sort.SliceStable(out, func(i, j int) bool {
		a, b := key(out[i]), key(out[j])
		if a.Equal(b) {
			if asc {
				return out[i].Number < out[j].Number
			}
			return out[i].Number > out[j].Number
		}
		if asc {
			return a.Before(b)
		}
		return a.After(b)
	})
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	last := max((len(out)+per-1)/per, 1)
	lo, hi := min((page-1)*per, len(out)), min(page*per, len(out))
	if page < last {
		link := func(p int, rel string) string {
			u := *r.URL
			v := u.Query()
			v.Set("page", strconv.Itoa(p))
			u.RawQuery = v.Encode()
			return fmt.Sprintf("<%s%s>; rel=%q", strings.TrimSuffix(s.srv.URL, "/"), u.RequestURI(), rel)
		}
		w.Header().Set("Link", link(page+1, "next")+", "+link(last, "last"))
	}
	items := make([]obj, 0, hi-lo)
	for _, is := range out[lo:hi] {
		items = append(items, s.issueJSON(rp, is, false))
	}
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) apiURL(rp *repo, is *Issue) string {
	return fmt.Sprintf("%s/repos/%s/%s/issues/%d", s.srv.URL, rp.owner, rp.name, is.Number)
}

// issueJSON is GitHub's issue object. single adds closed_by, which only the
// single-issue endpoints return.
func (s *Server) issueJSON(rp *repo, is *Issue, single bool) obj {
	api := s.apiURL(rp, is)
	repoURL := fmt.Sprintf("%s/repos/%s/%s", s.srv.URL, rp.owner, rp.name)
	user := obj{"login": "opsbot", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "Bot", "site_admin": false,
		"url": s.srv.URL + "/users/opsbot", "html_url": s.srv.URL + "/opsbot"}
	labels := make([]obj, 0, len(is.Labels))
	for i, l := range is.Labels {
		labels = append(labels, obj{"id": 100 + i, "node_id": "LA_fake" + strconv.Itoa(i), "url": repoURL + "/labels/" + url.PathEscape(l),
			"name": l, "color": "ededed", "default": false, "description": nil})
	}
	assignees := make([]obj, 0, len(is.Assignees))
	for range is.Assignees {
		assignees = append(assignees, user)
	}
	var assignee any
	if len(assignees) > 0 {
		assignee = assignees[0]
	}
	o := obj{
		"url": api, "repository_url": repoURL, "labels_url": api + "/labels{/name}", "comments_url": api + "/comments",
		"events_url": api + "/events", "timeline_url": api + "/timeline",
		"html_url": fmt.Sprintf("%s/%s/%s/issues/%d", s.srv.URL, rp.owner, rp.name, is.Number),
		"id":       s.nextID + int64(is.Number), "node_id": fmt.Sprintf("I_kwDOfake%d", is.Number),
		"number": is.Number, "title": is.Title, "user": user, "labels": labels, "state": is.State,
		"locked": false, "assignee": assignee, "assignees": assignees, "milestone": nil, "comments": 0,
		"created_at": is.CreatedAt.Format(time.RFC3339), "updated_at": is.UpdatedAt.Format(time.RFC3339),
		"closed_at": nil, "author_association": "NONE", "active_lock_reason": nil, "body": nil,
		"state_reason": nil, "reactions": obj{"url": api + "/reactions", "total_count": 0},
	}
	if is.Body != "" {
		o["body"] = is.Body
	}
	if !is.ClosedAt.IsZero() {
		o["closed_at"] = is.ClosedAt.Format(time.RFC3339)
	}
	if is.StateReason != "" {
		o["state_reason"] = is.StateReason
	}
	if single {
		o["closed_by"] = nil
		if is.State == "closed" {
			o["closed_by"] = user
		}
	}
	return o
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
