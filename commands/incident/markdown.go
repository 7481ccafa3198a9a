package incident

import (
	"strings"

	"github.com/opsbot/opsbot/bot"
)

// The post-mortem is read as Markdown (GitHub, wikis) and rendered to
// HTML, so every piece of text the template did not write itself must stay
// text there: no heading, list, table row, link, image, code, emphasis or
// HTML that its author did not mean as such. These functions are the only
// way values reach the Markdown document.

// mdInline renders raw text as one line of Markdown text: line breaks
// become " ⏎ ", control characters go, and every character CommonMark or
// GitHub's extensions could read as syntax is backslash-escaped. It is
// escaped as if it started a line, because a template may put it there (a
// list item's text is where a heading could start).
func mdInline(s string) string {
	return mdEscapeLine(oneLine(s))
}

// mdBlock renders raw, possibly multi-line, text as Markdown paragraphs:
// each line stays a line (a hard break), and nothing at the start of a line
// can begin a heading, list, quote, code block, table or HTML block.
func mdBlock(s string) string {
	s = strings.TrimSpace(bot.CleanText(s))
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		// Leading blanks would make an indented code block; a tab
		// anywhere counts as up to four spaces.
		l = strings.TrimSpace(strings.ReplaceAll(l, "\t", " "))
		if l == "" {
			out = append(out, "")
			continue
		}
		out = append(out, mdEscapeLine(l))
	}
	// A backslash at the end of a line is a hard line break in CommonMark,
	// which keeps the author's lines without starting new blocks.
	var b strings.Builder
	for i, l := range out {
		b.WriteString(l)
		if i < len(out)-1 {
			if l != "" && out[i+1] != "" {
				b.WriteString("\\")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// mdText and mdTextBlock render text people wrote in Slack (Slack-escaped,
// with mentions and links): as plain text first, following bot.Quote's
// rule (a masked link shows its target), then as Markdown text.
func mdText(s string) string      { return mdInline(bot.UnescapeText(s)) }
func mdTextBlock(s string) string { return mdBlock(bot.UnescapeText(s)) }

// mdAlways are escaped wherever they are: inline syntax (code, emphasis,
// strikethrough, links and images, autolinks, HTML, entities, table cells),
// headings (# also closes one) and the escape character itself.
const mdAlways = "\\`*_~[]<>&|#"

// mdEscapeLine escapes one line, including what opens a block at its
// start: - + = (list, thematic break, setext underline), > and # (in
// mdAlways), and the dot or parenthesis of an ordered list marker ("1."
// "2)").
func mdEscapeLine(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	digits := true // still in the leading run of digits
	for i, r := range s {
		switch {
		case strings.ContainsRune(mdAlways, r):
			b.WriteByte('\\')
		case i == 0 && strings.ContainsRune("-+=", r):
			b.WriteByte('\\')
		case digits && i > 0 && (r == '.' || r == ')'):
			b.WriteByte('\\')
		case r == ':' && i > 0 && isASCIILetter(s[i-1]) && i+1 < len(s) && s[i+1] != ' ':
			// "scheme:x" — GitHub's extended autolinks turn some schemes
			// (ftp://, mailto:, xmpp:) into links without any brackets;
			// "said: x" is left alone.
			b.WriteByte('\\')
		}
		if digits && (r < '0' || r > '9') {
			digits = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// mdLink renders a link whose target the bot got from Slack or PagerDuty:
// only an absolute http(s) URL, percent-encoding what could end the
// destination early; anything else is left out ("").
func mdLink(label, raw string) string {
	u, ok := webURL(raw)
	if !ok {
		return ""
	}
	u = strings.NewReplacer("(", "%28", ")", "%29", "<", "%3C", ">", "%3E", "\\", "%5C", "`", "%60").Replace(u)
	return "[" + mdInline(label) + "](" + u + ")"
}
