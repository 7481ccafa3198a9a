package runbooks

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Redacted replaces every secret found in output.
const Redacted = "[REDACTED]"

// DefaultRedactPatterns catch common credentials in command output even when
// no pattern is configured. When a pattern has a group named "secret", only
// that group is replaced, so "token=abc" reads "token=[REDACTED]".
var DefaultRedactPatterns = []string{
	`xox[abposr]-[A-Za-z0-9-]{8,}`,         // Slack tokens
	`xapp-[A-Za-z0-9-]{8,}`,                // Slack app-level tokens
	`AKIA[0-9A-Z]{16}`,                     // AWS access key IDs
	`(?i)bearer\s+[A-Za-z0-9._~+/-]{8,}=*`, // HTTP bearer tokens
	`(?i)(?:password|passwd|secret|token|api[_-]?key)\s*[=:]\s*(?P<secret>[^\s"',;]+)`, // key=value: only the value goes
	`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`,
}

// minSecretLen keeps very short variable values (such as "1" or "true")
// from being redacted everywhere they happen to appear.
const minSecretLen = 4

// Redactor removes secrets from text.
type Redactor struct {
	res    []*regexp.Regexp
	values []string
}

// NewRedactor compiles patterns (DefaultRedactPatterns are always included).
func NewRedactor(patterns []string) (*Redactor, error) {
	r := &Redactor{}
	for _, p := range append(append([]string(nil), DefaultRedactPatterns...), patterns...) {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact pattern %q: %w", p, err)
		}
		r.res = append(r.res, re)
	}
	return r, nil
}

// WithValues returns a Redactor that also removes these literal values (the
// values of variables passed to a runbook).
func (r *Redactor) WithValues(values ...string) *Redactor {
	out := &Redactor{res: r.res, values: append([]string(nil), r.values...)}
	for _, v := range values {
		if len(v) >= minSecretLen {
			out.values = append(out.values, v)
		}
	}
	// Longest first, so a value containing another is removed whole.
	sort.Slice(out.values, func(i, j int) bool { return len(out.values[i]) > len(out.values[j]) })
	return out
}

// Redact returns s with every secret replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, Redacted)
	}
	for _, re := range r.res {
		g := re.SubexpIndex("secret")
		if g < 0 {
			s = re.ReplaceAllLiteralString(s, Redacted)
			continue
		}
		var b strings.Builder
		last := 0
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			if m[2*g] < 0 {
				continue
			}
			b.WriteString(s[last:m[2*g]])
			b.WriteString(Redacted)
			last = m[2*g+1]
		}
		b.WriteString(s[last:])
		s = b.String()
	}
	return s
}
