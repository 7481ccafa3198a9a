package runbook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/runbooks"
)

// formatArgv shows an argv unambiguously: a JSON array, one string per
// element, exactly as it is passed to the program.
func formatArgv(argv []string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(argv)
	return strings.TrimSpace(b.String())
}

// tail returns the last n bytes of s, starting at a line (and rune)
// boundary, marked when something was cut.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return "…\n" + s
}

func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '`' {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func mentions(ids []string, f func(string) string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = f(id)
	}
	return out
}

func mentionGroup(id string) string { return "<!subteam^" + id + ">" }

func whoMayRun(rb *runbooks.Runbook) string {
	parts := []string{"admins"}
	if a := rb.Allow; a != nil {
		parts = append(parts, mentions(a.Users, bot.MentionUser)...)
		parts = append(parts, mentions(a.Usergroups, mentionGroup)...)
		for _, c := range a.Channels {
			parts = append(parts, "anyone in "+bot.MentionChannel(c))
		}
		if a.Guests {
			parts = append(parts, "(guests allowed)")
		}
	}
	return strings.Join(parts, ", ")
}

func approvalWhen(rb *runbooks.Runbook) string {
	if rb.Approval == nil || len(rb.Approval.When) == 0 {
		return ""
	}
	names := make([]string, 0, len(rb.Approval.When))
	for n := range rb.Approval.When {
		names = append(names, n)
	}
	sort.Strings(names)
	var conds []string
	for _, n := range names {
		conds = append(conds, n+"="+strings.Join(rb.Approval.When[n], "|"))
	}
	return " when " + strings.Join(conds, " or ")
}

func approversText(rb *runbooks.Runbook) string {
	if rb.Approval == nil {
		return "admins"
	}
	parts := append(mentions(rb.Approval.Approvers.Users, bot.MentionUser), mentions(rb.Approval.Approvers.Usergroups, mentionGroup)...)
	return strings.Join(append(parts, "admins"), ", ")
}

func approvalText(rb *runbooks.Runbook) string {
	if rb.Approval == nil {
		return "not needed"
	}
	return "needed" + approvalWhen(rb) + ", by " + approversText(rb)
}

func approvalReason(rule string) string {
	if rule == "always" {
		return "this runbook always needs approval"
	}
	return "approval needed because " + rule
}

func paramsText(rb *runbooks.Runbook) string {
	if len(rb.ParamOrder) == 0 {
		return "_No parameters._"
	}
	var b strings.Builder
	b.WriteString("*Parameters*")
	for _, name := range rb.ParamOrder {
		p := rb.Params[name]
		fmt.Fprintf(&b, "\n• `%s` (%s", name, paramShape(p))
		if p.Required {
			b.WriteString(", required")
		} else {
			fmt.Fprintf(&b, ", default `%s`", p.Default)
		}
		b.WriteString(")")
		if p.Description != "" {
			b.WriteString(" — " + p.Description)
		}
	}
	return b.String()
}

func paramShape(p *runbooks.Param) string {
	switch p.Type {
	case runbooks.TypeEnum:
		return "one of " + strings.Join(p.Enum, ", ")
	case runbooks.TypeString:
		s := fmt.Sprintf("text matching `%s`, at most %d", p.Pattern, p.MaxLength)
		if p.DenyPattern != "" {
			s += fmt.Sprintf(", not matching `%s`", p.DenyPattern)
		}
		return s
	case runbooks.TypePath:
		s := "file: " + strings.Join(p.Allow, ", ")
		if p.Base != "" {
			s += " (relative to " + p.Base + ")"
		}
		return s
	case runbooks.TypeHost:
		s := "host name or address"
		if p.WithPort {
			s += ", optionally :port"
		}
		if p.AllowPrivate {
			return s + "; not this host or a metadata service"
		}
		return s + "; not this host, a metadata service or a private address"
	case runbooks.TypeInt:
		s := "integer"
		if p.Min != nil {
			s += " ≥ " + strconv.FormatInt(*p.Min, 10)
		}
		if p.Max != nil {
			s += " ≤ " + strconv.FormatInt(*p.Max, 10)
		}
		return s
	case runbooks.TypeDuration:
		return "duration such as 90s or 5m"
	case runbooks.TypeBool:
		return "true or false"
	}
	return string(p.Type)
}

func usageParams(rb *runbooks.Runbook) string {
	var b strings.Builder
	for _, name := range rb.ParamOrder {
		if rb.Params[name].Required {
			fmt.Fprintf(&b, " %s=…", name)
		} else {
			fmt.Fprintf(&b, " [%s=…]", name)
		}
	}
	return b.String()
}

func dryRunResponse(rb *runbooks.Runbook, inv *runbooks.Invocation, d runbooks.Decision) bot.Response {
	decision := ":white_check_mark: you may run it (" + d.Rule + ")"
	if !d.Allowed {
		decision = ":no_entry: you may not run it: " + d.Rule
	}
	approval := "not needed"
	if inv.ApprovalRule != "" {
		approval = approvalReason(inv.ApprovalRule) + "; approvers: " + approversText(rb)
	}
	fields := []bot.Field{
		{Label: "Decision", Value: decision},
		{Label: "Approval", Value: approval},
		{Label: "Program", Value: "`" + rb.Path + "`"},
		{Label: "Timeout", Value: rb.Timeout.String()},
		{Label: "Lock", Value: "`" + inv.LockKey + "`"},
	}
	if rb.Missing != "" {
		fields[2].Value = ":warning: " + rb.Missing
	}
	return bot.Response{Message: bot.Message{
		Title:   "Dry run: " + rb.Name,
		Text:    "Nothing was run. This is the exact argv, run without a shell:",
		Code:    formatArgv(inv.Argv),
		Fields:  fields,
		Context: "argv sha256 " + inv.Hash[:12] + "…",
	}}
}

func headerMessage(rs runSpec, status string) bot.Message {
	m := bot.Message{
		Channel: rs.channel,
		Title:   "Runbook " + rs.inv.Runbook.Name,
		Text:    status,
		Code:    formatArgv(rs.inv.Argv),
		Fields:  []bot.Field{{Label: "Requested by", Value: bot.MentionUser(rs.audit.User)}},
	}
	if rs.audit.Approver != "" {
		m.Fields = append(m.Fields, bot.Field{Label: "Approved by", Value: bot.MentionUser(rs.audit.Approver)})
	}
	m.Context = "run " + rs.audit.RunID
	return m
}

func summaryText(rb *runbooks.Runbook, res runbooks.Result) string {
	d := roundDuration(res.Duration)
	switch {
	case res.TimedOut:
		if res.Isolation == runbooks.IsolationNamespace {
			return fmt.Sprintf(":alarm_clock: timed out after %s; it and every process it started were killed", rb.Timeout)
		}
		return fmt.Sprintf(":alarm_clock: timed out after %s; its process group was killed", rb.Timeout)
	case res.Killed:
		return fmt.Sprintf(":octagonal_sign: killed after %s (opsbot shutting down)", d)
	case res.ExitCode == 0:
		return fmt.Sprintf(":white_check_mark: finished: exit code 0 in %s", d)
	}
	return fmt.Sprintf(":x: failed: exit code %d in %s", res.ExitCode, d)
}

// timelineEvent turns an audit record into an incident timeline entry.
func timelineEvent(id uuid.UUID, rec bot.AuditRecord) bot.TimelineEvent {
	details := map[string]string{
		"runbook":  rec.Runbook,
		"event":    string(rec.Event),
		"run_id":   rec.RunID,
		"decision": rec.Decision,
	}
	if len(rec.Argv) > 0 {
		details["argv"] = formatArgv(rec.Argv)
	}
	if rec.Rule != "" {
		details["rule"] = rec.Rule
	}
	if rec.Approver != "" {
		details["approver"] = rec.Approver
	}
	text := fmt.Sprintf("runbook %s: %s", rec.Runbook, strings.ReplaceAll(string(rec.Event), "_", " "))
	if rec.ExitCode != nil {
		details["exit_code"] = strconv.Itoa(*rec.ExitCode)
		details["duration"] = rec.Duration.Round(time.Millisecond).String()
		text += fmt.Sprintf(" (exit code %d, %s)", *rec.ExitCode, roundDuration(rec.Duration))
	}
	actor := rec.User
	if rec.Approver != "" && (rec.Event == bot.AuditApprovalGranted || rec.Event == bot.AuditApprovalDenied) {
		actor = rec.Approver
	}
	return bot.TimelineEvent{
		ID: id, Incident: rec.Incident, Type: bot.TLRunbook, Actor: actor, Time: rec.Time,
		Text: text, Details: details, DedupeKey: "runbook:" + rec.ID,
	}
}

// roundDuration keeps a readable precision: 3ms, 1.25s, 2m3.4s.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
