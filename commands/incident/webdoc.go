package incident

import (
	"time"

	"github.com/opsbot/opsbot/bot"
)

// The web pages (package commands/incident/web) are rendered from the same
// Document as the Markdown export. These accessors give them what the
// Markdown template gets, without the Markdown escaping.

// Location is the zone the document's times are shown in (the configured
// incidents.timezone).
func (d *Document) Location() *time.Location {
	if d.tz == nil {
		return time.UTC
	}
	return d.tz
}

// Name is how a person is shown: their name, "opsbot" for the bot, their ID
// when the name is unknown, "—" for nobody.
func (d *Document) Name(id string) string {
	switch id {
	case "":
		return "—"
	case actorBot:
		return "opsbot"
	}
	return d.name(id)
}

// Declarer is who declared the incident, as Name shows people: opsbot
// itself when nobody did (an alert route's auto-declare rule), as the
// timeline says.
func (d *Document) Declarer() string {
	if d.Incident.DeclaredBy == "" {
		return "opsbot"
	}
	return d.Name(d.Incident.DeclaredBy)
}

// Sentence describes ev in one line, as the Markdown timeline does, but as
// Slack-escaped text: people are "@Name" (escaped), and what people wrote is
// as Slack delivered it (entities, and links as <url|label>). Front ends
// must parse or escape it; nothing in it is markup to trust.
func (d *Document) Sentence(ev bot.TimelineEvent) string {
	who := func(id string) string { return bot.EscapeText(d.who(id)) }
	return describe(ev, renderer{
		who:  who,
		text: func(s string) string { return replaceMentions(s, who) },
		raw:  bot.EscapeText,
		link: func(string, string) string { return "" },
	}, false)
}

// Outcome describes a runbook run's result in plain text, people by name.
func (d *Document) Outcome(r RunbookRun) string {
	if r.Details["event"] != "" {
		o := runbookOutcome(r.Details)
		if a := r.Details["approver"]; a != "" && r.Details["event"] != string(bot.AuditApprovalDenied) {
			o += ", approved by " + d.who(a)
		}
		return o
	}
	return outcome(bot.TimelineEvent{Details: r.Details}, d.plain())
}

// FollowupState says where a follow-up stands, in plain text: "open", or
// "done 2026-03-02 by @Name" (or "(closed on GitHub)").
func (d *Document) FollowupState(f bot.Followup) string {
	if f.Open() {
		return "open"
	}
	state := "done " + f.DoneAt.In(d.Location()).Format("2006-01-02")
	if f.DoneBy == actorGitHub {
		state += " (closed on GitHub)"
	} else if f.DoneBy != "" {
		state += " by " + d.who(f.DoneBy)
	}
	return state
}
