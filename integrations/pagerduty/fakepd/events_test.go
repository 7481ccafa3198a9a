package fakepd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestEventsWireFormat(t *testing.T) {
	s := NewEvents(t)
	s.AddRoutingKey(strings.Repeat("k", 32), "checkout")
	post := func(ct, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(s.URL+"/v2/enqueue", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	tests := []struct {
		name, ct, body string
		status         int
		want           string
	}{
		{"trigger", "application/json", `{"routing_key":"` + strings.Repeat("k", 32) + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"info"}}`, 202, "success"},
		{"form body", "application/x-www-form-urlencoded", `a=b`, 400, "invalid event"},
		{"not JSON", "application/json", `{`, 400, "invalid event"},
		{"short key", "application/json", `{"routing_key":"k","event_action":"resolve","dedup_key":"d"}`, 400, "invalid event"},
		{"no payload", "application/json", `{"routing_key":"` + strings.Repeat("k", 32) + `","event_action":"trigger"}`, 400, "invalid event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := post(tt.ct, tt.body)
			if status != tt.status || out["status"] != tt.want {
				t.Errorf("got %d %v, want %d %q", status, out, tt.status, tt.want)
			}
		})
	}
	s.FailNext(1, Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	if status, out := post("application/json", `{}`); status != http.StatusTooManyRequests || out["status"] != "throttle event" {
		t.Errorf("injected 429: got %d %v", status, out)
	}
	if n := s.Requests(); n != len(tests)+1 {
		t.Errorf("%d requests counted, want %d (failed ones included)", n, len(tests)+1)
	}
	if n := len(s.Events()); n != 1 {
		t.Errorf("accepted %d events, want 1", n)
	}
	a := s.Alerts()
	if len(a) != 1 || a[0].DedupKey == "" || a[0].Status != "triggered" {
		t.Fatalf("alerts %+v: a trigger without dedup key gets one", a)
	}
	s.RemoveRoutingKey(strings.Repeat("k", 32))
	status, out := post("application/json", `{"routing_key":"`+strings.Repeat("k", 32)+`","event_action":"resolve","dedup_key":"`+a[0].DedupKey+`"}`)
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["errors"]), "Invalid routing key") {
		t.Errorf("resolve with a removed key: got %d %v, want 400 Invalid routing key", status, out)
	}
	if a := s.Alerts(); a[0].Status != "triggered" {
		t.Errorf("alert %+v, want it left as it was", a[0])
	}
}
