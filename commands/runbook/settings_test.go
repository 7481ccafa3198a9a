package runbook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/runbooks"
)

func TestSettingsYAML(t *testing.T) {
	var s Settings
	src := "dir: /etc/opsbot/runbooks\nredact: ['tok-[0-9]+']\nmax_output: 4096\napproval_ttl: 10m\nmax_runs_per_person: 5\nisolation: group\n"
	if err := yaml.Unmarshal([]byte(src), &s); err != nil {
		t.Fatal(err)
	}
	want := Settings{Dir: "/etc/opsbot/runbooks", Redact: []string{"tok-[0-9]+"}, MaxOutput: 4096, ApprovalTTL: 10 * time.Minute,
		MaxRunsPerPerson: 5, Isolation: runbooks.IsolationGroup}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}

	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "dir: rb\ndirectory: rb\n", `line 2: runbooks: unknown key "directory"`},
		{"bad pattern", "redact: [ok, '(']\n", `line 1: runbooks.redact: "(" is not a regular expression`},
		{"pattern on its own line", "redact:\n  - ok\n  - '[a-'\n", `line 3: runbooks.redact: "[a-" is not a regular expression`},
		{"negative output", "max_output: -1\n", "line 1: runbooks.max_output: -1 is negative"},
		{"negative ttl", "approval_ttl: -1m\n", "line 1: runbooks.approval_ttl: -1m0s is negative"},
		{"ttl not a duration", "approval_ttl: 15\n", "line 1: runbooks.approval_ttl: expected a duration such as 30s or 5m, got the number `15`"},
		{"negative run limit", "dir: rb\nmax_runs_per_person: -2\n", "line 2: runbooks.max_runs_per_person: -2 is negative"},
		{"run limit not a number", "max_runs_per_person: many\n", "line 1: runbooks.max_runs_per_person"},
		{"unknown isolation", "dir: rb\n\nisolation: chroot\n", `line 3: runbooks.isolation: "chroot" is not an isolation mode (want auto, namespace or group)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Settings
			err := yaml.Unmarshal([]byte(tt.yaml), &s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	var s Settings
	if err := yaml.Unmarshal([]byte("dir: rb\n"), &s); err != nil {
		t.Fatal(err)
	}
	if s.Isolation != "" || s.MaxRunsPerPerson != 0 {
		t.Errorf("got isolation %q, limit %d; want zero values (auto and 3 apply in New)", s.Isolation, s.MaxRunsPerPerson)
	}
}
