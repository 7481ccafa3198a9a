package fakepd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// The overrides API (GET/POST /schedules/{id}/overrides, DELETE
// /schedules/{id}/overrides/{override_id}) and the user search (GET /users)
// that finds a PagerDuty account by e-mail, with PagerDuty's shapes and
// errors: 400 with code 2001 for an invalid window or an unknown user, 404
// with code 2100 for an unknown schedule or override, and whatever
// FailNextOn injects.

func (s *Server) handleOverrides(mux *http.ServeMux) {
	mux.HandleFunc("GET /schedules/{id}/overrides", s.listOverrides)
	mux.HandleFunc("POST /schedules/{id}/overrides", s.createOverride)
	mux.HandleFunc("DELETE /schedules/{id}/overrides/{oid}", s.deleteOverride)
	mux.HandleFunc("GET /users", s.listUsers)
}

// routeOf names a request's route for Requests and FailNextOn, e.g.
// "POST /schedules/{id}/overrides".
func routeOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/schedules/") && strings.Contains(p, "/overrides/"):
		return r.Method + " /schedules/{id}/overrides/{override_id}"
	case strings.HasPrefix(p, "/schedules/") && strings.HasSuffix(p, "/overrides"):
		return r.Method + " /schedules/{id}/overrides"
	case strings.HasPrefix(p, "/schedules/"):
		return r.Method + " /schedules/{id}"
	case strings.HasPrefix(p, "/users/"):
		return r.Method + " /users/{id}"
	case strings.HasPrefix(p, "/incidents/"):
		return r.Method + " /incidents/{id}"
	}
	return r.Method + " " + p
}

// FailNextOn makes the next n requests of one route (as Requests names it,
// e.g. "POST /schedules/{id}/overrides") fail with f; other routes answer
// normally.
func (s *Server) FailNextOn(route string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.routeFaults == nil {
		s.routeFaults = map[string][]Fault{}
	}
	for i := 0; i < n; i++ {
		s.routeFaults[route] = append(s.routeFaults[route], f)
	}
}

// Override is an override as the fake holds it.
type Override struct {
	ID, ScheduleID, UserID string
	Start, End             time.Time
}

// Overrides returns the overrides of a schedule, oldest first.
func (s *Server) Overrides(scheduleID string) []Override {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedules[scheduleID]
	if !ok {
		return nil
	}
	out := make([]Override, 0, len(sc.Overrides))
	for _, e := range sc.Overrides {
		out = append(out, Override{ID: e.ID, ScheduleID: scheduleID, UserID: e.UserID, Start: e.Start, End: e.End})
	}
	return out
}

func (s *Server) nextOverrideIDLocked() string {
	s.overrideSeq++
	return fmt.Sprintf("PQ%05d", s.overrideSeq)
}

// newestCovering returns who the most recently created override covering t
// puts on call: PagerDuty lets a later override win over an earlier one.
func newestCovering(es []Entry, t time.Time) string {
	for i := len(es) - 1; i >= 0; i-- {
		if e := es[i]; !t.Before(e.Start) && t.Before(e.End) {
			return e.UserID
		}
	}
	return ""
}

func (s *Server) overrideJSON(sc *Schedule, e Entry) map[string]any {
	return map[string]any{
		"id": e.ID, "type": "override", "start": ts(e.Start), "end": ts(e.End),
		"user": s.userRef(e.UserID, false),
		"self": s.URL + "/schedules/" + sc.ID + "/overrides/" + e.ID,
	}
}

func (s *Server) listOverrides(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedule(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Get("since") == "" || q.Get("until") == "" {
		invalidInput(w, "Since and until are required.")
		return
	}
	since, until, err := parseWindow(r, s.now())
	if err != nil {
		invalidInput(w, err.Error())
		return
	}
	out := []map[string]any{}
	for _, e := range sc.Overrides {
		if e.Start.Before(until) && e.End.After(since) {
			out = append(out, s.overrideJSON(sc, e))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"overrides": out, "total": len(out)})
}

type overrideBody struct {
	Start string `json:"start"`
	End   string `json:"end"`
	User  *struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"user"`
}

func (s *Server) createOverride(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedule(w, r)
	if !ok {
		return
	}
	// PagerDuty takes one override as {"override": …} or several as
	// {"overrides": […]}; go-pagerduty sends the first form.
	var body struct {
		Override *overrideBody `json:"override"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Override == nil {
		invalidInput(w, "Override is required.")
		return
	}
	o := body.Override
	start, serr := time.Parse(time.RFC3339, o.Start)
	end, eerr := time.Parse(time.RFC3339, o.End)
	switch {
	case serr != nil || eerr != nil:
		invalidInput(w, "Start and end must be ISO 8601 date-times.")
		return
	case !end.After(start):
		invalidInput(w, "Override end must be after its start.")
		return
	case o.User == nil || o.User.ID == "" || (o.User.Type != "user_reference" && o.User.Type != "user"):
		invalidInput(w, "User reference is required.")
		return
	}
	if _, ok := s.users[o.User.ID]; !ok {
		invalidInput(w, "User not found.")
		return
	}
	e := Entry{ID: s.nextOverrideIDLocked(), UserID: o.User.ID, Start: start.UTC(), End: end.UTC()}
	sc.Overrides = append(sc.Overrides, e)
	writeJSON(w, http.StatusCreated, map[string]any{"override": s.overrideJSON(sc, e)})
}

func (s *Server) deleteOverride(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedule(w, r)
	if !ok {
		return
	}
	id := r.PathValue("oid")
	for i, e := range sc.Overrides {
		if e.ID != id {
			continue
		}
		now := s.now().UTC()
		if e.Start.Before(now) && e.End.After(now) {
			// An override under way is cut short, not removed: the past
			// stays as it was.
			sc.Overrides[i].End = now
			writeJSON(w, http.StatusOK, map[string]any{"override": s.overrideJSON(sc, sc.Overrides[i])})
			return
		}
		sc.Overrides = append(sc.Overrides[:i], sc.Overrides[i+1:]...)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	notFound(w)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	query := strings.ToLower(r.URL.Query().Get("query"))
	ids := make([]string, 0, len(s.users))
	for id, u := range s.users {
		// PagerDuty's query matches the start of names and addresses.
		if query == "" || strings.HasPrefix(strings.ToLower(u.Email), query) || strings.HasPrefix(strings.ToLower(u.Name), query) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	items := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		items = append(items, s.userRef(id, true))
	}
	writeList(w, r, "users", items)
}
