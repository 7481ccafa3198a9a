package runbooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ParamError is a parameter refused by validation. Its message is written for
// the person who typed the command.
type ParamError struct {
	Param string
	Msg   string
}

// Error says which parameter is wrong and why.
func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return e.Param + ": " + e.Msg
}

// maxValueBytes bounds any value before its type is even looked at, so a
// 5,000-character value is refused cheaply.
const maxValueBytes = MaxMaxLength

// checkChars refuses what no parameter may contain, whatever its pattern:
// invalid UTF-8, control characters (NUL, newline, escape…) and invisible
// format characters (zero-width, bidirectional overrides) that make a value
// look different from what it is.
func checkChars(s string) error {
	if len(s) > maxValueBytes {
		return fmt.Errorf("is too long (%d bytes; at most %d)", len(s), maxValueBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return fmt.Errorf("contains a control or invisible character (%U)", r)
		}
	}
	return nil
}

// Check validates one value of p and returns its canonical form, which is
// what goes into the argv.
func (p *Param) Check(val string) (string, error) {
	if err := checkChars(val); err != nil {
		return "", err
	}
	switch p.Type {
	case TypeEnum:
		for _, e := range p.Enum {
			if val == e {
				return val, nil
			}
		}
		return "", fmt.Errorf("must be one of %s", strings.Join(p.Enum, ", "))
	case TypeString:
		if len(val) > p.MaxLength {
			return "", fmt.Errorf("is too long (%d bytes; at most %d)", len(val), p.MaxLength)
		}
		if strings.HasPrefix(val, "-") {
			// Whatever the pattern allows, a value never becomes an option
			// of the runbook's program.
			return "", fmt.Errorf("must not start with -")
		}
		if p.re == nil || !p.re.MatchString(val) {
			return "", fmt.Errorf("must match %s", p.Pattern)
		}
		if p.denyRE != nil && p.denyRE.MatchString(val) {
			return "", fmt.Errorf("must not match %s", p.DenyPattern)
		}
		return val, nil
	case TypeInt:
		if !isDecimal(val) {
			return "", fmt.Errorf("must be a whole number")
		}
		if strings.HasPrefix(val, "-") && (p.Min == nil || *p.Min >= 0) {
			// Whatever it parses to, "-5" would be an option to the
			// runbook's program; only a min below zero asks for it.
			return "", fmt.Errorf("must not start with - (negative numbers are not allowed)")
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return "", fmt.Errorf("must be a whole number in range")
		}
		if p.Min != nil && n < *p.Min {
			return "", fmt.Errorf("must be at least %d", *p.Min)
		}
		if p.Max != nil && n > *p.Max {
			return "", fmt.Errorf("must be at most %d", *p.Max)
		}
		return strconv.FormatInt(n, 10), nil
	case TypeDuration:
		if len(val) > 32 {
			return "", fmt.Errorf("is not a duration such as 90s or 5m")
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			return "", fmt.Errorf("is not a duration such as 90s or 5m")
		}
		if d < 0 {
			return "", fmt.Errorf("must not be negative")
		}
		if p.MinDur != nil && d < *p.MinDur {
			return "", fmt.Errorf("must be at least %s", *p.MinDur)
		}
		if p.MaxDur != nil && d > *p.MaxDur {
			return "", fmt.Errorf("must be at most %s", *p.MaxDur)
		}
		return d.String(), nil
	case TypeBool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return "", fmt.Errorf("must be true or false")
		}
		return strconv.FormatBool(b), nil
	case TypePath:
		return p.checkPath(val)
	case TypeHost:
		canon, _, err := p.checkHost(val)
		return canon, err
	}
	return "", fmt.Errorf("has an unknown type")
}

func isDecimal(s string) bool {
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	if s == "" || len(s) > 19 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ParseArgs splits the words after the runbook name into key=value pairs and
// the --dry-run flag. Slack escapes &, < and > in command text; they are
// unescaped first so validation sees what the user typed.
func ParseArgs(words []string) (vals map[string]string, dryRun bool, err error) {
	vals = map[string]string{}
	for _, w := range words {
		if w == "--dry-run" || w == "--dryrun" {
			dryRun = true
			continue
		}
		raw := w
		w = unescapeSlack(w)
		key, val, ok := strings.Cut(w, "=")
		if !ok || key == "" {
			return nil, false, &ParamError{Msg: fmt.Sprintf("%q is not key=value", clip(w, 40))}
		}
		if _, rawVal, _ := strings.Cut(raw, "="); rawVal != "" {
			if typed, ok := slackLinkText(rawVal); ok {
				val = unescapeSlack(typed)
			}
		}
		if err := checkChars(key); err != nil || !paramNamePattern.MatchString(key) {
			return nil, false, &ParamError{Msg: fmt.Sprintf("%q is not a parameter name", clip(key, 40))}
		}
		if _, dup := vals[key]; dup {
			return nil, false, &ParamError{Param: key, Msg: "is given twice"}
		}
		vals[key] = val
	}
	return vals, dryRun, nil
}

// slackLink is a link Slack made of something the user typed: a host name
// or URL becomes <http://host|host> or <https://x/y>, an e-mail address
// <mailto:a@b|a@b>. A < the user typed arrives as &lt;, so only Slack's own
// markup matches.
var slackLink = regexp.MustCompile(`^<((?:https?|mailto):[^<>|]*)(?:\|([^<>]*))?>$`)

// slackLinkText returns what the user typed for a value Slack turned into a
// link: the link's label, or the URL when it has none.
func slackLinkText(v string) (string, bool) {
	m := slackLink.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	if m[2] != "" {
		return m[2], true
	}
	return m[1], true
}

func unescapeSlack(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
}

// clip shortens s for an error message, never splitting a rune and never
// echoing control characters.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Invocation is a validated, rendered run of a runbook: exactly what would be
// executed.
type Invocation struct {
	Runbook *Runbook
	// Params are the canonical values, defaults filled in.
	Params map[string]string
	Argv   []string
	// Hash binds approvals to this exact argv (and runbook name).
	Hash string
	// LockKey is the rendered lock key.
	LockKey string
	// ApprovalRule is why approval is needed ("always" or
	// "namespace=prod"); empty when it is not.
	ApprovalRule string
}

// Prepare is PrepareContext with the system resolver and no deadline of
// its own beyond the lookup timeout.
func (rb *Runbook) Prepare(raw map[string]string) (*Invocation, error) {
	return rb.PrepareContext(context.Background(), raw, nil)
}

// PrepareContext validates raw parameter values against the runbook and
// renders the argv. Unknown parameters, missing required ones and invalid
// values are refused with a *ParamError. Host parameters are also looked up
// with r (nil: the system resolver), and refused when a name leads to an
// address they may not reach.
func (rb *Runbook) PrepareContext(ctx context.Context, raw map[string]string, r Resolver) (*Invocation, error) {
	unknown := make([]string, 0)
	for k := range raw {
		if _, ok := rb.Params[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &ParamError{Param: clip(unknown[0], 40), Msg: fmt.Sprintf("is not a parameter of %s (it takes: %s)", rb.Name, rb.paramList())}
	}
	vals := make(map[string]string, len(rb.Params))
	for _, name := range rb.ParamOrder {
		p := rb.Params[name]
		v, given := raw[name]
		if !given {
			if !p.HasDefault {
				return nil, &ParamError{Param: name, Msg: "is required"}
			}
			vals[name] = p.Default
			continue
		}
		canon, err := p.Check(v)
		if err != nil {
			return nil, &ParamError{Param: name, Msg: err.Error()}
		}
		vals[name] = canon
	}
	for _, name := range rb.ParamOrder {
		p := rb.Params[name]
		if p.Type != TypeHost {
			continue
		}
		// Defaults too: what a name points to may have changed since load.
		if _, host, _ := p.checkHost(vals[name]); host != "" {
			if err := p.resolveHost(ctx, r, host); err != nil {
				return nil, &ParamError{Param: name, Msg: err.Error()}
			}
		}
	}
	argv := make([]string, len(rb.Command))
	for i, el := range rb.Command {
		argv[i] = render(el, vals)
	}
	inv := &Invocation{Runbook: rb, Params: vals, Argv: argv, LockKey: renderLock(rb.Lock, vals)}
	inv.Hash = ArgvHash(rb.Name, argv)
	inv.ApprovalRule = rb.approvalRule(vals)
	return inv, nil
}

func (rb *Runbook) paramList() string {
	if len(rb.ParamOrder) == 0 {
		return "no parameters"
	}
	return strings.Join(rb.ParamOrder, ", ")
}

// render substitutes placeholders in one pass: a value that itself looks like
// {{x}} is not expanded again. Each value lands inside the one argv element
// whose template named it, so it can never become a separate argument.
func render(tmpl string, vals map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		return vals[name]
	})
}

// renderLock renders a lock key so that different values never give the
// same key: in each value, '%' and every punctuation character the
// template's own text uses (such as the '-' of "{{a}}-{{b}}") is written
// %XX. Since the validator makes every pair of placeholders be separated by
// such a character, each value's end is where that character first
// appears, and "x-y"+"z" cannot meet "x"+"y-z".
func renderLock(tmpl string, vals map[string]string) string {
	special := map[byte]bool{'%': true}
	for _, part := range placeholderRE.Split(tmpl, -1) {
		for i := 0; i < len(part); i++ {
			if c := part[i]; c < utf8.RuneSelf && !isAlnum(c) {
				special[c] = true
			}
		}
	}
	return placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		v := vals[placeholderRE.FindStringSubmatch(m)[1]]
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if special[v[i]] {
				fmt.Fprintf(&b, "%%%02X", v[i])
			} else {
				b.WriteByte(v[i])
			}
		}
		return b.String()
	})
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ArgvHash is the hash approvals are bound to: the runbook name and every argv
// element, length-prefixed by JSON encoding so elements cannot be shifted.
func ArgvHash(runbook string, argv []string) string {
	b, _ := json.Marshal(append([]string{runbook}, argv...))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (rb *Runbook) approvalRule(vals map[string]string) string {
	if rb.Approval == nil {
		return ""
	}
	if len(rb.Approval.When) == 0 {
		return "always"
	}
	names := make([]string, 0, len(rb.Approval.When))
	for n := range rb.Approval.When {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, want := range rb.Approval.When[n] {
			if vals[n] == want {
				return n + "=" + want
			}
		}
	}
	return ""
}
