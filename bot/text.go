package bot

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text people type reaches places that interpret control characters: a
// terminal running `opsbot export` (ESC starts an escape sequence, BEL
// rings), a Markdown renderer (a lone CR ends a line, so a note can start a
// heading), a channel topic. CleanText and OneLine are the rule for that,
// applied where text comes in and again where it leaves.

// CleanText normalises line endings to \n (CRLF and a lone CR alike) and
// drops every other control character (C0 except tab, DEL, C1), bytes that
// are not UTF-8, and the invisible bidirectional controls that can make text
// read differently from what it is. Tabs and newlines stay.
func CleanText(s string) string {
	if !needsCleaning(s) {
		return s
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\r':
			b.WriteByte('\n')
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case isHiddenControl(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// OneLine is CleanText with every line break and tab turned into a space
// and the ends trimmed: for titles, topics, table cells and file names.
func OneLine(s string) string {
	s = CleanText(s)
	if strings.ContainsAny(s, "\n\t") {
		s = strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
	}
	return strings.TrimSpace(s)
}

// HasControl reports whether s holds a character CleanText would drop or
// change (other than a CRLF line ending), so that intake can refuse it with
// a message instead of silently altering what someone wrote.
func HasControl(s string) bool {
	return CleanText(s) != strings.ReplaceAll(s, "\r\n", "\n")
}

func needsCleaning(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == '\r' || isHiddenControl(r) {
			return true
		}
	}
	return false
}

// isHiddenControl is a control character other than tab and newline, or a
// bidirectional formatting character (U+202A–U+202E, U+2066–U+2069,
// U+200E/U+200F, U+061C).
func isHiddenControl(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r): // C0, DEL, C1; CR is handled by the callers
		return r != '\r'
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}
