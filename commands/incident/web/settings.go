package web

import (
	"net"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot/yamlconf"
)

// MaxLinkValidity bounds link_validity: a link is a bearer credential, and
// one that outlives the incident's review by months is one nobody remembers
// handing out.
const MaxLinkValidity = 90 * 24 * time.Hour

// Settings are the knobs of the config file's `web:` section. The keys that
// sign links are secrets and come only from the environment
// (OPSBOT_LINK_KEY, OPSBOT_LINK_KEY_PREVIOUS).
type Settings struct {
	// PublicURL is where readers reach the pages, the base of every link
	// (OPSBOT_PUBLIC_URL wins). The web view is on when it and
	// OPSBOT_LINK_KEY are set.
	PublicURL string `yaml:"public_url"`
	// Addr is a listener of its own for the pages, so that they can be
	// exposed without /metrics (OPSBOT_WEB_ADDR wins). Empty serves them
	// on OPSBOT_HTTP_ADDR.
	Addr string `yaml:"addr"`
	// LinkValidity is how long a link works (default 7 days, at most 90).
	LinkValidity time.Duration `yaml:"link_validity"`
	// PreviousKeyUntil ends the grace period of OPSBOT_LINK_KEY_PREVIOUS
	// after a key rotation (RFC 3339). Zero accepts the previous key for as
	// long as it is set.
	PreviousKeyUntil time.Time `yaml:"previous_key_until"`
}

// UnmarshalYAML decodes the `web:` section strictly and checks each key,
// every problem with its line.
func (s *Settings) UnmarshalYAML(n *yaml.Node) error {
	if err := yamlconf.Decode(n, "web", s); err != nil {
		return err
	}
	var ps yamlconf.Problems
	if s.PublicURL != "" {
		if _, err := ParsePublicURL(s.PublicURL); err != nil {
			ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "public_url"), "web.public_url", "%v", err))
		}
	}
	if s.Addr != "" {
		if err := CheckAddr(s.Addr); err != nil {
			ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "addr"), "web.addr", "%v", err))
		}
	}
	switch v := s.LinkValidity; {
	case v < 0:
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "link_validity"), "web.link_validity", "%s is negative", v))
	case v > 0 && v < time.Minute:
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "link_validity"), "web.link_validity", "%s is too short to open a link (at least 1m)", v))
	case v > MaxLinkValidity:
		ps = append(ps, yamlconf.Errorf(yamlconf.Line(n, "link_validity"), "web.link_validity", "%s is longer than %s: links are credentials", v, MaxLinkValidity))
	}
	return ps.Err()
}

// CheckAddr checks a listen address such as ":8081" or "127.0.0.1:8081".
func CheckAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return err
	}
	return nil
}
