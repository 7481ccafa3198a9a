package bot

import (
	"regexp"
	"strings"
)

// Slack escapes mentions in slash commands registered with should_escape:
// users arrive as <@U123|name> or <@U123>, channels as <#C123|name>, user
// groups as <!subteam^S123|@name>. Only the ID is trusted; the label after |
// is whatever the client typed.
var (
	userMention   = regexp.MustCompile(`^<@([UW][A-Z0-9]{2,20})(\|[^>]*)?>$`)
	userIDPattern = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
)

// ParseUser returns the user ID in a Slack user mention. A bare @name gets a
// hint, because a name is not an identity.
func ParseUser(s string) (string, error) {
	if m := userMention.FindStringSubmatch(s); m != nil {
		return m[1], nil
	}
	if strings.HasPrefix(s, "@") {
		return "", Userf("I need a real mention: type `@` and pick %s from the list so Slack links the person.", s)
	}
	if strings.HasPrefix(s, "<!subteam") || strings.HasPrefix(s, "<#") || strings.HasPrefix(s, "<!") {
		return "", Userf("That is not a person: mention one user, e.g. @alice.")
	}
	return "", Userf("I need a mention of a person, e.g. @alice.")
}

// IsUserID reports whether s has the shape of a Slack user ID.
func IsUserID(s string) bool { return userIDPattern.MatchString(s) }

// MentionUser formats a user ID so chat shows the person. An empty ID (an
// incident opsbot declared by itself has no commander until someone takes
// command) is shown as "nobody yet" rather than as broken markup.
func MentionUser(id string) string {
	if id == "" {
		return "nobody yet"
	}
	return "<@" + id + ">"
}

// MentionChannel formats a channel ID so chat links it.
func MentionChannel(id string) string { return "<#" + id + ">" }

// EscapeText escapes &, < and > as Slack does for text typed in a message, so
// that raw text from a modal is stored in the same form as slash command
// text and can never be read as markup (mentions, links) when posted.
func EscapeText(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return slackEscaper.Replace(s)
}

// UnescapeText turns Slack-escaped text into plain text for places outside
// Slack (PagerDuty, exports, terminals): mentions and links follow Quote's
// rule (a masked link shows its target too), then the entities are decoded.
func UnescapeText(s string) string { return UnescapeEntities(Quote(s)) }

// slackEscaper is built once: a Replacer compiles its table on first use.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
