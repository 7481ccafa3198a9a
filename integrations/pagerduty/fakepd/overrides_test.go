package fakepd_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

// TestOverridesWire speaks to the overrides endpoints as PagerDuty's API
// does: shapes, the errors of a bad window, unknown schedules and
// overrides, per-route faults, and deletion that truncates an override
// already under way.
func TestOverridesWire(t *testing.T) {
	f := server(t)
	auth := "Token token=" + token
	raw := func(method, path, body string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	body := func(user string, from, to time.Duration) string {
		return `{"override":{"start":"` + ts(from) + `","end":"` + ts(to) + `","user":{"id":"` + user + `","type":"user_reference"}}}`
	}
	steps := []struct {
		name           string
		method, path   string
		body           string
		fault          bool
		wantStatus     int
		wantInBody     string
		wantRetryAfter string
	}{
		{name: "create", method: "POST", path: "/schedules/PS/overrides", body: body("PB", 2*time.Hour, 3*time.Hour),
			wantStatus: 201, wantInBody: `"override":{"end":"2026-03-30T12:00:00Z","id":"PQ00002","self":`},
		{name: "reversed window", method: "POST", path: "/schedules/PS/overrides", body: body("PB", 3*time.Hour, 2*time.Hour),
			wantStatus: 400, wantInBody: `"code":2001`},
		{name: "unknown user", method: "POST", path: "/schedules/PS/overrides", body: body("PX", time.Hour, 2*time.Hour),
			wantStatus: 400, wantInBody: "User not found"},
		{name: "unknown schedule", method: "POST", path: "/schedules/PX/overrides", body: body("PB", time.Hour, 2*time.Hour),
			wantStatus: 404, wantInBody: `"code":2100`},
		{name: "list needs a window", method: "GET", path: "/schedules/PS/overrides", wantStatus: 400, wantInBody: "Since and until are required"},
		{name: "list", method: "GET", path: "/schedules/PS/overrides?since=" + ts(time.Hour) + "&until=" + ts(4*time.Hour),
			wantStatus: 200, wantInBody: `"id":"PQ00002"`},
		{name: "rate limited", method: "POST", path: "/schedules/PS/overrides", body: body("PB", 5*time.Hour, 6*time.Hour), fault: true,
			wantStatus: 429, wantRetryAfter: "7"},
		{name: "delete a future override", method: "DELETE", path: "/schedules/PS/overrides/PQ00002", wantStatus: 204},
		{name: "delete it again", method: "DELETE", path: "/schedules/PS/overrides/PQ00002", wantStatus: 404},
		{name: "delete one under way truncates it", method: "POST", path: "/schedules/PS/overrides", body: body("PB", -time.Hour, time.Hour),
			wantStatus: 201, wantInBody: `"id":"PQ00003"`},
		{name: "truncate", method: "DELETE", path: "/schedules/PS/overrides/PQ00003", wantStatus: 200, wantInBody: `"end":"2026-03-30T09:00:00Z"`},
	}
	for _, st := range steps {
		if st.fault {
			f.FailNextOn("POST /schedules/{id}/overrides", 1, faultOf(429, "7"))
		}
		status, b, h := raw(st.method, st.path, st.body)
		if status != st.wantStatus || !strings.Contains(b, st.wantInBody) || (st.wantRetryAfter != "" && h.Get("Retry-After") != st.wantRetryAfter) {
			t.Errorf("%s: got %d %s (Retry-After %q), want %d containing %q", st.name, status, b, h.Get("Retry-After"), st.wantStatus, st.wantInBody)
		}
	}
	if n := f.Requests("POST /schedules/{id}/overrides"); n != 6 {
		t.Errorf("%d POST /schedules/{id}/overrides counted, want 6", n)
	}
}

func faultOf(status int, retryAfter string) fakepd.Fault {
	return fakepd.Fault{Status: status, RetryAfter: retryAfter}
}
