package bot

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Text a person or an alert supplied reaches chat again in many places: an
// incident title in a topic, an update in the broadcast channel, a runbook
// argument in an approval request, an alert annotation. Repeated there it
// must never ping anyone (the bot may post where the author cannot) and must
// never hide where a link goes. Quote and QuoteRaw are the one rule for that;
// every family uses them for text it did not write itself.

// slackControl matches one piece of Slack's control markup: <@U…>, <#C…>,
// <!here>, <!subteam^S…|@x>, <!date^…|fallback>, <https://…|label>.
var slackControl = regexp.MustCompile(`<([^<>]*)>`)

// Quote renders Slack-escaped text (what slash commands deliver, and what
// EscapeText makes of form input) so that it can be repeated in any message:
// broadcasts and user-group mentions become plain words (@here, @sre), user
// mentions become @name (or @ID when Slack gave no name), channel links
// become #name, dates their fallback, and masked links show their target as
// "label (url)". Everything that is left is Slack-escaped, so nothing in the
// result is markup.
func Quote(s string) string {
	if !strings.ContainsAny(s, "<>") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range slackControl.FindAllStringIndex(s, -1) {
		b.WriteString(strayBrackets.Replace(s[last:m[0]]))
		b.WriteString(EscapeText(quoteControl(UnescapeEntities(s[m[0]+1 : m[1]-1]))))
		last = m[1]
	}
	// A lone < or > is escaped too: left raw, it could pair with a bracket
	// the bot writes after it and become markup.
	b.WriteString(strayBrackets.Replace(s[last:]))
	return b.String()
}

var strayBrackets = strings.NewReplacer("<", "&lt;", ">", "&gt;")

// QuoteRaw renders raw text (alert labels and annotations, runbook output,
// anything that did not come through Slack's own escaping) for repeating in
// a message: it is Slack-escaped, so every < and & is shown as typed and
// nothing can be read as a mention or a link.
func QuoteRaw(s string) string { return EscapeText(s) }

// UnescapeEntities reverses only Slack's three entities, leaving any markup
// in place.
func UnescapeEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return entityReplacer.Replace(s)
}

var entityReplacer = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// quoteControl describes one control sequence (without its angle brackets)
// as plain text.
func quoteControl(inner string) string {
	target, label, hasLabel := strings.Cut(inner, "|")
	switch {
	case strings.HasPrefix(target, "@"):
		if hasLabel && label != "" {
			return "@" + strings.TrimPrefix(label, "@")
		}
		return target
	case strings.HasPrefix(target, "#"):
		if hasLabel && label != "" {
			return "#" + strings.TrimPrefix(label, "#")
		}
		return target
	case strings.HasPrefix(target, "!subteam^"):
		if hasLabel && label != "" {
			return "@" + strings.TrimPrefix(label, "@")
		}
		return "@group"
	case strings.HasPrefix(target, "!date^"):
		if hasLabel {
			return label
		}
		return "a date"
	case strings.HasPrefix(target, "!"):
		// <!here>, <!channel>, <!everyone>, and whatever Slack adds later.
		return "@" + strings.TrimPrefix(target, "!")
	}
	if !hasLabel || label == "" || label == target {
		return target
	}
	return label + " (" + target + ")"
}

// FormatTime writes t so that Slack shows it in each reader's own time zone
// ("Dec 1, 2026 18:00" for one reader, "Dec 2, 2026 03:00" for another).
// Clients that cannot render dates, and console mode, show the fallback:
// t in loc (UTC when nil) with the zone's abbreviation.
func FormatTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return "<!date^" + strconv.FormatInt(t.Unix(), 10) + "^{date_short_pretty} {time}|" +
		t.In(loc).Format("2006-01-02 15:04 MST") + ">"
}

// dateMarkup matches what FormatTime writes.
var dateMarkup = regexp.MustCompile(`<!date\^\d+\^[^|>]*\|([^>]*)>`)

// DateFallbacks replaces Slack date markup with its fallback text, for front
// ends that render text themselves (console mode, exports).
func DateFallbacks(s string) string { return dateMarkup.ReplaceAllString(s, "$1") }
