// Package runbooks is opsbot's runbook engine: it loads the catalogue of
// whitelisted commands (one strictly decoded YAML file per runbook), validates
// and substitutes typed parameters into an argv that is run without a shell,
// decides who may run and who must approve a run, and executes it in its own
// PID and user namespace (or, where the kernel refuses, its own process
// group) with a timeout, a clean environment, and capped output from which
// the bot's own credentials and common credential forms are redacted.
//
// It knows nothing about Slack: the /runbook command family in
// commands/runbook drives it.
package runbooks

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// SafePath is the only PATH a runbook's command sees, and the one command[0]
// is resolved against at load time.
const SafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Defaults and limits of the runbook format.
const (
	DefaultTimeout      = 2 * time.Minute
	MaxTimeout          = 6 * time.Hour
	DefaultMaxLength    = 128
	MaxMaxLength        = 1024
	DefaultApprovalTTL  = 15 * time.Minute
	maxRunbookFileBytes = 256 << 10
)

// forbiddenEnvPrefixes are the bot's own variables; a runbook can never ask
// for them, so the bot's credentials cannot reach a child process.
var forbiddenEnvPrefixes = []string{"SLACK_", "PAGERDUTY_", "REDIS_", "OPSBOT_"}

var (
	namePattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	paramNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	envNamePattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	placeholderRE    = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	userIDRE         = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	usergroupIDRE    = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
	channelIDRE      = regexp.MustCompile(`^[CGD][A-Z0-9]{2,20}$`)
)

// Catalog is a loaded, valid set of runbooks.
type Catalog struct {
	byName map[string]*Runbook
	// Warnings are problems that do not stop the bot, such as a command that
	// is not installed on this host; running such a runbook says so.
	Warnings []Problem
}

// Get returns the runbook called name.
func (c *Catalog) Get(name string) (*Runbook, bool) {
	if c == nil {
		return nil, false
	}
	rb, ok := c.byName[name]
	return rb, ok
}

// All returns every runbook sorted by name.
func (c *Catalog) All() []*Runbook {
	if c == nil {
		return nil
	}
	out := make([]*Runbook, 0, len(c.byName))
	for _, rb := range c.byName {
		out = append(out, rb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NewCatalog builds a catalogue from runbooks already validated (by LoadDir);
// it refuses duplicate names.
func NewCatalog(rbs ...*Runbook) (*Catalog, error) {
	c := &Catalog{byName: map[string]*Runbook{}}
	for _, rb := range rbs {
		if _, dup := c.byName[rb.Name]; dup {
			return nil, fmt.Errorf("runbook %q defined twice", rb.Name)
		}
		c.byName[rb.Name] = rb
	}
	return c, nil
}

// Runbook is one whitelisted command.
type Runbook struct {
	Name        string
	Description string
	// Command is the argv template; elements may contain {{param}}
	// placeholders, except the first.
	Command []string
	// Path is command[0] resolved against SafePath at load time; empty when
	// it was not found (Missing says so).
	Path string
	// Missing explains why the command cannot run on this host, e.g.
	// "kubectl is not installed on this host".
	Missing string
	// Params by name, and ParamOrder in file order.
	Params     map[string]*Param
	ParamOrder []string
	Timeout    time.Duration
	// Allow is who may run it besides the configured admins; nil means
	// admins only.
	Allow *Allow
	// Approval, when set, says when a second person must approve.
	Approval *Approval
	// Env names the variables passed through from the bot's environment.
	Env []string
	// Lock is the run lock key template (default: the runbook name).
	Lock string
	// File is where the runbook was defined.
	File string
}

// Allow lists who may run a runbook: any one match is enough.
type Allow struct {
	Users      []string `yaml:"users"`
	Usergroups []string `yaml:"usergroups"`
	Channels   []string `yaml:"channels"`
	// Guests lets multi- and single-channel guests run it; off by default.
	Guests bool `yaml:"guests"`
}

// Approval says when a run needs a second person's approval and who may give
// it.
type Approval struct {
	// When maps a parameter to the values that need approval; any match is
	// enough. Empty means every run needs approval.
	When      map[string][]string
	Approvers Approvers
}

// Approvers lists who may approve: any one match is enough. Configured
// admins may always approve; the requester never may.
type Approvers struct {
	Users      []string `yaml:"users"`
	Usergroups []string `yaml:"usergroups"`
}

// ParamType is the type of a runbook parameter.
type ParamType string

// Parameter types.
const (
	TypeString   ParamType = "string"
	TypeEnum     ParamType = "enum"
	TypeInt      ParamType = "int"
	TypeDuration ParamType = "duration"
	TypeBool     ParamType = "bool"
	// TypePath is a file path: absolute (or relative to Base), cleaned,
	// without "..", and matching one of the Allow globs.
	TypePath ParamType = "path"
	// TypeHost is a DNS name or an IP address (with a port when WithPort)
	// that is not the bot's own host, a cloud metadata service, or (unless
	// AllowPrivate) a private address, neither as written nor as resolved.
	TypeHost ParamType = "host"
)

// Param is one typed parameter.
type Param struct {
	Name        string
	Type        ParamType
	Description string
	// Pattern is the author's pattern; it is matched against the whole value.
	Pattern   string
	re        *regexp.Regexp
	MaxLength int
	Enum      []string
	Min, Max  *int64
	// MinDur and MaxDur bound duration parameters.
	MinDur, MaxDur *time.Duration
	// DenyPattern refuses string values it matches (e.g. "^opsbot:", the
	// bot's own keys), whatever Pattern allows.
	DenyPattern string
	denyRE      *regexp.Regexp
	// Allow are the globs a path parameter must match (path.Match: * stays
	// within one directory), and Base the directory relative paths are
	// taken in (empty: only absolute paths).
	Allow []string
	Base  string
	// AllowPrivate lets a host parameter reach private addresses (RFC 1918,
	// unique local, shared); WithPort lets it carry a :port.
	AllowPrivate bool
	WithPort     bool
	Default      string
	HasDefault   bool
	Required     bool
}

// Problem is one thing wrong with a runbook file.
type Problem struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// String formats p as file:line: field: message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every fatal problem found in a catalogue, one per line.
type Problems []Problem

// Error lists every problem, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// The YAML shape, strictly decoded: unknown keys are errors.
type fileRunbook struct {
	Name        string               `yaml:"name"`
	Description string               `yaml:"description"`
	Command     []string             `yaml:"command"`
	Params      map[string]fileParam `yaml:"params"`
	Timeout     string               `yaml:"timeout"`
	Allow       *Allow               `yaml:"allow"`
	Approval    *fileApproval        `yaml:"approval"`
	Env         []string             `yaml:"env"`
	Lock        string               `yaml:"lock"`
}

type fileParam struct {
	Type        string   `yaml:"type"`
	Description string   `yaml:"description"`
	Pattern     string   `yaml:"pattern"`
	MaxLength   *int     `yaml:"max_length"`
	Enum        []string `yaml:"enum"`
	Min         *string  `yaml:"min"`
	Max         *string  `yaml:"max"`
	Default     *string  `yaml:"default"`
	Required    bool     `yaml:"required"`
	DenyPattern string   `yaml:"deny_pattern"`
	Allow       []string `yaml:"allow"`
	Base        string   `yaml:"base"`
	// AllowPrivate and WithPort are pointers so that setting them on a
	// parameter of another type is an error rather than ignored.
	AllowPrivate *bool `yaml:"allow_private"`
	WithPort     *bool `yaml:"with_port"`
}

type fileApproval struct {
	When      map[string]stringList `yaml:"when"`
	Approvers *Approvers            `yaml:"approvers"`
}

// stringList accepts a scalar or a sequence of scalars.
type stringList []string

// UnmarshalYAML accepts `prod` as well as `[prod, prod-eu]`.
func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = stringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var out []string
		if err := n.Decode(&out); err != nil {
			return err
		}
		*s = out
		return nil
	}
	return fmt.Errorf("line %d: want a value or a list of values", n.Line)
}

// LoadDir loads every *.yaml and *.yml file in dir. The error, when not nil,
// is Problems listing everything wrong as file:line: field: message; missing
// commands are not errors but Catalog.Warnings.
func LoadDir(dir string) (*Catalog, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Problems{{File: dir, Msg: fmt.Sprintf("cannot read runbooks directory: %v", err)}}
	}
	var probs Problems
	var warns []Problem
	var rbs []*Runbook
	seen := map[string]string{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(file)
		if err != nil {
			probs = append(probs, Problem{File: file, Msg: fmt.Sprintf("cannot read: %v", err)})
			continue
		}
		rb, ps, ws := Parse(file, data)
		probs = append(probs, ps...)
		warns = append(warns, ws...)
		if rb == nil {
			continue
		}
		if other, dup := seen[rb.Name]; dup {
			probs = append(probs, Problem{File: file, Field: "name", Msg: fmt.Sprintf("runbook %q is already defined in %s", rb.Name, other)})
			continue
		}
		seen[rb.Name] = file
		rbs = append(rbs, rb)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	c, err := NewCatalog(rbs...)
	if err != nil {
		return nil, Problems{{File: dir, Msg: err.Error()}}
	}
	c.Warnings = warns
	return c, nil
}

var typeErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// Parse decodes and validates one runbook file. It returns the runbook only
// when there are no problems; warnings (a missing command) do not prevent it.
func Parse(file string, data []byte) (*Runbook, Problems, []Problem) {
	if len(data) > maxRunbookFileBytes {
		return nil, Problems{{File: file, Msg: "file is too large for a runbook"}}, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{yamlProblem(file, err)}, nil
	}
	if len(root.Content) == 0 {
		return nil, Problems{{File: file, Msg: "file is empty"}}, nil
	}
	var fr fileRunbook
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fr); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var ps Problems
			for _, msg := range te.Errors {
				ps = append(ps, typeErrorProblem(file, msg))
			}
			return nil, ps, nil
		}
		return nil, Problems{yamlProblem(file, err)}, nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Problems{{File: file, Line: extra.Line, Msg: "one runbook per file: found a second YAML document"}}, nil
	}
	v := &validator{file: file, root: root.Content[0]}
	rb := v.runbook(&fr)
	if len(v.probs) > 0 {
		return nil, v.probs, nil
	}
	return rb, nil, v.warns
}

func yamlProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := typeErrLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Msg: m[2]}
	}
	return Problem{File: file, Msg: msg}
}

func typeErrorProblem(file, msg string) Problem {
	m := typeErrLine.FindStringSubmatch(msg)
	if m == nil {
		return Problem{File: file, Msg: msg}
	}
	line, _ := strconv.Atoi(m[1])
	if u := unknownField.FindStringSubmatch(m[2]); u != nil {
		return Problem{File: file, Line: line, Field: u[1], Msg: "unknown field"}
	}
	return Problem{File: file, Line: line, Msg: m[2]}
}

type validator struct {
	file  string
	root  *yaml.Node
	probs Problems
	warns []Problem
	// invalid are parameters declared with a problem of their own; a
	// placeholder naming one is not a second problem.
	invalid map[string]bool
}

// line finds the line of the value at path (mapping keys), or of the
// deepest ancestor found.
func (v *validator) line(path ...string) int {
	n := v.root
	line := n.Line
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

func (v *validator) problem(msg string, path ...string) {
	v.probs = append(v.probs, Problem{File: v.file, Line: v.line(path...), Field: strings.Join(path, "."), Msg: msg})
}

func (v *validator) runbook(fr *fileRunbook) *Runbook {
	rb := &Runbook{Name: fr.Name, Description: strings.TrimSpace(fr.Description), File: v.file, Params: map[string]*Param{}}
	switch {
	case fr.Name == "":
		v.problem("is required", "name")
	case !namePattern.MatchString(fr.Name):
		v.problem("must be lower-case letters, digits and dashes (at most 63)", "name")
	}
	if rb.Description == "" {
		v.problem("is required", "description")
	}
	v.params(fr, rb)
	v.command(fr, rb)
	rb.Timeout = DefaultTimeout
	if fr.Timeout != "" {
		d, err := time.ParseDuration(fr.Timeout)
		switch {
		case err != nil:
			v.problem(fmt.Sprintf("%q is not a duration such as 90s or 5m", fr.Timeout), "timeout")
		case d <= 0 || d > MaxTimeout:
			v.problem(fmt.Sprintf("must be between 1s and %s", MaxTimeout), "timeout")
		default:
			rb.Timeout = d
		}
	}
	if fr.Allow != nil {
		v.ids(fr.Allow.Users, userIDRE, "a user ID such as U0123ABCD", "allow", "users")
		v.ids(fr.Allow.Usergroups, usergroupIDRE, "a user group ID such as S0123ABCD", "allow", "usergroups")
		v.ids(fr.Allow.Channels, channelIDRE, "a channel ID such as C0123ABCD", "allow", "channels")
		a := *fr.Allow
		rb.Allow = &a
	}
	v.approval(fr, rb)
	for i, name := range fr.Env {
		field := fmt.Sprintf("env[%d]", i)
		switch {
		case !envNamePattern.MatchString(name):
			v.problem(fmt.Sprintf("%q is not a variable name", name), "env", field)
		case strings.EqualFold(name, "PATH"):
			v.problem("PATH is fixed to "+SafePath+" and cannot be passed through", "env", field)
		case hasForbiddenPrefix(name):
			v.problem(fmt.Sprintf("%s belongs to opsbot itself: variables starting with %s are never passed to runbooks", name, strings.Join(forbiddenEnvPrefixes, ", ")), "env", field)
		}
	}
	rb.Env = append([]string(nil), fr.Env...)
	rb.Lock = fr.Lock
	if rb.Lock == "" {
		rb.Lock = rb.Name
	}
	v.placeholders(rb.Lock, rb, "lock")
	v.lockSeparators(rb.Lock)
	return rb
}

// lockSeparators makes every two placeholders of a lock key be separated by
// a punctuation character other than %, which renderLock escapes in values,
// so that two different sets of values can never render the same key.
func (v *validator) lockSeparators(lock string) {
	locs := placeholderRE.FindAllStringIndex(lock, -1)
	for i := 1; i < len(locs); i++ {
		between := lock[locs[i-1][1]:locs[i][0]]
		ok := false
		for j := 0; j < len(between); j++ {
			if c := between[j]; c < utf8.RuneSelf && !isAlnum(c) && c != '%' {
				ok = true
			}
		}
		if !ok {
			v.problem(fmt.Sprintf("%s and %s must be separated by a character such as / or - (otherwise different values could make the same key)",
				lock[locs[i-1][0]:locs[i-1][1]], lock[locs[i][0]:locs[i][1]]), "lock")
		}
	}
}

func hasForbiddenPrefix(name string) bool {
	up := strings.ToUpper(name)
	for _, p := range forbiddenEnvPrefixes {
		if strings.HasPrefix(up, p) {
			return true
		}
	}
	return false
}

func (v *validator) ids(ids []string, re *regexp.Regexp, want string, path ...string) {
	for _, id := range ids {
		if !re.MatchString(id) {
			v.problem(fmt.Sprintf("%q is not %s (names are not identities)", id, want), path...)
		}
	}
}

func (v *validator) command(fr *fileRunbook, rb *Runbook) {
	if len(fr.Command) == 0 {
		v.problem("is required: an argv list such as [\"kubectl\", \"get\", \"pods\"]", "command")
		return
	}
	rb.Command = append([]string(nil), fr.Command...)
	used := map[string]bool{}
	for i, el := range fr.Command {
		if strings.ContainsAny(el, "\x00\n\r") {
			v.problem(fmt.Sprintf("element %d contains a control character", i), "command")
		}
		for _, name := range v.placeholders(el, rb, "command") {
			used[name] = true
		}
	}
	exe := fr.Command[0]
	if placeholderRE.MatchString(exe) {
		v.problem("the program (first element) cannot be a parameter", "command")
		return
	}
	if exe == "" {
		v.problem("the program (first element) is empty", "command")
		return
	}
	for _, name := range rb.ParamOrder {
		if !used[name] {
			v.problem(fmt.Sprintf("parameter %q is declared but not used in command", name), "params", name)
		}
	}
	path, err := lookPath(exe)
	if err != nil {
		rb.Missing = fmt.Sprintf("%s is not installed on this host", exe)
		v.warns = append(v.warns, Problem{File: v.file, Line: v.line("command"), Field: "command", Msg: rb.Missing})
		return
	}
	rb.Path = path
}

// lookPath resolves a program against SafePath (not the bot's own PATH), the
// same PATH the child will have.
func lookPath(exe string) (string, error) {
	if strings.Contains(exe, "/") {
		if !filepath.IsAbs(exe) {
			return "", fmt.Errorf("%s: relative paths are not allowed", exe)
		}
		fi, err := os.Stat(exe)
		if err != nil {
			return "", err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not executable", exe)
		}
		return exe, nil
	}
	for _, dir := range filepath.SplitList(SafePath) {
		p := filepath.Join(dir, exe)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// placeholders checks the {{name}} placeholders in s and returns their names.
func (v *validator) placeholders(s string, rb *Runbook, field string) []string {
	var names []string
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		name := m[1]
		if _, ok := rb.Params[name]; !ok {
			if !v.invalid[name] {
				v.problem(fmt.Sprintf("placeholder {{%s}} names no declared parameter", name), field)
			}
			continue
		}
		names = append(names, name)
	}
	rest := placeholderRE.ReplaceAllString(s, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		v.problem(fmt.Sprintf("%q has an unbalanced {{ or }}", s), field)
	}
	return names
}

func (v *validator) params(fr *fileRunbook, rb *Runbook) {
	// File order, so show and usage list parameters as the author wrote them.
	var order []string
	if pn := v.node("params"); pn != nil && pn.Kind == yaml.MappingNode {
		for i := 0; i < len(pn.Content); i += 2 {
			order = append(order, pn.Content[i].Value)
		}
	}
	for _, name := range order {
		fp, ok := fr.Params[name]
		if !ok {
			continue
		}
		if !paramNamePattern.MatchString(name) {
			v.problem("parameter names are lower-case letters, digits and _ (at most 32)", "params", name)
			continue
		}
		if p := v.param(name, fp); p != nil {
			rb.Params[name] = p
			rb.ParamOrder = append(rb.ParamOrder, name)
		} else {
			if v.invalid == nil {
				v.invalid = map[string]bool{}
			}
			v.invalid[name] = true
		}
	}
}

func (v *validator) node(path ...string) *yaml.Node {
	n := v.root
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

func (v *validator) param(name string, fp fileParam) *Param {
	p := &Param{Name: name, Description: fp.Description, Required: fp.Required}
	at := func(field string) []string { return []string{"params", name, field} }
	before := len(v.probs)
	switch {
	case fp.Type != "":
		p.Type = ParamType(fp.Type)
	case len(fp.Enum) > 0:
		p.Type = TypeEnum
	default:
		p.Type = TypeString
	}
	switch p.Type {
	case TypeEnum:
		if len(fp.Enum) == 0 {
			v.problem("an enum parameter needs a non-empty enum list", at("enum")...)
		}
		for _, e := range fp.Enum {
			if err := checkChars(e); err != nil || e == "" {
				v.problem(fmt.Sprintf("enum value %q is empty or has control characters", e), at("enum")...)
			}
		}
		p.Enum = fp.Enum
	case TypeString:
		if fp.Pattern == "" {
			v.problem("a string parameter needs an anchored pattern such as ^[a-z0-9-]+$", at("pattern")...)
			break
		}
		if !strings.HasPrefix(fp.Pattern, "^") || !strings.HasSuffix(fp.Pattern, "$") {
			v.problem("the pattern must be anchored: start with ^ and end with $", at("pattern")...)
		}
		re, err := regexp.Compile(`^(?:` + fp.Pattern + `)$`)
		if err != nil {
			v.problem(fmt.Sprintf("invalid regular expression: %v", err), at("pattern")...)
			break
		}
		p.Pattern, p.re = fp.Pattern, re
		p.MaxLength = DefaultMaxLength
		if fp.MaxLength != nil {
			if *fp.MaxLength < 1 || *fp.MaxLength > MaxMaxLength {
				v.problem(fmt.Sprintf("must be between 1 and %d", MaxMaxLength), at("max_length")...)
			}
			p.MaxLength = *fp.MaxLength
		}
	case TypeInt:
		for _, b := range []struct {
			raw   *string
			dst   **int64
			field string
		}{{fp.Min, &p.Min, "min"}, {fp.Max, &p.Max, "max"}} {
			if b.raw == nil {
				continue
			}
			n, err := strconv.ParseInt(*b.raw, 10, 64)
			if err != nil {
				v.problem(fmt.Sprintf("%q is not an integer", *b.raw), at(b.field)...)
				continue
			}
			*b.dst = &n
		}
		if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
			v.problem("min is greater than max", at("min")...)
		}
	case TypeDuration:
		for _, b := range []struct {
			raw   *string
			dst   **time.Duration
			field string
		}{{fp.Min, &p.MinDur, "min"}, {fp.Max, &p.MaxDur, "max"}} {
			if b.raw == nil {
				continue
			}
			d, err := time.ParseDuration(*b.raw)
			if err != nil {
				v.problem(fmt.Sprintf("%q is not a duration", *b.raw), at(b.field)...)
				continue
			}
			*b.dst = &d
		}
	case TypeBool:
	case TypePath:
		if len(fp.Allow) == 0 {
			v.problem("a path parameter needs an allow list of files or globs such as /var/log/nginx/*.log", at("allow")...)
		}
		for _, g := range fp.Allow {
			if err := checkPathGlob(g); err != nil {
				v.problem(err.Error(), at("allow")...)
			}
		}
		p.Allow = fp.Allow
		if fp.Base != "" && (!filepath.IsAbs(fp.Base) || filepath.Clean(fp.Base) != fp.Base) {
			v.problem(fmt.Sprintf("%q must be a clean absolute directory", fp.Base), at("base")...)
		}
		p.Base = fp.Base
	case TypeHost:
		p.AllowPrivate = fp.AllowPrivate != nil && *fp.AllowPrivate
		p.WithPort = fp.WithPort != nil && *fp.WithPort
	default:
		v.problem(fmt.Sprintf("unknown type %q (want string, enum, int, duration, bool, path or host)", fp.Type), at("type")...)
	}
	if fp.DenyPattern != "" {
		if p.Type != TypeString {
			v.problem("deny_pattern is only for type string", at("deny_pattern")...)
		} else if re, err := regexp.Compile(fp.DenyPattern); err != nil {
			v.problem(fmt.Sprintf("invalid regular expression: %v", err), at("deny_pattern")...)
		} else {
			p.DenyPattern, p.denyRE = fp.DenyPattern, re
		}
	}
	if p.Type != TypePath && (len(fp.Allow) > 0 || fp.Base != "") {
		v.problem("allow and base are only for type path", at("allow")...)
	}
	if p.Type != TypeHost && (fp.AllowPrivate != nil || fp.WithPort != nil) {
		v.problem("allow_private and with_port are only for type host", at("allow_private")...)
	}
	if p.Type != TypeEnum && len(fp.Enum) > 0 {
		v.problem("enum is only for type enum", at("enum")...)
	}
	if p.Type != TypeString && (fp.Pattern != "" || fp.MaxLength != nil) {
		v.problem("pattern and max_length are only for type string", at("pattern")...)
	}
	if p.Type != TypeInt && p.Type != TypeDuration && (fp.Min != nil || fp.Max != nil) {
		v.problem("min and max are only for types int and duration", at("min")...)
	}
	if len(v.probs) > before {
		return nil
	}
	if fp.Default == nil && !fp.Required {
		v.problem("an optional parameter needs a default (or set required: true)", at("default")...)
		return nil
	}
	if fp.Default != nil {
		if fp.Required {
			v.problem("a required parameter cannot have a default", at("default")...)
			return nil
		}
		val, err := p.Check(*fp.Default)
		if err != nil {
			v.problem(fmt.Sprintf("default is invalid: %v", err), at("default")...)
			return nil
		}
		p.Default, p.HasDefault = val, true
	}
	return p
}

func (v *validator) approval(fr *fileRunbook, rb *Runbook) {
	fa := fr.Approval
	if fa == nil {
		return
	}
	a := &Approval{When: map[string][]string{}}
	if fa.Approvers == nil || (len(fa.Approvers.Users) == 0 && len(fa.Approvers.Usergroups) == 0) {
		v.problem("approval needs approvers (users or usergroups)", "approval", "approvers")
	} else {
		v.ids(fa.Approvers.Users, userIDRE, "a user ID such as U0123ABCD", "approval", "approvers", "users")
		v.ids(fa.Approvers.Usergroups, usergroupIDRE, "a user group ID such as S0123ABCD", "approval", "approvers", "usergroups")
		a.Approvers = *fa.Approvers
	}
	for name, vals := range fa.When {
		p, ok := rb.Params[name]
		if !ok {
			v.problem(fmt.Sprintf("%q is not a declared parameter", name), "approval", "when", name)
			continue
		}
		for _, val := range vals {
			canon, err := p.Check(val)
			if err != nil {
				v.problem(fmt.Sprintf("%q can never match: %v", val, err), "approval", "when", name)
				continue
			}
			a.When[name] = append(a.When[name], canon)
		}
	}
	rb.Approval = a
}
