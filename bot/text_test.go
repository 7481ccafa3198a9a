package bot

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in, clean, oneLine string
		control                  bool
	}{
		{name: "plain", in: "db is slow", clean: "db is slow", oneLine: "db is slow"},
		{name: "newlines and tabs stay", in: "a\n\tb", clean: "a\n\tb", oneLine: "a  b"},
		{name: "crlf is a newline", in: "a\r\nb", clean: "a\nb", oneLine: "a b"},
		{name: "lone cr is a newline", in: "note\r# heading", clean: "note\n# heading", oneLine: "note # heading", control: true},
		{name: "escape sequence", in: "red\x1b[31m!", clean: "red[31m!", oneLine: "red[31m!", control: true},
		{name: "bell and nul", in: "a\a\x00b", clean: "ab", oneLine: "ab", control: true},
		{name: "del and c1", in: "a\x7f\u0085\u009bb", clean: "ab", oneLine: "ab", control: true},
		{name: "bidi override", in: "abc\u202edcba", clean: "abcdcba", oneLine: "abcdcba", control: true},
		{name: "invalid utf-8", in: "a\xffb", clean: "ab", oneLine: "ab", control: true},
		{name: "trimmed one line", in: "  t  \n", clean: "  t  \n", oneLine: "t"},
		{name: "a typed replacement character stays", in: "a\ufffdb", clean: "a\ufffdb", oneLine: "a\ufffdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CleanText(tt.in); got != tt.clean {
				t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.clean)
			}
			if got := OneLine(tt.in); got != tt.oneLine {
				t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.oneLine)
			}
			if got := HasControl(tt.in); got != tt.control {
				t.Errorf("HasControl(%q) = %v, want %v", tt.in, got, tt.control)
			}
		})
	}
}

// FuzzCleanText checks what exports and topics rely on: the result is valid
// UTF-8 without a control character other than tab and newline, OneLine's
// without those either, and cleaning twice changes nothing.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"a\r\nb", "\x1b[2J", "a\x00b", "\u202e", "\xff", "x\ry"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CleanText(s)
		if !utf8.ValidString(c) {
			t.Fatalf("CleanText(%q) = %q is not valid UTF-8", s, c)
		}
		for _, r := range c {
			if r != '\n' && r != '\t' && isHiddenControl(r) || r == '\r' {
				t.Fatalf("CleanText(%q) = %q keeps %U", s, c, r)
			}
		}
		if CleanText(c) != c {
			t.Fatalf("CleanText is not idempotent on %q", s)
		}
		if o := OneLine(s); strings.ContainsAny(o, "\n\r\t") {
			t.Fatalf("OneLine(%q) = %q keeps a line break", s, o)
		}
	})
}
