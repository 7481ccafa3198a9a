package web

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestSettingsYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Settings
		wantErr string
	}{
		{name: "everything", yaml: `
public_url: https://opsbot.example.com/
addr: ":8081"
link_validity: 72h
previous_key_until: 2026-04-01T00:00:00Z
`, want: Settings{PublicURL: "https://opsbot.example.com/", Addr: ":8081", LinkValidity: 72 * time.Hour,
			PreviousKeyUntil: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "empty", yaml: "{}", want: Settings{}},
		{name: "unknown key", yaml: "public_url: https://x.example\nlink_key: secret\n", wantErr: `line 2: web: unknown key "link_key"`},
		{name: "not a URL", yaml: "public_url: opsbot.example.com\n", wantErr: "line 1: web.public_url: "},
		{name: "javascript URL", yaml: "public_url: \"javascript:alert(1)\"\n", wantErr: "web.public_url"},
		{name: "URL with a query", yaml: "public_url: https://x.example/?a=1\n", wantErr: "no query"},
		{name: "bad addr", yaml: "addr: 8081\n", wantErr: "line 1: web.addr"},
		{name: "negative validity", yaml: "link_validity: -1h\n", wantErr: "web.link_validity: -1h0m0s is negative"},
		{name: "tiny validity", yaml: "link_validity: 5s\n", wantErr: "too short"},
		{name: "endless validity", yaml: "\nlink_validity: 9000h\n", wantErr: "line 2: web.link_validity: 9000h0m0s is longer than"},
		{name: "validity not a duration", yaml: "link_validity: a week\n", wantErr: "web.link_validity"},
		{name: "date not RFC 3339", yaml: "previous_key_until: next tuesday\n", wantErr: "web.previous_key_until"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Settings
			err := yaml.Unmarshal([]byte(tt.yaml), &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s != tt.want {
				t.Errorf("got %+v, want %+v", s, tt.want)
			}
		})
	}
}
