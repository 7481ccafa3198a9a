package incident

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Slack limits topic and purpose to 250 characters.
const topicMax = 250

// topic is the channel topic: what a responder glances at.
func (s *Service) topic(inc *bot.Incident) string {
	t := fmt.Sprintf("%s | %s | commander %s | %s", strings.ToUpper(string(inc.Severity)), inc.Status,
		bot.MentionUser(inc.Commander), inc.Key)
	return truncate(bot.OneLine(t+": "+quote(inc).Title), topicMax)
}

// purpose is the channel purpose: the incident in one sentence.
func (s *Service) purpose(inc *bot.Incident) string {
	p := fmt.Sprintf("Severity %s, status %s, commander %s. %s: %s", inc.Severity, inc.Status,
		bot.MentionUser(inc.Commander), inc.Key, quote(inc).Title)
	return truncate(bot.OneLine(p), topicMax)
}

// summaryMessage is the pinned message at the top of the incident channel.
func (s *Service) summaryMessage(inc *bot.Incident) bot.Message {
	q := quote(inc)
	m := bot.Message{
		Channel: inc.Channel,
		Title:   fmt.Sprintf("%s %s: %s", sevEmoji(inc.Severity), inc.Key, q.Title),
		Text:    s.withLatestUpdate(q.Description, inc),
		Fields:  s.stateFields(inc),
	}
	if inc.Open() {
		m.Buttons = []bot.Button{
			{ID: ActionTakeCommand, Text: "Take command", Value: inc.Key},
			{ID: ActionAssign, Text: "Assign roles", Value: inc.Key},
			{ID: ActionUpdateStatus, Text: "Update status", Value: inc.Key, Style: bot.ButtonPrimary},
			{ID: ActionResolve, Text: "Resolve", Value: inc.Key, Style: bot.ButtonDanger},
		}
		if s.links != nil {
			m.Buttons = append(m.Buttons, bot.Button{ID: ActionWebLink, Text: "Web page", Value: inc.Key})
		}
		m.Context = "React with :pushpin: to add a message to the timeline. `/incident help` lists the commands."
	} else {
		m.Title = fmt.Sprintf(":white_check_mark: %s (resolved): %s", inc.Key, q.Title)
		m.Context = fmt.Sprintf("Resolved after %s. `/incident export` writes the post-mortem.",
			humanDuration(inc.ResolvedAt.Sub(inc.DeclaredAt)))
		if q.Resolution != "" {
			m.Text = strings.TrimSpace(m.Text + "\n*Resolution:* " + q.Resolution)
		}
		if s.links != nil {
			m.Buttons = []bot.Button{{ID: ActionWebLink, Text: "Web page", Value: inc.Key}}
		}
	}
	return m
}

// announcement is the message in the broadcast channel, kept current.
func (s *Service) announcement(inc *bot.Incident) bot.Message {
	fields := []bot.Field{
		{Label: "Severity", Value: string(inc.Severity)},
		{Label: "Status", Value: string(inc.Status)},
		{Label: "Commander", Value: bot.MentionUser(inc.Commander)},
		{Label: "Channel", Value: bot.MentionChannel(inc.Channel)},
	}
	q := quote(inc)
	title := fmt.Sprintf("%s %s declared: %s", sevEmoji(inc.Severity), inc.Key, q.Title)
	if !inc.Open() {
		title = fmt.Sprintf(":white_check_mark: %s resolved: %s", inc.Key, q.Title)
		fields = append(fields, bot.Field{Label: "Duration", Value: humanDuration(inc.ResolvedAt.Sub(inc.DeclaredAt))})
	}
	return bot.Message{
		Channel: s.set.BroadcastChannel,
		Title:   title,
		Text:    s.withLatestUpdate(q.Description, inc),
		Fields:  fields,
		Context: fmt.Sprintf("Declared %s by %s. Join %s to help.", s.fmtTime(inc.DeclaredAt),
			declarer(inc), bot.MentionChannel(inc.Channel)),
	}
}

// withLatestUpdate appends the latest status update to text (already
// quoted), so that the summary and the announcement answer "what's going
// on" at a glance.
func (s *Service) withLatestUpdate(text string, inc *bot.Incident) string {
	if inc.LastUpdate == "" {
		return text
	}
	u := fmt.Sprintf("*Latest update* (%s, %s): %s", s.fmtTime(inc.LastUpdateAt), bot.MentionUser(inc.LastUpdateBy), quote(inc).LastUpdate)
	if text == "" {
		return u
	}
	return text + "\n\n" + u
}

func (s *Service) stateFields(inc *bot.Incident) []bot.Field {
	f := []bot.Field{
		{Label: "Severity", Value: string(inc.Severity)},
		{Label: "Status", Value: string(inc.Status)},
		{Label: "Commander", Value: bot.MentionUser(inc.Commander)},
	}
	roles := make([]string, 0, len(s.set.Roles))
	for r := range s.set.Roles {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	for _, r := range roles {
		v := "_unassigned_"
		if u := inc.Roles[bot.Role(r)]; u != "" {
			v = bot.MentionUser(u)
		}
		f = append(f, bot.Field{Label: titleCase(r), Value: v})
	}
	f = append(f, bot.Field{Label: "Declared", Value: s.fmtTime(inc.DeclaredAt) + " by " + declarer(inc)})
	return f
}

// declarer is who declared inc: opsbot itself when nobody did (an alert
// route's auto-declare rule), as the timeline says.
func declarer(inc *bot.Incident) string {
	if inc.DeclaredBy == "" || inc.DeclaredBy == actorBot {
		return "opsbot"
	}
	return bot.MentionUser(inc.DeclaredBy)
}

// refresh brings topic, purpose, summary and announcement up to date, all at
// once. Topic and purpose are set only when their text changed (Slack rate
// limits them tightly and announces every change in the channel). Failures
// are logged, not returned: the change itself is stored and the next refresh
// repairs the display.
func (s *Service) refresh(ctx context.Context, before *bot.Incident, inc bot.Incident) {
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key))
	var fns []func(context.Context) error
	if inc.Channel != "" && !inc.Archived {
		if t := s.topic(&inc); before == nil || t != s.topic(before) {
			fns = append(fns, func(ctx context.Context) error { return s.chat.SetTopic(ctx, inc.Channel, t) })
		}
		if p := s.purpose(&inc); before == nil || p != s.purpose(before) {
			fns = append(fns, func(ctx context.Context) error { return s.chat.SetPurpose(ctx, inc.Channel, p) })
		}
	}
	if inc.SummaryRef.TS != "" && !inc.Archived {
		fns = append(fns, func(ctx context.Context) error {
			return s.chat.Update(ctx, inc.SummaryRef, s.summaryMessage(&inc))
		})
	}
	if inc.AnnouncementRef.TS != "" {
		fns = append(fns, func(ctx context.Context) error {
			return s.chat.Update(ctx, inc.AnnouncementRef, s.announcement(&inc))
		})
	}
	if err := parallel(ctx, fns...); err != nil {
		log.Warn("incident display not fully refreshed", zap.Error(err))
	}
}

// fmtTime writes a time for Slack: each reader sees it in their own zone,
// and the fallback (console, exports of messages) is in incidents.timezone.
func (s *Service) fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return bot.FormatTime(t, s.set.Timezone)
}

func sevEmoji(sev bot.Severity) string {
	switch sev {
	case bot.Sev1:
		return ":red_circle:"
	case bot.Sev2:
		return ":large_orange_circle:"
	case bot.Sev3:
		return ":large_yellow_circle:"
	default:
		return ":white_circle:"
	}
}

// humanDuration prints a duration as people say it: "1h 23m", "45s".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	sec := d / time.Second
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%dd", days))
	}
	if h > 0 {
		parts = append(parts, fmt.Sprintf("%dh", h))
	}
	if m > 0 {
		parts = append(parts, fmt.Sprintf("%dm", m))
	}
	if sec > 0 && days == 0 && h == 0 {
		parts = append(parts, fmt.Sprintf("%ds", sec))
	}
	if len(parts) == 0 {
		return "0s"
	}
	return strings.Join(parts, " ")
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}

func joinOr(words []string) string { return strings.Join(words, "|") }
