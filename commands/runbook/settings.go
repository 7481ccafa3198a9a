package runbook

import (
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot/yamlconf"
	"github.com/opsbot/opsbot/runbooks"
)

// Settings are the knobs of the config file's `runbooks:` section; zero
// values mean the defaults.
type Settings struct {
	// Dir is the directory of runbook files; the composition root loads it
	// (OPSBOT_RUNBOOKS wins).
	Dir string `yaml:"dir"`
	// Redact are extra regular expressions whose matches are masked in
	// runbook output.
	Redact []string `yaml:"redact"`
	// MaxOutput is how many bytes of output are kept (default 256 KiB).
	MaxOutput int `yaml:"max_output"`
	// ApprovalTTL is how long an approval request stays valid (default 15m).
	ApprovalTTL time.Duration `yaml:"approval_ttl"`
	// MaxRunsPerPerson is how many runbooks one person may have running at
	// once, across replicas (default DefaultMaxRunsPerPerson).
	MaxRunsPerPerson int `yaml:"max_runs_per_person"`
	// Isolation is how each run's processes are held together: auto (the
	// default, also when empty: a PID and user namespace where the kernel
	// allows, else the process group), namespace (required; runs are
	// refused without) or group (the process group only).
	Isolation runbooks.Isolation `yaml:"isolation"`
}

// UnmarshalYAML decodes the `runbooks:` section strictly and checks what
// would stop New, each problem with its line.
func (s *Settings) UnmarshalYAML(n *yaml.Node) error {
	if err := yamlconf.Decode(n, "runbooks", s); err != nil {
		return err
	}
	var ps yamlconf.Problems
	if redact := yamlconf.Lookup(n, "redact"); redact != nil {
		for i, re := range s.Redact {
			if _, err := regexp.Compile(re); err != nil {
				ps = append(ps, yamlconf.Errorf(redact.Content[i].Line, "runbooks.redact", "%q is not a regular expression: %v", re, err))
			}
		}
	}
	if s.MaxOutput < 0 {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "max_output"), "runbooks.max_output", "%d is negative", s.MaxOutput))
	}
	if s.ApprovalTTL < 0 {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "approval_ttl"), "runbooks.approval_ttl", "%s is negative", s.ApprovalTTL))
	}
	if s.MaxRunsPerPerson < 0 {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "max_runs_per_person"), "runbooks.max_runs_per_person", "%d is negative", s.MaxRunsPerPerson))
	}
	if _, err := runbooks.ParseIsolation(string(s.Isolation)); err != nil {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "isolation"), "runbooks.isolation", "%v", err))
	}
	return ps.Err()
}
