package runbooks

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Redacted replaces every secret found in output.
const Redacted = "[REDACTED]"

// DefaultRedactPatterns catch common credentials in command output even when
// no pattern is configured. When a pattern has groups whose names start with
// "secret", only those groups are replaced, so "token=abc" reads
// "token=[REDACTED]" and the reader still sees what was hidden.
var DefaultRedactPatterns = []string{
	// Token shapes that are secret wherever they appear.
	`\bxox[abposre]-[A-Za-z0-9-]{8,}`,                                 // Slack bot, user and legacy tokens
	`\bxoxe\.xox[a-z]-[A-Za-z0-9-]{8,}`,                               // Slack refresh/configuration tokens
	`\bxapp-[A-Za-z0-9-]{8,}`,                                         // Slack app-level tokens
	`\bgh[pousr]_[A-Za-z0-9]{20,}`,                                    // GitHub tokens
	`\bgithub_pat_[A-Za-z0-9_]{20,}`,                                  // GitHub fine-grained tokens
	`\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}`,                           // AWS access key IDs
	`\bAIza[0-9A-Za-z_-]{35}`,                                         // Google API keys
	`\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}`,                          // Stripe-style secret keys
	`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`, // JWTs
	`\bu\+[A-Za-z0-9_-]{16,}`,                                         // PagerDuty user API tokens

	// HTTP credentials: the header's whole value after the scheme, and
	// bearer tokens anywhere.
	`(?i)\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|digest|negotiate)\s+)?(?P<secret>[^\s"',;]+)`,
	`(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)`,

	// URL userinfo: the password (redis://:pw@host, https://user:pw@host),
	// and a Redis URL's lone userinfo, which clients read as the password.
	`(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@"'<>]*:(?P<secret>[^\s/@"'<>]+)@`,
	`(?i)\brediss?://(?P<secret>[^\s:/@"'<>]+)@`,

	// name=value, name: value, "name": "value", name='value' for names
	// that hold secrets (REDIS_PASSWORD=, "access_token": …, api-key: …).
	`(?i)(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)["']?\s*[:=]\s*(?:"(?P<secret>(?:[^"\\\n]|\\.)*)"|'(?P<secret2>[^'\n]*)'|(?P<secret3>[^\s"',;&]+))`,
	// Command-line flags: --password hunter2, --token abc.
	`(?i)(?:^|\s)--?(?:password|passwd|pass|token|secret|api-key|apikey|access-key|auth)\s+(?P<secret>[^\s"'-][^\s"']*)`,
	// redis-cli -a PASSWORD.
	`\bredis-cli\b[^\n]*?\s-a\s+(?P<secret>[^\s"']+)`,

	// Redis: AUTH as MONITOR prints it ("AUTH" "user" "pw"), as typed at a
	// prompt or in a script (AUTH pw at the end of a line), and the
	// server's own password settings.
	`(?i)"auth"\s+(?:"(?P<secret>(?:[^"\\]|\\.)*)"\s+)?"(?P<secret2>(?:[^"\\]|\\.)*)"`,
	`(?m)\bAUTH\s+(?:(?P<secret>\S+)\s+)?(?P<secret2>\S+)[ \t]*$`,
	`(?im)>\s*auth\s+(?:(?P<secret>\S+)\s+)?(?P<secret2>\S+)[ \t]*$`,
	`(?im)^\s*(?:requirepass|masterauth)\s+(?P<secret>\S+)`,
	`(?i)\bconfig\s+set\s+(?:requirepass|masterauth)\s+(?P<secret>\S+)`,

	// Private keys, to the end of the block (or of the output).
	`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)`,
}

// minSecretLen keeps very short values (such as "1" or "true") from being
// redacted everywhere they happen to appear.
const minSecretLen = 4

// Redactor removes secrets from text: literal values it was given and
// matches of patterns.
type Redactor struct {
	res []pattern
	// values are literal secrets, longest first so that a value containing
	// another is removed whole.
	values []string
}

type pattern struct {
	re *regexp.Regexp
	// groups are the indexes of the groups named secret…; empty means the
	// whole match is the secret.
	groups []int
}

// NewRedactor compiles patterns (DefaultRedactPatterns are always included).
func NewRedactor(patterns []string) (*Redactor, error) {
	r := &Redactor{}
	for _, p := range append(append([]string(nil), DefaultRedactPatterns...), patterns...) {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact pattern %q: %w", p, err)
		}
		pat := pattern{re: re}
		for i, name := range re.SubexpNames() {
			if strings.HasPrefix(name, "secret") {
				pat.groups = append(pat.groups, i)
			}
		}
		r.res = append(r.res, pat)
	}
	return r, nil
}

// WithValues returns a Redactor that also removes these literal values: the
// bot's own credentials and the values of variables passed to a runbook.
// Each value is also removed in the forms it commonly takes in output: each
// of its lines, URL- and JSON-escaped, and, for a URL carrying credentials,
// its password alone.
func (r *Redactor) WithValues(values ...string) *Redactor {
	seen := map[string]bool{}
	out := &Redactor{res: r.res}
	for _, v := range r.values {
		seen[v] = true
		out.values = append(out.values, v)
	}
	for _, v := range values {
		for _, form := range secretForms(v) {
			if len(form) >= minSecretLen && !seen[form] {
				seen[form] = true
				out.values = append(out.values, form)
			}
		}
	}
	sort.SliceStable(out.values, func(i, j int) bool { return len(out.values[i]) > len(out.values[j]) })
	return out
}

// secretForms is v and the other spellings of it that output may carry.
func secretForms(v string) []string {
	forms := []string{v}
	if strings.ContainsAny(v, "\r\n") {
		// Output is shown line by line; each line of a multi-line
		// secret must go on its own.
		for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
			forms = append(forms, strings.TrimSpace(line))
		}
	}
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			// The password as written in the URL (percent-encoded) and
			// as the client sends it.
			forms = append(forms, pw, rawPassword(v))
		} else if (u.Scheme == "redis" || u.Scheme == "rediss") && u.User.Username() != "" {
			forms = append(forms, u.User.Username())
		}
	}
	for _, f := range append([]string(nil), forms...) {
		forms = append(forms, url.QueryEscape(f), url.PathEscape(f))
		if b, err := json.Marshal(f); err == nil {
			forms = append(forms, string(b[1:len(b)-1]))
		}
	}
	return forms
}

// rawPassword is the password of a URL as written in it, still
// percent-encoded: what follows the first ':' of the userinfo.
func rawPassword(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:at], ":")
	return pw
}

// Redact returns s with every secret replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, Redacted)
	}
	for _, p := range r.res {
		if len(p.groups) == 0 {
			s = p.re.ReplaceAllLiteralString(s, Redacted)
			continue
		}
		matches := p.re.FindAllStringSubmatchIndex(s, -1)
		if matches == nil {
			continue
		}
		var b strings.Builder
		last := 0
		for _, m := range matches {
			for _, g := range p.groups {
				start, end := m[2*g], m[2*g+1]
				// An empty or absent group has nothing to hide; a
				// group inside one already replaced cannot occur
				// (groups of one match do not overlap).
				if start < 0 || end <= start || start < last {
					continue
				}
				b.WriteString(s[last:start])
				b.WriteString(Redacted)
				last = end
			}
		}
		b.WriteString(s[last:])
		s = b.String()
	}
	return s
}
