package fakepd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

const token = "fake-token"

var t0 = time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)

func server(t *testing.T) *fakepd.Server {
	f := fakepd.New(t, token)
	f.SetNow(func() time.Time { return t0 })
	f.AddUser(fakepd.User{ID: "PA", Name: "Anna", Email: "anna@example.com"})
	f.AddUser(fakepd.User{ID: "PB", Name: "Ben", Email: "ben@example.com"})
	f.SetSchedule(fakepd.Schedule{ID: "PS", Name: "payments",
		Layers: [][]fakepd.Entry{
			{{UserID: "PA", Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}},
			// A later layer wins where it covers.
			{{UserID: "PB", Start: t0.Add(30 * time.Minute), End: t0.Add(40 * time.Minute)}},
		},
		Overrides: []fakepd.Entry{{UserID: "PB", Start: t0.Add(-10 * time.Minute), End: t0.Add(-5 * time.Minute)}},
	})
	f.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PE", Name: "ep", Rules: []fakepd.Rule{{Level: 1, ScheduleID: "PS"}, {Level: 2, UserID: "PB"}}})
	f.AddService(fakepd.Service{ID: "PSVC", Name: "checkout", EscalationPolicyID: "PE"})
	return f
}

func do(t *testing.T, f *fakepd.Server, method, path, auth, from, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if from != "" {
		req.Header.Set("From", from)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, path, raw, err)
	}
	return resp.StatusCode, resp.Header, out
}

func TestAuthAndFaults(t *testing.T) {
	tests := []struct {
		name       string
		auth       string
		fault      *fakepd.Fault
		wantStatus int
		wantRetry  string
	}{
		{name: "no token", wantStatus: 401},
		{name: "bearer is not a REST token", auth: "Bearer " + token, wantStatus: 401},
		{name: "good token", auth: "Token token=" + token, wantStatus: 200},
		{name: "injected 429", auth: "Token token=" + token, fault: &fakepd.Fault{Status: 429, RetryAfter: "3"}, wantStatus: 429, wantRetry: "3"},
		{name: "injected 500", auth: "Token token=" + token, fault: &fakepd.Fault{Status: 500}, wantStatus: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := server(t)
			if tc.fault != nil {
				f.FailNext(1, *tc.fault)
			}
			status, h, body := do(t, f, "GET", "/schedules", tc.auth, "", "")
			if status != tc.wantStatus || h.Get("Retry-After") != tc.wantRetry {
				t.Errorf("got %d Retry-After %q, want %d %q", status, h.Get("Retry-After"), tc.wantStatus, tc.wantRetry)
			}
			if status != 200 {
				if _, ok := body["error"].(map[string]any); !ok {
					t.Errorf("got body %v, want PagerDuty's {\"error\": {...}}", body)
				}
			}
		})
	}
}

func TestOnCallsFinalScheduleAndPaging(t *testing.T) {
	f := server(t)
	auth := "Token token=" + token
	q := "/oncalls?schedule_ids[]=PS&since=2026-03-30T08:00:00Z&until=2026-03-30T10:00:00Z&limit=2&total=true"
	_, _, body := do(t, f, "GET", q, auth, "", "")
	// Anna, Ben (override), Anna, Ben (layer 2), Anna: five entries.
	if body["total"] != float64(5) || body["more"] != true || body["limit"] != float64(2) || len(body["oncalls"].([]any)) != 2 {
		t.Fatalf("got page %v, want 2 of 5 with more", body)
	}
	_, _, last := do(t, f, "GET", q+"&offset=4", auth, "", "")
	if last["more"] != false || len(last["oncalls"].([]any)) != 1 {
		t.Errorf("got last page %v, want 1 entry and more=false", last)
	}
	_, _, sched := do(t, f, "GET", "/schedules/PS?since=2026-03-30T09:00:00Z&until=2026-03-30T10:00:00Z", auth, "", "")
	entries := sched["schedule"].(map[string]any)["final_schedule"].(map[string]any)["rendered_schedule_entries"].([]any)
	var got []string
	for _, e := range entries {
		m := e.(map[string]any)
		got = append(got, m["user"].(map[string]any)["id"].(string)+"@"+m["start"].(string))
	}
	want := []string{"PA@2026-03-30T09:00:00Z", "PB@2026-03-30T09:30:00Z", "PA@2026-03-30T09:40:00Z"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("final schedule %v, want %v", got, want)
	}
	if status, _, _ := do(t, f, "GET", "/schedules/NOPE", auth, "", ""); status != 404 {
		t.Errorf("unknown schedule: got %d, want 404", status)
	}
}

func TestCreateIncidentNeedsFrom(t *testing.T) {
	f := server(t)
	auth := "Token token=" + token
	body := `{"incident":{"type":"incident","title":"down","service":{"id":"PSVC","type":"service_reference"},"incident_key":"K1"}}`
	if status, _, _ := do(t, f, "POST", "/incidents", auth, "", body); status != 400 {
		t.Errorf("without From: got %d, want 400", status)
	}
	status, _, resp := do(t, f, "POST", "/incidents", auth, "anna@example.com", body)
	if status != 201 {
		t.Fatalf("got %d %v, want 201", status, resp)
	}
	inc := resp["incident"].(map[string]any)
	assignee := inc["assignments"].([]any)[0].(map[string]any)["assignee"].(map[string]any)["id"]
	if inc["id"] != "PINC0001" || assignee != "PA" {
		t.Errorf("got incident %v, want PINC0001 assigned to PA (level 1 at t0)", inc)
	}
	if status, _, _ := do(t, f, "POST", "/incidents", auth, "anna@example.com", body); status != 400 {
		t.Errorf("duplicate incident_key: got %d, want 400", status)
	}
	if got := f.Incidents(); len(got) != 1 || got[0].From != "anna@example.com" {
		t.Errorf("got incidents %+v, want one from anna@example.com", got)
	}
}
