package incident

import (
	"net/url"
	"strings"

	"github.com/opsbot/opsbot/bot"
)

// Text people wrote (titles, descriptions, updates, notes, resolutions,
// pinned messages) is stored as Slack-escaped text, as slash commands
// deliver it. It is quoted where a message is built, never where it is
// stored, so that every message builder below goes through one of these
// and the export can render the same record for Markdown instead.

// quoted is an incident's person-written text, quoted for repeating in
// Slack: nothing in it pings anyone or hides a link target.
type quoted struct {
	Title, Description, LastUpdate, Resolution string
}

// quote returns inc's person-written text quoted with bot.Quote.
func quote(inc *bot.Incident) quoted {
	return quoted{
		Title:       bot.Quote(bot.OneLine(inc.Title)),
		Description: bot.Quote(inc.Description),
		LastUpdate:  bot.Quote(inc.LastUpdate),
		Resolution:  bot.Quote(inc.Resolution),
	}
}

// renderer says how describe shows each kind of value: people, text a
// person wrote (Slack-escaped) and raw values (runbook names and argv,
// services, PagerDuty names).
type renderer struct {
	who  func(id string) string
	text func(s string) string
	raw  func(s string) string
	// link renders a link to url labelled label, or "" to leave it out.
	link func(url, label string) string
}

// slackRenderer renders for Slack messages: people mentioned by ID (the
// bot's own mentions), everything else quoted.
var slackRenderer = renderer{who: bot.MentionUser, text: bot.Quote, raw: bot.QuoteRaw, link: slackLink}

// slackLink is Slack link markup for an http(s) URL, or "" when url is not
// one or could break out of the markup.
func slackLink(raw, label string) string {
	u, ok := webURL(raw)
	if !ok || strings.ContainsAny(u, "|<>") {
		return ""
	}
	return "<" + u + "|" + label + ">"
}

// webURL returns raw if it is an absolute http(s) URL with a host and no
// control characters or spaces.
func webURL(raw string) (string, bool) {
	if raw == "" || bot.HasControl(raw) || strings.ContainsAny(raw, " \n\t") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	return raw, true
}
