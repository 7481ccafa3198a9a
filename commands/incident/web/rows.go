package web

import (
	"html/template"
	"strings"
)

// A long incident's page is mostly its timeline: 10,000 events are some
// 150,000 template actions, each escaped through reflection, which alone
// takes longer than the whole page may. rows writes the timeline's list
// items directly instead, escaping every value with the same rules
// html/template applies in those places (text and quoted attribute values),
// and the "rows" template in pages.html is its specification: a test holds
// the two to the same bytes for hostile input. Only values from the view
// reach it: class names and times are ours, hrefs passed webURL.

// rows writes the list items of one day's timeline.
func rows(rs []row) template.HTML {
	var b strings.Builder
	b.Grow(len(rs) * 256)
	for i := range rs {
		r := &rs[i]
		b.WriteString(`<li class="`)
		escape(&b, r.Class)
		b.WriteString(`"><time datetime="`)
		escape(&b, r.When.ISO)
		b.WriteString(`">`)
		escape(&b, r.When.Clock)
		b.WriteString(`</time>`)
		if r.When.UTC != "" {
			b.WriteString(`<span class="utc">`)
			escape(&b, r.When.UTC)
			b.WriteString(`</span>`)
		}
		b.WriteString(`<span class="k">`)
		escape(&b, r.Kind)
		b.WriteString(`</span><span>`)
		writeSegs(&b, r.Text)
		if r.Later != "" {
			b.WriteString(` <span class="later">(later `)
			escape(&b, r.Later)
			b.WriteString(`)</span>`)
		}
		for _, l := range r.Links {
			b.WriteString(` `)
			writeLink(&b, l)
		}
		b.WriteString("</span></li>\n")
	}
	return template.HTML(b.String())
}

// writeSegs is the "segs" template.
func writeSegs(b *strings.Builder, segs []seg) {
	for _, s := range segs {
		switch {
		case s.Href != "":
			writeLink(b, s)
		case s.Code:
			b.WriteString("<code>")
			escape(b, s.Text)
			b.WriteString("</code>")
		default:
			escape(b, s.Text)
		}
	}
}

func writeLink(b *strings.Builder, s seg) {
	href, ok := webURL(s.Href)
	if !ok {
		// Unreachable for values from the view; html/template would
		// neuter such a URL the same way.
		href = "#ZgotmplZ"
	}
	b.WriteString(`<a href="`)
	escapeURL(b, href)
	b.WriteString(`" rel="noreferrer">`)
	escape(b, s.Text)
	b.WriteString("</a>")
}

// escape writes s as html/template writes a value in text and in quoted
// attribute values: its htmlReplacementTable for the characters that
// matter in HTML, and U+FFFD for NUL.
func escape(b *strings.Builder, s string) {
	if !strings.ContainsAny(s, "\x00\"&'+<>") {
		b.WriteString(s)
		return
	}
	htmlEscaper.WriteString(b, s)
}

var htmlEscaper = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;")

// escapeURL writes a URL in an href as html/template does: normalised
// (characters that may not appear in a URL percent-encoded), then
// attribute-escaped.
func escapeURL(b *strings.Builder, u string) {
	var n strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		// A % stays only as the start of a valid escape.
		if urlSafe(c) && (c != '%' || i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2])) {
			n.WriteByte(c)
			continue
		}
		n.WriteString("%")
		n.WriteByte("0123456789abcdef"[c>>4])
		n.WriteByte("0123456789abcdef"[c&15])
	}
	escape(b, n.String())
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// urlSafe mirrors html/template's URL normaliser: the unreserved and
// reserved characters of RFC 3986 but for the quote and parentheses, and %
// (already encoded sequences stay).
func urlSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&*+,;=%", c) >= 0
}
