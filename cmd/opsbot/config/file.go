package config

import (
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/yamlconf"
	"github.com/opsbot/opsbot/commands/alerts"
	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/commands/incident/web"
	"github.com/opsbot/opsbot/commands/oncall"
	"github.com/opsbot/opsbot/commands/runbook"
	oredis "github.com/opsbot/opsbot/integrations/redis"
)

// File is the YAML config file. Each section is decoded, and checked, by its
// own type's UnmarshalYAML; the types of the command families' sections live
// in those families, so each family owns its knobs.
type File struct {
	// Admins are Slack user IDs allowed admin commands and every runbook.
	Admins []string `yaml:"admins"`
	// TeamID is the Slack workspace; users of other teams are refused
	// runbooks. Empty means the team of the bot token (auth.test).
	TeamID    string            `yaml:"team_id"`
	Incidents incident.Settings `yaml:"incidents"`
	OnCall    oncall.Settings   `yaml:"oncall"`
	PagerDuty PagerDuty         `yaml:"pagerduty"`
	Runbooks  runbook.Settings  `yaml:"runbooks"`
	Redis     Redis             `yaml:"redis"`
	// Followups are the knobs of incident follow-ups and their GitHub
	// issues.
	Followups incident.FollowupSettings `yaml:"followups"`
	// Web is the read-only web view of incidents and its signed links.
	Web web.Settings `yaml:"web"`
	// Alerts turns on the alert hooks and /alerts; absent, they are off.
	Alerts alerts.Settings `yaml:"alerts"`
}

// AlertsEnabled reports whether the file has an alerts: section (which
// always names a default channel).
func (f *File) AlertsEnabled() bool { return f.Alerts.DefaultChannel != "" }

var teamID = regexp.MustCompile(`^[TE][A-Z0-9]{2,20}$`)

// UnmarshalYAML decodes the whole file: every section strictly, then the
// top-level keys' own checks, reporting every problem with its line.
func (f *File) UnmarshalYAML(n *yaml.Node) error {
	ps := yamlconf.AsProblems(yamlconf.Decode(n, "", f), n.Line, "")
	if admins := yamlconf.Lookup(n, "admins"); admins != nil && admins.Kind == yaml.SequenceNode {
		for i, id := range f.Admins {
			if !bot.IsUserID(id) {
				ps = append(ps, yamlconf.Errorf(admins.Content[i].Line, "", "admins[%d] must be a Slack user ID like U0123ABCD", i))
			}
		}
	}
	if f.TeamID != "" && !teamID.MatchString(f.TeamID) {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "team_id"), "team_id", "%q is not a Slack team ID like T0123ABCD", f.TeamID))
	}
	alertsDecoded := !slices.ContainsFunc(ps, func(p yamlconf.Problem) bool {
		return p.Key == "alerts" || strings.HasPrefix(p.Key, "alerts.")
	})
	if f.AlertsEnabled() && alertsDecoded {
		// Escalations name PagerDuty services of the pagerduty: section.
		// Validate repeats the section's own checks, so it runs only on a
		// section that passed them: each problem is reported once.
		f.Alerts.PageServices, f.Alerts.RoutingKeys = sortedKeys(f.PagerDuty.Services), sortedKeys(f.PagerDuty.RoutingKeys)
		if err := f.Alerts.Validate(); err != nil {
			ps = append(ps, yamlconf.AsProblems(err, yamlconf.Line(n, "alerts"), "alerts")...)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps.Err()
}

// ParseFile decodes a config file's text. The error is Problems, one
// "name:line: section.key: message" each, when anything is wrong; the File
// then holds what could be decoded.
func ParseFile(name string, data []byte) (File, error) {
	var f File
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return f, fileProblems(name, yamlconf.AsProblems(err, 0, ""))
	}
	if len(root.Content) == 0 {
		return f, nil // empty, or only comments
	}
	if err := f.UnmarshalYAML(root.Content[0]); err != nil {
		return f, fileProblems(name, yamlconf.AsProblems(err, 0, ""))
	}
	return f, nil
}

func fileProblems(name string, ps yamlconf.Problems) Problems {
	out := make(Problems, len(ps))
	for i, p := range ps {
		where := name
		if p.Line > 0 {
			where += ":" + strconv.Itoa(p.Line)
		}
		p.Line = 0 // now in where
		out[i] = where + ": " + p.Error()
	}
	return out
}

// PagerDuty is the pagerduty: section. The token and API URL come from the
// environment.
type PagerDuty struct {
	// FromEmail is the From header of incidents the bot creates; it must be
	// a PagerDuty user's e-mail.
	FromEmail string `yaml:"from_email"`
	// Services maps names usable in /incident page to PagerDuty service IDs.
	Services map[string]string `yaml:"services"`
	// RoutingKeys maps service names to Events API v2 integration keys:
	// alert escalations to such a service go through the Events API, with
	// the alert group's episode (<group>:<episode>) as dedup key. Keys are
	// secrets: keep the file private.
	RoutingKeys map[string]string `yaml:"routing_keys"`
}

var routingKey = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// UnmarshalYAML decodes and checks the pagerduty: section.
func (p *PagerDuty) UnmarshalYAML(n *yaml.Node) error {
	if err := yamlconf.Decode(n, "pagerduty", p); err != nil {
		return err
	}
	var ps yamlconf.Problems
	if p.FromEmail != "" && !strings.Contains(p.FromEmail, "@") {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "from_email"), "pagerduty.from_email", "%q is not an e-mail address", p.FromEmail))
	}
	services := yamlconf.Lookup(n, "services")
	for _, name := range sortedKeys(p.Services) {
		line := yamlconf.Line(services, name)
		switch id := p.Services[name]; {
		case strings.ContainsAny(name, " \t"):
			ps = append(ps, yamlconf.Errorf(line, "pagerduty.services", "name %q must be one word, people type it after /incident page", name))
		case strings.TrimSpace(id) == "" || strings.ContainsAny(id, " \t"):
			ps = append(ps, yamlconf.Errorf(line, "pagerduty.services."+name, "%q is not a PagerDuty service ID like PSVC001", id))
		}
	}
	keys := yamlconf.Lookup(n, "routing_keys")
	for _, name := range sortedKeys(p.RoutingKeys) {
		line := yamlconf.Line(keys, name)
		switch {
		case strings.ContainsAny(name, " \t"):
			ps = append(ps, yamlconf.Errorf(line, "pagerduty.routing_keys", "name %q must be one word", name))
		case !routingKey.MatchString(p.RoutingKeys[name]):
			// Never repeat the key: it is a secret.
			ps = append(ps, yamlconf.Errorf(line, "pagerduty.routing_keys."+name, "is not an Events API v2 integration key (32 letters and digits)"))
		}
	}
	return ps.Err()
}

// Redis is the redis: section, for Sentinel and Cluster, which a URL cannot
// express. REDIS_URL, when set, wins.
type Redis struct {
	// Addrs are Sentinel or Cluster addresses, host:port each.
	Addrs []string `yaml:"addrs"`
	// MasterName is the Sentinel master name.
	MasterName string `yaml:"master_name"`
	// Username is the ACL user name.
	Username string `yaml:"username"`
	// DB is the database number (not with Cluster).
	DB int `yaml:"db"`
	// TLS connects to Addrs with TLS.
	TLS bool `yaml:"tls"`
	// SpoolDir holds timeline events until they are safe in Redis; one
	// file per process, so processes on one host may share it.
	SpoolDir string `yaml:"spool_dir"`
	// MinReplicas is how many replicas must confirm a timeline event or a
	// claim before it counts: auto (every replica the primary has online,
	// none on a single server), 0, or a number.
	MinReplicas oredis.MinReplicas `yaml:"min_replicas"`
	// ReplicaTimeout bounds each wait for replicas (default 250ms); an
	// event they do not confirm in time waits in the spool instead.
	ReplicaTimeout time.Duration `yaml:"replica_timeout"`
}

// Durability is what the redis: section says about when a write is safe.
func (r Redis) Durability() oredis.Durability {
	return oredis.Durability{Replicas: int(r.MinReplicas), Timeout: r.ReplicaTimeout}
}

// UnmarshalYAML decodes and checks the redis: section.
func (r *Redis) UnmarshalYAML(n *yaml.Node) error {
	// A value that fails to decode does not hide the other keys' problems.
	ps := yamlconf.AsProblems(yamlconf.Decode(n, "redis", r), n.Line, "redis")
	if addrs := yamlconf.Lookup(n, "addrs"); addrs != nil {
		for i, a := range r.Addrs {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				ps = append(ps, yamlconf.Errorf(addrs.Content[i].Line, "redis.addrs", "%q is not a host:port address", a))
			}
		}
	}
	if r.DB < 0 {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "db"), "redis.db", "%d is negative", r.DB))
	}
	if r.ReplicaTimeout < 0 || r.ReplicaTimeout > oredis.MaxReplicaTimeout {
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "replica_timeout"), "redis.replica_timeout",
			"%s: want a duration up to %s", r.ReplicaTimeout, oredis.MaxReplicaTimeout))
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps.Err()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
