package yamlconf_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot/yamlconf"
)

// entry is a list element with its own strict keys.
type entry struct {
	ID    string `yaml:"id"`
	Level int    `yaml:"level"`
}

// checked is a nested section with its own UnmarshalYAML, as the families'
// settings types are.
type checked struct {
	Channel string `yaml:"channel"`
}

func (c *checked) UnmarshalYAML(n *yaml.Node) error {
	if err := yamlconf.Decode(n, "section.checked", c); err != nil {
		return err
	}
	if c.Channel != "" && !strings.HasPrefix(c.Channel, "C") {
		return yamlconf.Errorf(yamlconf.Line(n, "channel"), "section.checked.channel", "%q is not a channel ID", c.Channel)
	}
	return nil
}

// legacy formats its own "line N: " errors, as sections written before this
// package do.
type legacy struct{ Value string }

func (l *legacy) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "bad" {
		return fmt.Errorf("line %d: section.legacy: %q is refused", n.Line, n.Value)
	}
	l.Value = n.Value
	return nil
}

type common struct {
	Name string `yaml:"name"`
}

type section struct {
	common   `yaml:",inline"`
	Wait     time.Duration     `yaml:"wait"`
	Enabled  bool              `yaml:"enabled"`
	Max      int               `yaml:"max"`
	Ratio    float64           `yaml:"ratio"`
	Tags     []string          `yaml:"tags"`
	Entries  []entry           `yaml:"entries"`
	Services map[string]string `yaml:"services"`
	Waits    map[string]time.Duration
	Checked  checked   `yaml:"checked"`
	Legacy   legacy    `yaml:"legacy"`
	Optional *entry    `yaml:"optional"`
	Raw      yaml.Node `yaml:"raw"`
	Skipped  string    `yaml:"-"`
	hidden   string
}

func parse(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return &n
}

func TestDecodeValid(t *testing.T) {
	src := `
name: pay
wait: 90s
enabled: true
max: 3
ratio: 0.5
tags: [a, b]
entries:
  - {id: P1, level: 2}
services: {checkout: PSVC1}
waits: {sev1: 15m}
checked: {channel: C0PAY}
legacy: fine
optional: {id: P9}
raw: [anything, {goes: here}]
`
	var got section
	got.Skipped = "kept"
	if err := yamlconf.Decode(parse(t, src), "section", &got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := section{
		common: common{Name: "pay"}, Wait: 90 * time.Second, Enabled: true, Max: 3, Ratio: 0.5,
		Tags: []string{"a", "b"}, Entries: []entry{{ID: "P1", Level: 2}},
		Services: map[string]string{"checkout": "PSVC1"}, Waits: map[string]time.Duration{"sev1": 15 * time.Minute},
		Checked: checked{Channel: "C0PAY"}, Legacy: legacy{Value: "fine"}, Optional: &entry{ID: "P9"}, Skipped: "kept",
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(section{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".Raw"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	if got.Raw.Kind != yaml.SequenceNode || len(got.Raw.Content) != 2 {
		t.Errorf("raw node = kind %v with %d items, want the list as it is", got.Raw.Kind, len(got.Raw.Content))
	}
}

// Every mistake is reported, each at its line with its key, in the file's
// terms rather than Go's.
func TestDecodeReportsEveryProblem(t *testing.T) {
	src := strings.Join([]string{
		"name: [x]",                    // 1
		"wait: soon",                   // 2
		"enabled: maybe",               // 3
		"max: lots",                    // 4
		"tags: x",                      // 5
		"entries:",                     // 6
		"  - {id: P1, lvl: 2}",         // 7
		"services: [a]",                // 8
		"checked: {channel: \"#pay\"}", // 9
		"legacy: bad",                  // 10
		"colour: red",                  // 11
		"max: 4",                       // 12
		"waits: {sev1: 3}",             // 13
	}, "\n")
	var got section
	err := yamlconf.Decode(parse(t, src), "section", &got)
	var ps yamlconf.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want Problems", err)
	}
	want := []string{
		"line 1: section.name: expected a single value, got a list",
		"line 2: section.wait: expected a duration such as 30s or 5m, got text `soon`",
		"line 3: section.enabled: expected true or false, got text `maybe`",
		"line 4: section.max: expected a whole number, got text `lots`",
		"line 5: section.tags: expected a list, got text `x`",
		`line 7: section.entries: unknown key "lvl"`,
		"line 8: section.services: expected a mapping, got a list",
		`line 9: section.checked.channel: "#pay" is not a channel ID`,
		`line 10: section.legacy: "bad" is refused`,
		`line 11: section: unknown key "colour"`,
		`line 12: section: key "max" is given twice (first on line 4)`,
		"line 13: section.waits.sev1: expected a duration such as 30s or 5m, got the number `3`",
	}
	var lines []string
	for _, p := range ps {
		lines = append(lines, p.Error())
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if got.Tags != nil || got.Entries[0].ID != "P1" {
		t.Errorf("partial decode: tags %v entries %v; want what could be decoded set", got.Tags, got.Entries)
	}
}

func TestDecodeTopLevel(t *testing.T) {
	type file struct {
		Admins  []string `yaml:"admins"`
		Section section  `yaml:"section"`
	}
	var f file
	err := yamlconf.Decode(parse(t, "admins: [U1]\nadmin: [U2]\nsection: {colour: red}\n"), "", &f)
	want := "line 2: unknown top-level key \"admin\"\nline 3: section: unknown key \"colour\""
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	var wrong file
	if err := yamlconf.Decode(parse(t, "- a\n- b\n"), "", &wrong); err == nil || err.Error() != "line 1: expected a mapping of keys, got a list" {
		t.Errorf("list as the file: got %v", err)
	}
	var empty file
	if err := yamlconf.Decode(parse(t, "# only a comment\n"), "", &empty); err != nil {
		t.Errorf("empty file: got %v, want nil", err)
	}
}

// Anchors, aliases and merge keys work as YAML defines them; null leaves a
// value alone.
func TestDecodeAliasesMergeAndNull(t *testing.T) {
	src := `
base: &base {name: shared, max: 1}
section:
  <<: *base
  max: 2
  tags: &tags [x]
  wait: ~
other: {tags: *tags}
`
	var f struct {
		Base    yaml.Node `yaml:"base"`
		Section section   `yaml:"section"`
		Other   section   `yaml:"other"`
	}
	f.Section.Wait = time.Minute
	if err := yamlconf.Decode(parse(t, src), "", &f); err != nil {
		t.Fatal(err)
	}
	if f.Section.Name != "shared" || f.Section.Max != 2 || f.Section.Wait != time.Minute || f.Other.Tags[0] != "x" {
		t.Errorf("got %+v and %+v", f.Section, f.Other)
	}
}

// A map type with an inline catch-all keeps the keys it does not know.
func TestDecodeInlineMap(t *testing.T) {
	var v struct {
		Known string               `yaml:"known"`
		Rest  map[string]yaml.Node `yaml:",inline"`
	}
	if err := yamlconf.Decode(parse(t, "known: a\nother: b\n"), "s", &v); err != nil {
		t.Fatal(err)
	}
	if v.Known != "a" || v.Rest["other"].Value != "b" {
		t.Errorf("got %+v", v)
	}
}

func TestAsProblems(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"problem", yamlconf.Errorf(3, "a.b", "bad"), []string{"line 3: a.b: bad"}},
		{"yaml syntax error", errors.New("yaml: line 4: mapping values are not allowed in this context"),
			[]string{"line 4: mapping values are not allowed in this context"}},
		{"own line prefix", fmt.Errorf("line 7: alerts.x: nope"), []string{"line 7: alerts.x: nope"}},
		{"no line", errors.New("broken"), []string{"line 9: sec: broken"}},
		{"joined", errors.Join(yamlconf.Errorf(1, "", "one"), errors.New("line 2: two")), []string{"line 1: one", "line 2: two"}},
		{"type error", &yaml.TypeError{Errors: []string{"line 5: cannot unmarshal !!str `x` into int"}},
			[]string{"line 5: cannot unmarshal !!str `x` into int"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range yamlconf.AsProblems(tt.err, 9, "sec") {
				got = append(got, p.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLookupAndLine(t *testing.T) {
	n := parse(t, "a: 1\nb:\n  c: 2\n").Content[0]
	if v := yamlconf.Lookup(n, "b"); v == nil || yamlconf.Line(v, "c") != 3 {
		t.Errorf("Lookup b / Line c: got %v", v)
	}
	if got := yamlconf.Line(n, "missing"); got != 1 {
		t.Errorf("Line of a missing key = %d, want the mapping's line 1", got)
	}
	if yamlconf.Lookup(n, "missing") != nil || yamlconf.Lookup(nil, "a") != nil {
		t.Error("Lookup of a missing key or nil node: want nil")
	}
}

// A section's UnmarshalYAML is called once per decode, by yaml.Unmarshal as
// by Decode, and its problems come back typed.
func TestSectionThroughYAMLUnmarshal(t *testing.T) {
	var c checked
	err := yaml.Unmarshal([]byte("channel: \"#x\"\n"), &c)
	var p yamlconf.Problem
	if !errors.As(err, &p) || p.Line != 1 || p.Key != "section.checked.channel" {
		t.Errorf("got %#v, want a Problem at line 1 for section.checked.channel", err)
	}
}

// Unexported fields and fields tagged "-" are not keys of the file.
func TestDecodeSkipsHiddenFields(t *testing.T) {
	var s section
	err := yamlconf.Decode(parse(t, "hidden: x\nskipped: y\n"), "section", &s)
	want := "line 1: section: unknown key \"hidden\"\nline 2: section: unknown key \"skipped\""
	if err == nil || err.Error() != want || s.hidden != "" || s.Skipped != "" {
		t.Errorf("got %v (hidden %q, skipped %q), want %q and nothing set", err, s.hidden, s.Skipped, want)
	}
}
