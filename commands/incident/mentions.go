package incident

import "strings"

// replaceMentions replaces every user mention in s (what mentionRe
// matches: <@U…> or <@U…|label>) with who(id). A long incident's document
// does this for every event, so it scans instead of running the regexp.
func replaceMentions(s string, who func(id string) string) string {
	if !strings.Contains(s, "<@") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "<@")
		if j < 0 {
			break
		}
		start := i + j
		id, end, ok := mentionAt(s, start)
		if !ok {
			i = start + 2
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(who(id))
		last, i = end, end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// eachMention calls f with the user ID of every mention in s.
func eachMention(s string, f func(id string)) {
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "<@")
		if j < 0 {
			return
		}
		id, end, ok := mentionAt(s, i+j)
		if !ok {
			i += j + 2
			continue
		}
		f(id)
		i = end
	}
}

// mentionAt reads a mention starting at s[start] ("<@"): the ID is U or W
// and 2 to 20 of A-Z0-9, then ">" or "|label>" with no ">" in the label.
func mentionAt(s string, start int) (id string, end int, ok bool) {
	p := start + 2
	if p >= len(s) || (s[p] != 'U' && s[p] != 'W') {
		return "", 0, false
	}
	q := p + 1
	for q < len(s) && q-p-1 < 20 && (s[q] >= 'A' && s[q] <= 'Z' || s[q] >= '0' && s[q] <= '9') {
		q++
	}
	if n := q - p - 1; n < 2 || q >= len(s) {
		return "", 0, false
	}
	switch s[q] {
	case '>':
		return s[p:q], q + 1, true
	case '|':
		if k := strings.IndexByte(s[q:], '>'); k >= 0 {
			return s[p:q], q + k + 1, true
		}
	}
	return "", 0, false
}
