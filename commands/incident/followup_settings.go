package incident

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot/yamlconf"
)

// FollowupSettings are the knobs of the config file's `followups:` section.
// Zero values mean the defaults.
type FollowupSettings struct {
	// GitHubRepo is "owner/name": with GITHUB_TOKEN set, every follow-up
	// also becomes an issue there. Empty keeps follow-ups in opsbot only.
	GitHubRepo string `yaml:"github_repo"`
	// GitHubAPIURL is the REST API base URL, for GitHub Enterprise
	// (https://HOST/api/v3/); empty means api.github.com.
	GitHubAPIURL string `yaml:"github_api_url"`
	// GitHubLabels are put on every issue opened.
	GitHubLabels []string `yaml:"github_labels"`
	// RemindAt is the time of day, in incidents.timezone, at which owners
	// are reminded on the due date (default 09:00), as hours and minutes.
	RemindAt time.Duration `yaml:"-"`
	// RemindEvery repeats the reminder while the follow-up stays open after
	// its due date; 0 reminds once. Default 7 days.
	RemindEvery time.Duration `yaml:"-"`
	// SyncInterval is how often open follow-ups' issues are checked on
	// GitHub (default 5m).
	SyncInterval time.Duration `yaml:"-"`
	// set records which durations the file gave, so that an explicit 0 is
	// kept rather than replaced by the default.
	set map[string]bool
}

// Follow-up defaults.
const (
	DefaultRemindAt     = 9 * time.Hour
	DefaultRemindEvery  = 7 * 24 * time.Hour
	DefaultSyncInterval = 5 * time.Minute
)

var (
	ghRepo    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	clockTime = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)
)

type followupSettingsYAML struct {
	GitHubRepo   string    `yaml:"github_repo"`
	GitHubAPIURL string    `yaml:"github_api_url"`
	GitHubLabels []string  `yaml:"github_labels"`
	RemindAt     yaml.Node `yaml:"remind_at"`
	RemindEvery  yaml.Node `yaml:"remind_every"`
	SyncInterval yaml.Node `yaml:"sync_interval"`
}

// UnmarshalYAML decodes and validates the `followups:` section. Errors read
// "line N: followups.key: what".
func (s *FollowupSettings) UnmarshalYAML(node *yaml.Node) error {
	var raw followupSettingsYAML
	if err := yamlconf.Decode(node, "followups", &raw); err != nil {
		return err
	}
	out := FollowupSettings{GitHubRepo: strings.TrimSpace(raw.GitHubRepo), GitHubAPIURL: strings.TrimSpace(raw.GitHubAPIURL),
		GitHubLabels: raw.GitHubLabels, set: map[string]bool{}}
	if out.GitHubRepo != "" && !ghRepo.MatchString(out.GitHubRepo) {
		return yamlconf.Errorf(yamlconf.Line(node, "github_repo"), "followups.github_repo", "%q is not owner/name, e.g. acme/ops", out.GitHubRepo)
	}
	if u := out.GitHubAPIURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return yamlconf.Errorf(yamlconf.Line(node, "github_api_url"), "followups.github_api_url", "%q is not an http(s) URL", u)
	}
	for _, l := range out.GitHubLabels {
		if strings.TrimSpace(l) == "" || len(l) > 50 {
			return yamlconf.Errorf(yamlconf.Line(node, "github_labels"), "followups.github_labels", "%q is not a label name (1 to 50 characters)", l)
		}
	}
	if v := raw.RemindAt; v.Kind != 0 {
		m := clockTime.FindStringSubmatch(strings.TrimSpace(v.Value))
		if m == nil {
			return yamlconf.Errorf(v.Line, "followups.remind_at", "%q is not a time of day like 09:00", v.Value)
		}
		h, _ := strconv.Atoi(m[1])
		mm, _ := strconv.Atoi(m[2])
		out.RemindAt = time.Duration(h)*time.Hour + time.Duration(mm)*time.Minute
		out.set["remind_at"] = true
	}
	durations := []struct {
		key    string
		node   yaml.Node
		dst    *time.Duration
		min    time.Duration
		zeroOK bool
	}{
		{key: "remind_every", node: raw.RemindEvery, dst: &out.RemindEvery, min: time.Hour, zeroOK: true},
		{key: "sync_interval", node: raw.SyncInterval, dst: &out.SyncInterval, min: time.Minute},
	}
	for _, d := range durations {
		if d.node.Kind == 0 {
			continue
		}
		v := strings.TrimSpace(d.node.Value)
		if d.zeroOK && (v == "0" || v == "0s" || v == "none" || v == "never") {
			*d.dst = 0
			out.set[d.key] = true
			continue
		}
		dur, err := parseDays(v)
		if err != nil {
			return yamlconf.Errorf(d.node.Line, "followups."+d.key, "%q is not a duration like 24h or 7d", v)
		}
		if dur < d.min {
			return yamlconf.Errorf(d.node.Line, "followups."+d.key, "%s is shorter than %s", v, humanDuration(d.min))
		}
		*d.dst = dur
		out.set[d.key] = true
	}
	*s = out
	return nil
}

// parseDays is time.ParseDuration plus a whole number of days ("7d").
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && fmt.Sprint(days) == n && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
		return 0, fmt.Errorf("bad days %q", v)
	}
	return time.ParseDuration(v)
}

// withDefaults fills what the file left out.
func (s FollowupSettings) withDefaults() FollowupSettings {
	if !s.set["remind_at"] && s.RemindAt == 0 {
		s.RemindAt = DefaultRemindAt
	}
	if !s.set["remind_every"] && s.RemindEvery == 0 {
		s.RemindEvery = DefaultRemindEvery
	}
	if s.SyncInterval == 0 {
		s.SyncInterval = DefaultSyncInterval
	}
	return s
}
