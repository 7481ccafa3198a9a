package bot

import (
	"testing"
	"time"
)

func TestFormatLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"none", nil, ""},
		{"sorted by name", map[string]string{"zone": "eu-1", "alertname": "Disk", "team": "ops"}, "alertname=Disk, team=ops, zone=eu-1"},
		{"raw text kept", map[string]string{"a": "<!channel>"}, "a=<!channel>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatLabels(tt.labels); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAlertGroupName(t *testing.T) {
	tests := []struct {
		name string
		g    AlertGroup
		want string
	}{
		{"common alertname", AlertGroup{CommonLabels: map[string]string{"alertname": "A"}, GroupLabels: map[string]string{"alertname": "B"}}, "A"},
		{"group alertname", AlertGroup{GroupLabels: map[string]string{"alertname": "B"}}, "B"},
		{"first alert", AlertGroup{Alerts: []Alert{{Labels: map[string]string{"alertname": "C"}}}}, "C"},
		{"group labels", AlertGroup{GroupLabels: map[string]string{"team": "ops", "env": "prod"}}, "env=prod, team=ops"},
		{"receiver", AlertGroup{Receiver: "opsbot"}, "opsbot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.g.Name(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSilenced(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    AlertGroupState
		want bool
	}{
		{"none", AlertGroupState{}, false},
		{"active", AlertGroupState{SilenceID: "x", SilencedUntil: now.Add(time.Minute)}, true},
		{"ended", AlertGroupState{SilenceID: "x", SilencedUntil: now}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Silenced(now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMentionUserEmpty(t *testing.T) {
	if got := MentionUser(""); got != "nobody yet" {
		t.Errorf("got %q, want %q", got, "nobody yet")
	}
	if got := MentionUser("U1"); got != "<@U1>" {
		t.Errorf("got %q, want <@U1>", got)
	}
}
