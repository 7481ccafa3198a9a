package web

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/opsbot/opsbot/bot"
)

// seg is one run of text on a page: plain, inline code, or a link. The
// template escapes every field; Href is set only for http, https and mailto
// URLs.
type seg struct {
	Text string
	Href string
	Code bool
}

// slackControl matches one piece of Slack's control markup: <@U…>, <#C…>,
// <!here>, <https://…|label>.
var slackControl = regexp.MustCompile(`<([^<>]*)>`)

// segments turns Slack-escaped text (what people typed, as Slack delivered
// it; the Document's sentences) into text for a page: links to web
// addresses stay links, every other piece of markup becomes the plain words
// a Slack reader sees (bot.Quote's rule), entities are decoded, and `code`
// spans are kept apart. Nothing in the result is markup: the template
// escapes it all.
func segments(s string) []seg {
	if !strings.ContainsAny(s, "<>&`") {
		return []seg{{Text: s}}
	}
	var out []seg
	last := 0
	for _, m := range slackControl.FindAllStringIndex(s, -1) {
		out = appendText(out, s[last:m[0]])
		inner := s[m[0]+1 : m[1]-1]
		target, label, _ := strings.Cut(inner, "|")
		if href, ok := webURL(bot.UnescapeEntities(target)); ok {
			text := bot.UnescapeEntities(label)
			if text == "" {
				text = href
			}
			out = append(out, seg{Text: text, Href: href})
		} else {
			out = append(out, seg{Text: bot.UnescapeEntities(bot.Quote(s[m[0]:m[1]]))})
		}
		last = m[1]
	}
	return appendText(out, s[last:])
}

// appendText adds plain Slack-escaped text, with `code` spans apart.
func appendText(out []seg, s string) []seg {
	for s != "" {
		i := strings.IndexByte(s, '`')
		j := -1
		if i >= 0 {
			j = strings.IndexByte(s[i+1:], '`')
		}
		if i < 0 || j <= 0 {
			return append(out, seg{Text: bot.UnescapeEntities(s)})
		}
		if i > 0 {
			out = append(out, seg{Text: bot.UnescapeEntities(s[:i])})
		}
		out = append(out, seg{Text: bot.UnescapeEntities(s[i+1 : i+1+j]), Code: true})
		s = s[i+j+2:]
	}
	return out
}

// webURL accepts absolute http and https URLs with a host, and mailto
// addresses; anything else (javascript:, data:, relative paths, control
// characters) is not a link on our pages.
func webURL(s string) (string, bool) {
	if s == "" || len(s) > 4096 || strings.ContainsAny(s, " \t\r\n\"'<>\\`") {
		return "", false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" || u.User != nil {
			return "", false
		}
	case "mailto":
		if u.Opaque == "" {
			return "", false
		}
	default:
		return "", false
	}
	return u.String(), true
}
