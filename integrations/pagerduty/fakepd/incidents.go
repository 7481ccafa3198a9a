package fakepd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The incidents API beyond creation: the search by key and status (GET
// /incidents), one incident (GET /incidents/{id}) and the bulk update that
// acknowledges, resolves or reopens incidents (PUT /incidents, with the
// From header of a PagerDuty user), with PagerDuty's shapes and errors: 400
// with code 2001 for a request it refuses (no known From user, a malformed
// body, resolving an incident already resolved), 404 with code 2100 for an
// unknown incident, and whatever FailNextOn injects. An update of several
// incidents changes all or none of them.

// Incident statuses.
const (
	statusTriggered    = "triggered"
	statusAcknowledged = "acknowledged"
	statusResolved     = "resolved"
)

func (s *Server) handleIncidents(mux *http.ServeMux) {
	mux.HandleFunc("GET /incidents", s.listIncidents)
	mux.HandleFunc("GET /incidents/{id}", s.getIncident)
	mux.HandleFunc("PUT /incidents", s.manageIncidents)
}

// SetIncidentStatus changes an incident's status as someone working in
// PagerDuty would ("triggered", "acknowledged" or "resolved"); false when
// there is no such incident.
func (s *Server) SetIncidentStatus(id, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc := s.incidentLocked(id)
	if inc == nil {
		return false
	}
	s.setStatusLocked(inc, status, "")
	return true
}

// incidentLocked finds an incident by ID or number, as PagerDuty accepts
// either in a path. Callers hold s.mu.
func (s *Server) incidentLocked(idOrNumber string) *Incident {
	for i := range s.incidents {
		inc := &s.incidents[i]
		if inc.ID == idOrNumber || strconv.Itoa(inc.Number) == idOrNumber {
			return inc
		}
	}
	return nil
}

func (s *Server) setStatusLocked(inc *Incident, status, by string) {
	inc.Status = status
	if status == statusResolved {
		inc.ResolvedAt, inc.ResolvedBy = s.now().UTC(), by
		return
	}
	inc.ResolvedAt, inc.ResolvedBy = time.Time{}, ""
}

// incidentJSON renders an incident as PagerDuty does. Callers hold s.mu.
func (s *Server) incidentJSON(inc *Incident) map[string]any {
	svc := map[string]any{"id": inc.ServiceID, "type": "service_reference"}
	for _, sv := range s.services {
		if sv.ID == inc.ServiceID {
			svc["summary"] = sv.Name
		}
	}
	// A resolved incident is assigned to nobody.
	assignments := []map[string]any{}
	if inc.Status != statusResolved {
		for _, id := range inc.Assignees {
			assignments = append(assignments, map[string]any{"at": ts(inc.CreatedAt), "assignee": s.userRef(id, false)})
		}
	}
	var resolvedAt any
	if inc.Status == statusResolved {
		resolvedAt = ts(inc.ResolvedAt)
	}
	return map[string]any{
		"id": inc.ID, "type": "incident", "summary": fmt.Sprintf("[#%d] %s", inc.Number, inc.Title),
		"self": s.URL + "/incidents/" + inc.ID, "html_url": "https://example.pagerduty.com/incidents/" + inc.ID,
		"incident_number": inc.Number, "title": inc.Title, "status": inc.Status, "urgency": "high",
		"incident_key": inc.IncidentKey, "created_at": ts(inc.CreatedAt), "resolved_at": resolvedAt,
		"service": svc, "assignments": assignments,
	}
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	key, services, statuses := q.Get("incident_key"), q["service_ids[]"], q["statuses[]"]
	for _, st := range statuses {
		if st != statusTriggered && st != statusAcknowledged && st != statusResolved {
			invalidInput(w, "Status must be a list of triggered, acknowledged, or resolved.")
			return
		}
	}
	var items []map[string]any
	for i := range s.incidents {
		inc := &s.incidents[i]
		if (key != "" && inc.IncidentKey != key) || !inList(services, inc.ServiceID) || !inList(statuses, inc.Status) {
			continue
		}
		items = append(items, s.incidentJSON(inc))
	}
	writeList(w, r, "incidents", items)
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc := s.incidentLocked(r.PathValue("id"))
	if inc == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": s.incidentJSON(inc)})
}

type manageBody struct {
	Incidents []struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		Status string `json:"status"`
	} `json:"incidents"`
}

func (s *Server) manageIncidents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, ok := s.requester(r)
	if !ok {
		invalidInput(w, "Requester User Not Found")
		return
	}
	var body manageBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		invalidInput(w, "Invalid JSON")
		return
	}
	if len(body.Incidents) == 0 {
		invalidInput(w, "Incidents is required.")
		return
	}
	// Everything is checked before anything changes.
	targets := make([]*Incident, len(body.Incidents))
	for i, u := range body.Incidents {
		switch {
		case u.ID == "" || (u.Type != "incident" && u.Type != "incident_reference"):
			invalidInput(w, "Incident id and type (incident or incident_reference) are required.")
			return
		case u.Status != "" && u.Status != statusTriggered && u.Status != statusAcknowledged && u.Status != statusResolved:
			invalidInput(w, "Status must be one of triggered, acknowledged, or resolved.")
			return
		}
		inc := s.incidentLocked(u.ID)
		if inc == nil {
			notFound(w)
			return
		}
		if u.Status == statusResolved && inc.Status == statusResolved {
			invalidInput(w, "Incident Already Resolved")
			return
		}
		targets[i] = inc
	}
	out := make([]map[string]any, 0, len(targets))
	for i, inc := range targets {
		// Acknowledging or triggering a resolved incident reopens it.
		if st := body.Incidents[i].Status; st != "" && st != inc.Status {
			s.setStatusLocked(inc, st, from)
		}
		out = append(out, s.incidentJSON(inc))
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": out, "limit": len(out), "offset": 0, "more": false, "total": nil})
}

// requester is the From header of a request when it names a PagerDuty
// user, as incident changes require. Callers hold s.mu.
func (s *Server) requester(r *http.Request) (string, bool) {
	from := r.Header.Get("From")
	if from == "" {
		return "", false
	}
	for _, u := range s.users {
		if strings.EqualFold(u.Email, from) {
			return from, true
		}
	}
	return "", false
}
