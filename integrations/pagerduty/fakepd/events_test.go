package fakepd

import (
	"encoding/json"
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
	if n := len(s.Events()); n != 1 {
		t.Errorf("accepted %d events, want 1", n)
	}
	if a := s.Alerts(); len(a) != 1 || a[0].DedupKey == "" || a[0].Status != "triggered" {
		t.Errorf("alerts %+v: a trigger without dedup key gets one", a)
	}
}
