package alertmanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// StandIn is an in-process stand-in for the silence endpoints of
// Alertmanager's API v2 (POST and GET /api/v2/silences, DELETE
// /api/v2/silence/{id}, GET /-/ready), so that console mode can show the
// Silence buttons working without an Alertmanager. It is NOT Alertmanager:
// silences live in memory and silence nothing, since no alerts flow through
// it. It validates silences as Alertmanager does and answers in its wire
// format, and the tests run the same scenarios against it and the real
// binary. Serve it on a loopback listener and point a Client at it. The
// console's own stand-in for Alertmanager's notifications asks Mutes, so
// that a silence made from Slack mutes what the console sends as it would in
// Alertmanager.
type StandIn struct {
	now func() time.Time

	mu       sync.Mutex
	silences map[string]*standInSilence
	order    []string
}

type standInSilence struct {
	postableSilence
	updated time.Time
}

// NewStandIn returns an empty stand-in; now is its clock (nil for the
// system clock).
func NewStandIn(now func() time.Time) *StandIn {
	if now == nil {
		now = time.Now
	}
	return &StandIn{now: now, silences: map[string]*standInSilence{}}
}

// ServeHTTP implements http.Handler.
func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/-/ready":
		w.Write([]byte("OK"))
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/silences":
		s.post(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/silences":
		s.list(w)
	case r.Method == http.MethodDelete && len(r.URL.Path) > len("/api/v2/silence/") && r.URL.Path[:len("/api/v2/silence/")] == "/api/v2/silence/":
		s.expire(w, r.URL.Path[len("/api/v2/silence/"):])
	default:
		http.NotFound(w, r)
	}
}

func (s *StandIn) post(w http.ResponseWriter, r *http.Request) {
	var in postableSilence
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		writeAPIError(w, http.StatusBadRequest, "failed to decode silence: "+err.Error())
		return
	}
	now := s.now().UTC()
	if err := validateStandIn(in); err != nil {
		writeAPIError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !in.StartsAt.Before(in.EndsAt) {
		writeAPIError(w, http.StatusBadRequest, "Failed to create silence: start time must be before end time")
		return
	}
	if in.EndsAt.Before(now) {
		writeAPIError(w, http.StatusBadRequest, "Failed to create silence: end time can't be in the past")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.ID != "" {
		if _, ok := s.silences[in.ID]; !ok {
			writeAPIError(w, http.StatusNotFound, "not found")
			return
		}
	} else {
		in.ID = uuid.NewString()
		s.order = append(s.order, in.ID)
	}
	if in.StartsAt.Before(now) {
		in.StartsAt = now
	}
	in.Status, in.UpdatedAt = nil, nil
	s.silences[in.ID] = &standInSilence{postableSilence: in, updated: now}
	writeJSON(w, http.StatusOK, map[string]string{"silenceID": in.ID})
}

func validateStandIn(in postableSilence) error {
	if len(in.Matchers) == 0 {
		return errors.New("at least one matcher required")
	}
	allEmpty := true
	for i, m := range in.Matchers {
		if m.Name == "" || !utf8.ValidString(m.Name) {
			return fmt.Errorf("invalid label matcher %d: invalid label name %q", i, m.Name)
		}
		eq := m.IsEqual == nil || *m.IsEqual
		matchesEmpty := false
		if m.IsRegex {
			re, err := regexp.Compile("^(?:" + m.Value + ")$")
			if err != nil {
				return fmt.Errorf("invalid label matcher %d: invalid regular expression %q", i, m.Value)
			}
			matchesEmpty = eq && re.MatchString("")
		} else {
			matchesEmpty = eq && m.Value == ""
		}
		allEmpty = allEmpty && matchesEmpty
	}
	if allEmpty {
		return errors.New("at least one matcher must not match the empty string")
	}
	if in.StartsAt.IsZero() || in.EndsAt.IsZero() {
		return errors.New("invalid zero start or end timestamp")
	}
	return nil
}

func (s *StandIn) list(w http.ResponseWriter) {
	now := s.now().UTC()
	s.mu.Lock()
	out := make([]postableSilence, 0, len(s.order))
	for _, id := range s.order {
		sil := s.silences[id]
		p := sil.postableSilence
		st := "active"
		switch {
		case !p.EndsAt.After(now):
			st = "expired"
		case p.StartsAt.After(now):
			st = "pending"
		}
		updated := sil.updated
		p.Status, p.UpdatedAt = &silenceStatus{State: st}, &updated
		out = append(out, p)
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].EndsAt.After(out[j].EndsAt) })
	writeJSON(w, http.StatusOK, out)
}

func (s *StandIn) expire(w http.ResponseWriter, id string) {
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	sil, ok := s.silences[id]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if sil.EndsAt.After(now) {
		sil.EndsAt, sil.updated = now, now
		if sil.StartsAt.After(now) {
			sil.StartsAt = now
		}
	}
	w.WriteHeader(http.StatusOK)
}

// Mutes reports whether an active silence matches labels, as Alertmanager's
// silence stage decides (every matcher of the silence must match; a label
// that is absent has the empty value; regular expressions are anchored).
func (s *StandIn) Mutes(labels map[string]string) bool {
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.order {
		sil := s.silences[id]
		if sil.StartsAt.After(now) || !sil.EndsAt.After(now) {
			continue
		}
		if matchesAll(sil.Matchers, labels) {
			return true
		}
	}
	return false
}

func matchesAll(ms []matcher, labels map[string]string) bool {
	for _, m := range ms {
		v := labels[m.Name]
		ok := v == m.Value
		if m.IsRegex {
			re, err := regexp.Compile("^(?:" + m.Value + ")$")
			if err != nil {
				return false // refused when posted; never here
			}
			ok = re.MatchString(v)
		}
		if m.IsEqual != nil && !*m.IsEqual {
			ok = !ok
		}
		if !ok {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeAPIError answers as API v2 does: a JSON string.
func writeAPIError(w http.ResponseWriter, status int, msg string) { writeJSON(w, status, msg) }
