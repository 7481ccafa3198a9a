package fakepd_test

import (
	"testing"

	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

// errorOf returns PagerDuty's error object of an answer: code, message and
// reasons.
func errorOf(t *testing.T, body map[string]any) (float64, string, []any) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("got body %v, want PagerDuty's {\"error\": {...}}", body)
	}
	errs, _ := e["errors"].([]any)
	code, _ := e["code"].(float64)
	msg, _ := e["message"].(string)
	return code, msg, errs
}

func TestManageIncidentsWire(t *testing.T) {
	f := server(t)
	auth := "Token token=" + token
	create := `{"incident":{"type":"incident","title":"down","service":{"id":"PSVC","type":"service_reference"},"incident_key":"K1"}}`
	if status, _, resp := do(t, f, "POST", "/incidents", auth, "anna@example.com", create); status != 201 {
		t.Fatalf("create: got %d %v, want 201", status, resp)
	}
	resolve := func(id string) string {
		return `{"incidents":[{"id":"` + id + `","type":"incident_reference","status":"resolved"}]}`
	}

	tests := []struct {
		name       string
		from, body string
		wantStatus int
		wantCode   float64
		wantReason string
	}{
		{name: "no From", body: resolve("PINC0001"), wantStatus: 400, wantCode: 2001, wantReason: "Requester User Not Found"},
		{name: "From not a user", from: "nobody@example.com", body: resolve("PINC0001"), wantStatus: 400, wantCode: 2001, wantReason: "Requester User Not Found"},
		{name: "not JSON", from: "ben@example.com", body: `{`, wantStatus: 400, wantCode: 2001},
		{name: "no incidents", from: "ben@example.com", body: `{"incidents":[]}`, wantStatus: 400, wantCode: 2001},
		{name: "wrong type", from: "ben@example.com", body: `{"incidents":[{"id":"PINC0001","type":"service","status":"resolved"}]}`, wantStatus: 400, wantCode: 2001},
		{name: "unknown status", from: "ben@example.com", body: `{"incidents":[{"id":"PINC0001","type":"incident","status":"closed"}]}`, wantStatus: 400, wantCode: 2001},
		{name: "unknown incident", from: "ben@example.com", body: resolve("PNOPE"), wantStatus: 404, wantCode: 2100},
		{name: "resolve", from: "ben@example.com", body: resolve("PINC0001"), wantStatus: 200},
		{name: "resolve again", from: "ben@example.com", body: resolve("PINC0001"), wantStatus: 400, wantCode: 2001, wantReason: "Incident Already Resolved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, f, "PUT", "/incidents", auth, tc.from, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("got %d %v, want %d", status, body, tc.wantStatus)
			}
			if status == 200 {
				incs, _ := body["incidents"].([]any)
				if len(incs) != 1 || incs[0].(map[string]any)["status"] != "resolved" {
					t.Errorf("got %v, want the incident, resolved", body)
				}
				return
			}
			code, _, errs := errorOf(t, body)
			if code != tc.wantCode {
				t.Errorf("got code %v, want %v", code, tc.wantCode)
			}
			if tc.wantReason != "" && (len(errs) != 1 || errs[0] != tc.wantReason) {
				t.Errorf("got reasons %v, want [%q]", errs, tc.wantReason)
			}
		})
	}

	got := f.Incidents()
	if len(got) != 1 || got[0].Status != "resolved" || got[0].ResolvedBy != "ben@example.com" || !got[0].ResolvedAt.Equal(t0) {
		t.Fatalf("got incidents %+v, want PINC0001 resolved by ben@example.com at %v", got, t0)
	}
	_, _, one := do(t, f, "GET", "/incidents/PINC0001", auth, "", "")
	inc := one["incident"].(map[string]any)
	if inc["status"] != "resolved" || inc["resolved_at"] != "2026-03-30T09:00:00Z" || len(inc["assignments"].([]any)) != 0 {
		t.Errorf("GET /incidents/PINC0001: got %v, want resolved at t0 and assigned to nobody", inc)
	}
	if status, _, _ := do(t, f, "GET", "/incidents/PNOPE", auth, "", ""); status != 404 {
		t.Errorf("GET unknown incident: got %d, want 404", status)
	}
	_, _, open := do(t, f, "GET", "/incidents?incident_key=K1&statuses[]=triggered&statuses[]=acknowledged", auth, "", "")
	if n := len(open["incidents"].([]any)); n != 0 {
		t.Errorf("open incidents with key K1: got %d, want 0", n)
	}
	// The key is free again once its incident is resolved.
	if status, _, resp := do(t, f, "POST", "/incidents", auth, "anna@example.com", create); status != 201 {
		t.Errorf("create with the key of a resolved incident: got %d %v, want 201", status, resp)
	}

	// Someone reopens it at PagerDuty; then it can be resolved again.
	if !f.SetIncidentStatus("PINC0001", "acknowledged") {
		t.Fatal("SetIncidentStatus: no PINC0001")
	}
	if status, _, body := do(t, f, "PUT", "/incidents", auth, "ben@example.com", resolve("PINC0001")); status != 200 {
		t.Errorf("resolve the reopened incident: got %d %v, want 200", status, body)
	}
}

func TestManageIncidentsFaults(t *testing.T) {
	f := server(t)
	auth := "Token token=" + token
	f.FailNextOn("PUT /incidents", 1, fakepd.Fault{Status: 429, RetryAfter: "2"})
	status, h, body := do(t, f, "PUT", "/incidents", auth, "ben@example.com", `{"incidents":[{"id":"PNOPE","type":"incident","status":"resolved"}]}`)
	if status != 429 || h.Get("Retry-After") != "2" {
		t.Fatalf("got %d Retry-After %q, want 429 2", status, h.Get("Retry-After"))
	}
	if _, msg, _ := errorOf(t, body); msg != "Rate Limit Exceeded" {
		t.Errorf("got message %q, want Rate Limit Exceeded", msg)
	}
	// Other routes answer normally meanwhile, and the next PUT is served.
	if status, _, _ := do(t, f, "PUT", "/incidents", auth, "ben@example.com", `{"incidents":[{"id":"PNOPE","type":"incident","status":"resolved"}]}`); status != 404 {
		t.Errorf("after the fault: got %d, want 404", status)
	}
	if n := f.Requests("PUT /incidents"); n != 2 {
		t.Errorf("got %d PUT /incidents, want 2", n)
	}
}
