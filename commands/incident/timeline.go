package incident

import (
	"go.uber.org/zap"

	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/opsbot/opsbot/bot"
)

// timelineShown bounds the ephemeral timeline; the export has everything.
const timelineShown = 40

// timelineTextMax bounds each event's text in /incident timeline, so that
// timelineShown events fit in one Slack message (10 sections of 3,000).
const timelineTextMax = 500

func (s *Service) cmdTimeline(ctx context.Context, req *bot.Request) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	events, err := s.timeline.Events(ctx, inc.Key)
	if err != nil {
		bot.Logger(ctx).Error("timeline not read", zap.String("incident", inc.Key), zap.Error(err))
		return bot.Response{}, errReadDown
	}
	// Pinned messages carry their own time, earlier than their capture.
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time.Before(events[j].Time) })
	var b strings.Builder
	shown := events
	if len(shown) > timelineShown {
		fmt.Fprintf(&b, "_%d earlier events not shown; `/incident export` has them all._\n", len(events)-timelineShown)
		shown = shown[len(shown)-timelineShown:]
	}
	for _, ev := range shown {
		// A long note or a pinned log paste would push the newest events
		// past what Slack shows in one message; the export has it whole.
		ev.Text = truncate(ev.Text, timelineTextMax)
		fmt.Fprintf(&b, "`%s` %s\n", ev.Time.In(s.set.Timezone).Format("Jan 02 15:04:05"), describe(ev, slackRenderer, true))
	}
	if len(events) == 0 {
		b.WriteString("No events yet.")
	}
	return bot.Response{Message: bot.Message{
		Title:   fmt.Sprintf("%s timeline", inc.Key),
		Text:    strings.TrimRight(b.String(), "\n"),
		Context: fmt.Sprintf("%d events, oldest first. Times in %s.", len(events), s.set.Timezone),
	}}, nil
}

// describe turns an event into one line. r renders people, the text people
// wrote and raw values for where the line goes (a Slack message or the
// export); links says whether to include permalinks (the Markdown export
// lists them apart).
func describe(ev bot.TimelineEvent, r renderer, links bool) string {
	d := ev.Details
	who := r.who
	raw := func(k string) string { return r.raw(d[k]) }
	actor := who(ev.Actor)
	if ev.Actor == actorBot || ev.Actor == "" {
		actor = "opsbot"
	}
	text := r.text(ev.Text)
	var s string
	switch ev.Type {
	case bot.TLDeclared:
		s = fmt.Sprintf("%s declared the incident (%s): %s", actor, raw("severity"), text)
	case bot.TLSeverityChanged:
		s = fmt.Sprintf("%s changed severity %s → %s", actor, raw("from"), raw("to"))
	case bot.TLStatusChanged:
		s = fmt.Sprintf("%s changed status %s → %s", actor, raw("from"), raw("to"))
	case bot.TLRoleAssigned:
		s = fmt.Sprintf("%s became %s", who(d["user"]), raw("role"))
		if p := d["previous"]; p != "" {
			s += fmt.Sprintf(", taking over from %s", who(p))
		}
		if ev.Actor != d["user"] {
			s += fmt.Sprintf(" (assigned by %s)", actor)
		}
	case bot.TLUpdate:
		s = fmt.Sprintf("%s posted an update: %s", actor, text)
	case bot.TLNote:
		s = fmt.Sprintf("%s noted: %s", actor, text)
	case bot.TLPinned:
		s = fmt.Sprintf("%s said: %s", actor, text)
		if p := d["pinned_by"]; p != "" {
			s += fmt.Sprintf(" (pinned by %s)", who(p))
		}
	case bot.TLUnpinned:
		s = fmt.Sprintf("%s unpinned a message", actor)
	case bot.TLMessageEdited:
		s = fmt.Sprintf("%s edited a pinned message: %s", actor, text)
	case bot.TLMessageDeleted:
		s = fmt.Sprintf("%s deleted a pinned message", actor)
	case bot.TLRunbook:
		s = runbookLine(actor, ev, r)
	case bot.TLPage:
		s = fmt.Sprintf("%s paged %s", actor, raw("service"))
		if d["simulated"] == "true" {
			s = fmt.Sprintf("%s asked to page %s (drill: simulated, nobody was paged)", actor, raw("service"))
		}
		if ev.Text != "" {
			s += ": " + text
		}
	case bot.TLReminder:
		s = fmt.Sprintf("opsbot reminded %s to post an update", who(d["commander"]))
	case bot.TLResolved:
		s = fmt.Sprintf("%s resolved the incident", actor)
		if ev.Text != "" {
			s += ": " + text
		}
	case bot.TLArchived:
		s = "the channel was archived"
	case bot.TLFollowup:
		s = followupLine(actor, ev, r)
	case bot.TLMilestone:
		s = fmt.Sprintf("milestone: %s (by %s)", raw("milestone"), actor)
	case bot.TLAlertFiring:
		s = "alert fired: " + alertLine(ev, r)
	case bot.TLAlertResolved:
		s = "alert resolved: " + alertLine(ev, r)
	default:
		s = fmt.Sprintf("%s: %s %s", actor, r.raw(string(ev.Type)), text)
	}
	if links {
		if l := r.link(d["permalink"], "link"); l != "" {
			s += " " + l
		}
		if ev.Type == bot.TLPage {
			if l := r.link(d["url"], "page"); l != "" {
				s += " " + l
			}
		}
	}
	return oneLine(s)
}

// alertLine names an alert of a timeline event: its summary (or name) and
// labels, stored Slack-escaped like text people wrote.
func alertLine(ev bot.TimelineEvent, r renderer) string {
	s := firstNonEmpty(ev.Text, ev.Details["alertname"])
	if s == "" {
		return "an alert"
	}
	s = r.text(s)
	if l := ev.Details["labels"]; l != "" {
		s += " (" + r.text(l) + ")"
	}
	return s
}

// outcome summarises a runbook event's result from the details the runbook
// family records.
func outcome(ev bot.TimelineEvent, r renderer) string {
	d := ev.Details
	parts := []string{}
	if o := firstNonEmpty(d["outcome"], d["result"], d["status"]); o != "" {
		parts = append(parts, r.raw(o))
	}
	if c, ok := d["exit_code"]; ok {
		parts = append(parts, "exit "+r.raw(c))
	}
	if a := d["approved_by"]; a != "" {
		parts = append(parts, "approved by "+r.who(a))
	}
	return strings.Join(parts, ", ")
}

// runbookLine describes one step of a runbook attempt, as the runbook
// family records it (details "event", "rule", "approver", "exit_code").
func runbookLine(actor string, ev bot.TimelineEvent, r renderer) string {
	d := ev.Details
	who := r.who
	name := "`" + r.raw(firstNonEmpty(d["runbook"], d["name"], ev.Text)) + "`"
	rule := r.raw(d["rule"])
	switch bot.AuditEvent(d["event"]) {
	case bot.AuditRefused:
		if clicker, what, reason, ok := refusedClick(d); ok {
			whose := actor + "'s"
			if clicker == ev.Actor {
				whose = "their own"
			}
			return fmt.Sprintf("%s could not %s %s request to run runbook %s (%s)", who(clicker), what, whose, name, r.raw(reason))
		}
		return fmt.Sprintf("%s was refused runbook %s%s", actor, name, suffix(" (", rule, ")"))
	case bot.AuditDryRun:
		return fmt.Sprintf("%s previewed runbook %s (dry run)", actor, name)
	case bot.AuditApprovalRequested:
		return fmt.Sprintf("%s asked to run runbook %s; approval needed%s", actor, name, suffix(" (", rule, ")"))
	case bot.AuditApprovalGranted:
		return fmt.Sprintf("%s approved runbook %s", actor, name)
	case bot.AuditApprovalDenied:
		return fmt.Sprintf("%s denied runbook %s", actor, name)
	case bot.AuditApprovalExpired:
		return fmt.Sprintf("the approval request for runbook %s by %s expired", name, actor)
	case bot.AuditStarted:
		return fmt.Sprintf("%s started runbook %s%s", actor, name, suffix(": ", r.raw(d["argv"]), ""))
	case bot.AuditFinished, bot.AuditFailed, bot.AuditTimedOut, bot.AuditKilled:
		return fmt.Sprintf("runbook %s run by %s %s", name, actor, r.raw(runbookOutcome(d)))
	}
	s := fmt.Sprintf("%s ran runbook %s", actor, name)
	if o := outcome(ev, r); o != "" {
		s += ": " + o
	}
	return s
}

// runbookOutcome says how a run ended.
func runbookOutcome(d map[string]string) string {
	took := suffix(" in ", d["duration"], "")
	switch bot.AuditEvent(d["event"]) {
	case bot.AuditFinished:
		if d["exit_code"] == "0" {
			return "succeeded (exit 0" + took + ")"
		}
		return "failed (exit " + d["exit_code"] + took + ")"
	case bot.AuditFailed:
		return "could not start" + suffix(": ", d["rule"], "")
	case bot.AuditTimedOut:
		return "timed out and was killed" + suffix(" after ", d["duration"], "")
	case bot.AuditKilled:
		return "was stopped at shutdown"
	case bot.AuditRefused:
		return "refused" + suffix(" (", d["rule"], ")")
	case bot.AuditApprovalDenied:
		return "denied" + suffix(" by ", d["approver"], "")
	case bot.AuditApprovalExpired:
		return "approval expired"
	}
	return strings.ReplaceAll(d["event"], "_", " ")
}

// refusedClick recognises the runbook family's record of an Approve or Deny
// click that was refused (rule "approval by U… refused: reason" or "denial
// by U… refused: reason", approver the clicker). The request itself still
// stands: it is neither refused nor approved by that.
func refusedClick(d map[string]string) (clicker, what, reason string, ok bool) {
	if bot.AuditEvent(d["event"]) != bot.AuditRefused || d["approver"] == "" {
		return "", "", "", false
	}
	for _, w := range []struct{ prefix, verb string }{{"approval by ", "approve"}, {"denial by ", "deny"}} {
		rest, found := strings.CutPrefix(d["rule"], w.prefix+d["approver"]+" refused: ")
		if found {
			return d["approver"], w.verb, rest, true
		}
	}
	return "", "", "", false
}

// isRunOutcome reports whether a runbook event ends an attempt, for the
// post-mortem's table of runbooks run.
func isRunOutcome(d map[string]string) bool {
	if _, _, _, ok := refusedClick(d); ok {
		return false
	}
	switch bot.AuditEvent(d["event"]) {
	case bot.AuditFinished, bot.AuditFailed, bot.AuditTimedOut, bot.AuditKilled,
		bot.AuditRefused, bot.AuditApprovalDenied, bot.AuditApprovalExpired:
		return true
	case "":
		return true // recorded by something other than the runbook family
	}
	return false
}

func suffix(before, v, after string) string {
	if v == "" {
		return ""
	}
	return before + v + after
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// oneLine keeps multi-line texts on the event's line; any other control
// character is dropped.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(bot.CleanText(s)), "\n", " ⏎ ")
}
