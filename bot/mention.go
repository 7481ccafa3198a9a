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
	userMention      = regexp.MustCompile(`^<@([UW][A-Z0-9]{2,20})(\|[^>]*)?>$`)
	channelMention   = regexp.MustCompile(`^<#([CG][A-Z0-9]{2,20})(\|[^>]*)?>$`)
	usergroupMention = regexp.MustCompile(`^<!subteam\^(S[A-Z0-9]{2,20})(\|[^>]*)?>$`)
	userIDPattern    = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
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

// ParseChannel returns the channel ID in a Slack channel mention.
func ParseChannel(s string) (string, error) {
	if m := channelMention.FindStringSubmatch(s); m != nil {
		return m[1], nil
	}
	return "", Userf("I need a channel link, e.g. #ops.")
}

// ParseUsergroup returns the user group ID in a Slack user group mention.
func ParseUsergroup(s string) (string, error) {
	if m := usergroupMention.FindStringSubmatch(s); m != nil {
		return m[1], nil
	}
	return "", Userf("I need a user group mention, e.g. @sre.")
}

// IsUserID reports whether s has the shape of a Slack user ID.
func IsUserID(s string) bool { return userIDPattern.MatchString(s) }

// MentionUser formats a user ID so chat shows the person.
func MentionUser(id string) string { return "<@" + id + ">" }

// MentionChannel formats a channel ID so chat links it.
func MentionChannel(id string) string { return "<#" + id + ">" }

// specialMention matches Slack's broadcast mentions (<!here>, <!channel>,
// <!everyone>) and user group mentions (<!subteam^S123|@sre>).
var specialMention = regexp.MustCompile(`<!(here|channel|everyone)(\|[^>]*)?>|<!subteam\^[A-Z0-9]+\|(@?[^>]*)>|<!subteam\^[A-Z0-9]+>`)

// DefuseBroadcasts turns broadcast and user group mentions in user text into
// plain words, so that text the bot repeats on its own (a title in a topic,
// an announcement, a handoff message) cannot page a whole channel or group.
func DefuseBroadcasts(s string) string {
	return specialMention.ReplaceAllStringFunc(s, func(m string) string {
		sub := specialMention.FindStringSubmatch(m)
		switch {
		case sub[1] != "":
			return "@" + sub[1]
		case sub[3] != "":
			return "@" + strings.TrimPrefix(sub[3], "@")
		}
		return "@group"
	})
}

// EscapeText escapes &, < and > as Slack does for text typed in a message, so
// that raw text from a modal is stored in the same form as slash command
// text and can never be read as markup (mentions, links) when posted.
func EscapeText(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return slackEscaper.Replace(s)
}

// slackEscaper is built once: a Replacer compiles its table on first use.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// UnescapeText reverses Slack's escaping and shows mentions and links by
// their labels, for text leaving Slack (PagerDuty, exports).
func UnescapeText(s string) string {
	s = slackMarkup.ReplaceAllStringFunc(s, func(m string) string {
		inner := m[1 : len(m)-1]
		if _, label, ok := strings.Cut(inner, "|"); ok && label != "" {
			return label
		}
		if strings.HasPrefix(inner, "!") && !strings.HasPrefix(inner, "!subteam^") {
			return "@" + inner[1:]
		}
		return inner
	})
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

var slackMarkup = regexp.MustCompile(`<[^<>]*>`)
