// Package yamlconf decodes the sections of opsbot's YAML config file
// strictly and reports every mistake with its line, in the file's terms
// (keys, lists, durations) rather than Go's (types).
//
// A section of the config file is a type in the package that owns it, with
// an UnmarshalYAML that calls Decode and then checks what the YAML cannot
// say (IDs, ranges, references):
//
//	func (s *Settings) UnmarshalYAML(n *yaml.Node) error {
//		if err := yamlconf.Decode(n, "alerts", s); err != nil {
//			return err
//		}
//		if s.GroupWait < 0 {
//			return yamlconf.Errorf(yamlconf.Line(n, "group_wait"), "alerts.group_wait", "must not be negative")
//		}
//		return nil
//	}
//
// Decode refuses unknown and repeated keys, checks that lists, mappings and
// values are where the type wants them, parses durations ("30s", "5m"), and
// calls the UnmarshalYAML of nested types, so that a mistake deep in a
// section still names its line. It goes on after a mistake and returns all
// of them as Problems.
//
// The package imports nothing of ours, so command families and integrations
// can both use it.
package yamlconf

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one mistake in the config file.
type Problem struct {
	// Line is the 1-based line in the file; 0 when it is not known.
	Line int
	// Key is the dotted path of the key concerned ("incidents.roles");
	// empty for the file as a whole.
	Key string
	Msg string
}

// Error formats the problem as "line N: key: message", the form the config
// loader turns into "file:N: key: message".
func (p Problem) Error() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errorf returns a problem at line with key.
func Errorf(line int, key, format string, args ...any) Problem {
	return Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Problems are every mistake found, in file order as far as decoding goes.
type Problems []Problem

// Error lists the problems, one a line.
func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// Err returns ps as an error, or nil when there is none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// AsProblems turns an error from decoding a section into Problems. Problems
// and Problem are kept as they are. Other errors (a section that formats its
// own, or YAML's syntax errors, which carry no typed position) are read for
// the "line N: " prefix they start with, else placed at line with key.
func AsProblems(err error, line int, key string) Problems {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out Problems
		for _, e := range j.Unwrap() {
			out = append(out, AsProblems(e, line, key)...)
		}
		return out
	}
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	var p Problem
	if errors.As(err, &p) {
		return Problems{p}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make(Problems, 0, len(te.Errors))
		for _, e := range te.Errors {
			out = append(out, fromText(e, line, key))
		}
		return out
	}
	return Problems{fromText(err.Error(), line, key)}
}

// fromText reads the "line N: " that YAML's own errors and sections that
// format their own messages start with.
func fromText(msg string, line int, key string) Problem {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				// The message names its own key, if any.
				return Problem{Line: n, Msg: text}
			}
		}
	}
	return Problem{Line: line, Key: key, Msg: msg}
}

// Lookup returns the value of key in the mapping n, or nil when n is not a
// mapping or has no such key.
func Lookup(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// Line returns the line of key's value in the mapping n, or n's own line
// when the key is absent: where a problem with that key is best reported.
func Line(n *yaml.Node, key string) int {
	if v := Lookup(n, key); v != nil {
		return v.Line
	}
	if n == nil {
		return 0
	}
	return n.Line
}

// Decode decodes n into the value v points to, refusing what the type does
// not expect. key is the dotted path of n in the file ("" for the whole
// file); problems name it. Fields are matched by their yaml tags (`-`
// skips a field, `,inline` flattens a struct or collects unknown keys in a
// map). A null value leaves the field as it is. The result is nil or
// Problems; what could be decoded is set either way.
//
// Decode calls the UnmarshalYAML of the values inside v but not v's own,
// so that an UnmarshalYAML can pass its receiver.
func Decode(n *yaml.Node, key string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("yamlconf.Decode: v must be a non-nil pointer")
	}
	var d decoder
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	d.value(n, key, rv.Elem(), true)
	// Keys given twice are found before the values are decoded; the
	// operator reads the list top to bottom.
	sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].Line < d.problems[j].Line })
	return d.problems.Err()
}

type decoder struct {
	problems Problems
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	nodeType     = reflect.TypeOf(yaml.Node{})
	unmarshaler  = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	textType     = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

func (d *decoder) add(line int, key, format string, args ...any) {
	d.problems = append(d.problems, Errorf(line, key, format, args...))
}

// value decodes n into v. top is set for the value Decode was called on,
// whose own UnmarshalYAML is the caller and must not be called again.
func (d *decoder) value(n *yaml.Node, key string, v reflect.Value, top bool) {
	n = resolve(n)
	if n == nil || isNull(n) {
		return
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if !top && reflect.PointerTo(t).Implements(unmarshaler) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.problems = append(d.problems, AsProblems(err, n.Line, key)...)
		}
		return
	}
	if reflect.PointerTo(t).Implements(textType) {
		if !d.scalar(n, key, t) {
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.add(n.Line, key, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if v.IsNil() {
			v.Set(p)
		}
		d.value(n, key, v.Elem(), false)
	case reflect.Struct:
		d.structure(n, key, v)
	case reflect.Map:
		d.mapping(n, key, v)
	case reflect.Slice:
		d.sequence(n, key, v)
	case reflect.Interface:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.problems = append(d.problems, AsProblems(err, n.Line, key)...)
		}
	default:
		d.decodeScalar(n, key, v)
	}
}

// scalar reports whether n is a single value, and a problem when it is not.
func (d *decoder) scalar(n *yaml.Node, key string, t reflect.Type) bool {
	if n.Kind == yaml.ScalarNode {
		return true
	}
	d.add(n.Line, key, "expected %s, got %s", want(t), got(n))
	return false
}

func (d *decoder) decodeScalar(n *yaml.Node, key string, v reflect.Value) {
	if !d.scalar(n, key, v.Type()) {
		return
	}
	p := reflect.New(v.Type())
	if err := n.Decode(p.Interface()); err != nil {
		d.add(n.Line, key, "expected %s, got %s", want(v.Type()), got(n))
		return
	}
	v.Set(p.Elem())
}

func (d *decoder) sequence(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.add(n.Line, key, "expected %s, got %s", want(v.Type()), got(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for _, item := range n.Content {
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(item, key, e, false)
		out = reflect.Append(out, e)
	}
	v.Set(out)
}

func (d *decoder) mapping(n *yaml.Node, key string, v reflect.Value) {
	pairs, ok := d.pairs(n, key, v.Type())
	if !ok {
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(pairs)))
	}
	for _, p := range pairs {
		k := reflect.New(t.Key()).Elem()
		d.value(p.key, key, k, false)
		e := reflect.New(t.Elem()).Elem()
		d.value(p.value, join(key, p.key.Value), e, false)
		v.SetMapIndex(k, e)
	}
}

// field is where a key of a struct goes.
type field struct {
	index []int
}

func (d *decoder) structure(n *yaml.Node, key string, v reflect.Value) {
	pairs, ok := d.pairs(n, key, v.Type())
	if !ok {
		return
	}
	fields, rest := fieldsOf(v.Type())
	for _, p := range pairs {
		name := p.key.Value
		f, known := fields[name]
		switch {
		case known:
			d.value(p.value, join(key, name), fieldByIndex(v, f.index), false)
		case rest != nil:
			m := fieldByIndex(v, rest)
			if m.IsNil() {
				m.Set(reflect.MakeMap(m.Type()))
			}
			e := reflect.New(m.Type().Elem()).Elem()
			d.value(p.value, join(key, name), e, false)
			m.SetMapIndex(reflect.ValueOf(name).Convert(m.Type().Key()), e)
		case key == "":
			d.add(p.key.Line, "", "unknown top-level key %q", name)
		default:
			d.add(p.key.Line, key, "unknown key %q", name)
		}
	}
}

type pair struct{ key, value *yaml.Node }

// pairs returns the entries of the mapping n, merge keys (<<) applied, and a
// problem for each key given twice.
func (d *decoder) pairs(n *yaml.Node, key string, t reflect.Type) ([]pair, bool) {
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, key, "expected %s, got %s", want(t), got(n))
		return nil, false
	}
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			for _, m := range mergeSources(resolve(val)) {
				sub, ok := d.pairs(m, key, t)
				if ok {
					merged = append(merged, sub...)
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, key, "expected a key, got %s", got(k))
			continue
		}
		own = append(own, pair{k, val})
	}
	seen := map[string]int{}
	out := make([]pair, 0, len(own)+len(merged))
	for _, p := range own {
		if first, dup := seen[p.key.Value]; dup {
			d.add(p.key.Line, key, "key %q is given twice (first on line %d)", p.key.Value, first)
			continue
		}
		seen[p.key.Value] = p.key.Line
		out = append(out, p)
	}
	for _, p := range merged {
		if _, overridden := seen[p.key.Value]; !overridden {
			seen[p.key.Value] = p.key.Line
			out = append(out, p)
		}
	}
	return out, true
}

func mergeSources(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, c := range n.Content {
			out = append(out, resolve(c))
		}
		return out
	}
	return []*yaml.Node{n}
}

// fieldsOf maps the YAML keys of struct type t to its fields, inline
// structs flattened, and returns the index of an inline map that takes the
// other keys, if any.
func fieldsOf(t reflect.Type) (map[string]field, []int) {
	fields := map[string]field{}
	var rest []int
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if !f.IsExported() && !(f.Anonymous && hasOption(opts, "inline")) {
				continue
			}
			if name == "-" {
				continue
			}
			index := append(append([]int(nil), prefix...), i)
			if hasOption(opts, "inline") {
				switch {
				case f.Type.Kind() == reflect.Struct:
					walk(f.Type, index)
				case f.Type.Kind() == reflect.Map && f.Type.Key().Kind() == reflect.String:
					rest = index
				}
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = field{index: index}
		}
	}
	walk(t, nil)
	return fields, rest
}

func hasOption(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for _, i := range index {
		v = v.Field(i)
	}
	return v
}

func join(key, sub string) string {
	if key == "" {
		return sub
	}
	return key + "." + sub
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isNull reports a value that is not there: `key:`, `key: ~`, or an empty
// document.
func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// want says what a Go type expects, in YAML terms.
func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 30s or 5m"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a mapping"
	case reflect.Struct:
		return "a mapping of keys"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return want(t.Elem())
	}
	return "a single value"
}

// got describes what the file has, quoting short values (config files hold
// no secrets; tokens come from the environment).
func got(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch n.ShortTag() {
	case "!!str":
		return "text `" + v + "`"
	case "!!int", "!!float":
		return "the number `" + v + "`"
	case "!!bool":
		return "`" + v + "`"
	case "!!null":
		return "nothing"
	}
	return "`" + v + "`"
}
