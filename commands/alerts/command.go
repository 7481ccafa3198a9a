package alerts

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Limits of /alerts.
const (
	listShown        = 20
	minSilence       = time.Minute
	maxSilence       = 30 * 24 * time.Hour
	maxSilenceNote   = 500
	maxMatchers      = 20
	maxMatcherLength = 200
)

func (s *Service) buildFamily() *bot.Family {
	return &bot.Family{
		Name:        "/alerts",
		Description: "alert groups from Alertmanager and Grafana",
		Default:     s.cmdList,
		Commands: []bot.Command{
			{Name: "list", Aliases: []string{"ls", "firing"}, Usage: "list",
				Description: "firing alert groups, with age, acknowledgement and incident", Handler: s.cmdList},
			{Name: "silences", Usage: "silences", Description: "active silences in Alertmanager", Handler: s.cmdSilences},
			{Name: "silence", Usage: "silence LABEL=VALUE… for DURATION [COMMENT…]",
				Description: "silence the alerts matching every LABEL=VALUE in Alertmanager",
				Examples:    []string{"/alerts silence alertname=DiskFull instance=db-1 for 2h disk replaced"},
				Handler:     s.cmdSilence},
		},
	}
}

func (s *Service) cmdList(ctx context.Context, req *bot.Request) (bot.Response, error) {
	groups, err := s.FiringAlertGroups(ctx)
	if err != nil {
		bot.Logger(ctx).Error("firing alert groups not listed", zap.Error(err))
		return bot.Response{}, bot.Userf("I can't reach the alert store right now. Please try again in a minute.")
	}
	if len(groups) == 0 {
		return bot.Reply("No alert groups are firing. :tada:"), nil
	}
	now := s.clock.Now()
	var b strings.Builder
	for i, g := range groups {
		if i == listShown {
			fmt.Fprintf(&b, "_…and %d more._\n", len(groups)-listShown)
			break
		}
		fmt.Fprintf(&b, ":red_circle: *%s* — %d firing for %s", bot.QuoteRaw(clip(g.Name, maxName)), g.Firing, humanDuration(now.Sub(g.Since)))
		if g.Channel != "" {
			b.WriteString(" in " + bot.MentionChannel(g.Channel))
		}
		if g.AckedBy != "" {
			b.WriteString(" · acknowledged by " + bot.MentionUser(g.AckedBy))
		} else {
			b.WriteString(" · _not acknowledged_")
		}
		if g.Incident != "" {
			b.WriteString(" · " + g.Incident)
		}
		b.WriteByte('\n')
	}
	return bot.Response{Message: bot.Message{Title: fmt.Sprintf("%d alert group%s firing", len(groups), plural(len(groups))),
		Text: strings.TrimRight(b.String(), "\n")}}, nil
}

func (s *Service) cmdSilences(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if s.silencer == nil {
		return bot.Response{}, bot.Userf("Silences are not configured: set alerts.alertmanager_url in the config.")
	}
	all, err := s.silencer.Silences(ctx)
	if err != nil {
		return bot.Response{}, s.silenceError(bot.LoggerOr(ctx, s.log), "list silences", err)
	}
	var active []bot.Silence
	for _, sil := range all {
		if sil.State == "active" || sil.State == "pending" {
			active = append(active, sil)
		}
	}
	if len(active) == 0 {
		return bot.Reply("No silences are active in Alertmanager."), nil
	}
	sort.Slice(active, func(i, j int) bool { return active[i].EndsAt.Before(active[j].EndsAt) })
	var b strings.Builder
	for i, sil := range active {
		if i == listShown {
			fmt.Fprintf(&b, "_…and %d more._\n", len(active)-listShown)
			break
		}
		fmt.Fprintf(&b, ":no_bell: %s — until %s, by %s", bot.QuoteRaw(clip(formatMatchers(sil.Matchers), 300)),
			s.fmt(sil.EndsAt), bot.QuoteRaw(clip(sil.CreatedBy, 100)))
		if sil.State == "pending" {
			b.WriteString(" (starts " + s.fmt(sil.StartsAt) + ")")
		}
		if c := oneLine(sil.Comment); c != "" {
			b.WriteString(": " + bot.QuoteRaw(clip(c, 200)))
		}
		b.WriteByte('\n')
	}
	return bot.Response{Message: bot.Message{Title: fmt.Sprintf("%d active silence%s", len(active), plural(len(active))),
		Text: strings.TrimRight(b.String(), "\n")}}, nil
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// cmdSilence creates a silence from LABEL=VALUE… for DURATION [COMMENT…].
func (s *Service) cmdSilence(ctx context.Context, req *bot.Request) (bot.Response, error) {
	usage := s.family.CommandUsage("silence")
	if s.silencer == nil {
		return bot.Response{}, bot.Userf("Silences are not configured: set alerts.alertmanager_url in the config.")
	}
	// Slack escapes the text (&lt; &amp;, links as <url|label>): matchers
	// and comment are raw text for Alertmanager.
	words := splitWords(bot.UnescapeText(afterFirstWord(req.Text)))
	var matchers []bot.SilenceMatcher
	i := 0
	for ; i < len(words) && !strings.EqualFold(words[i], "for"); i++ {
		name, value, ok := strings.Cut(words[i], "=")
		switch {
		case !ok:
			return bot.Response{}, bot.Userf("`%s` is not LABEL=VALUE.\n%s", bot.QuoteRaw(clip(words[i], 60)), usage)
		case !labelName.MatchString(name):
			return bot.Response{}, bot.Userf("`%s` is not a label name.\n%s", bot.QuoteRaw(clip(name, 60)), usage)
		case value == "":
			return bot.Response{}, bot.Userf("`%s=` with an empty value would match alerts without that label; give a value.", bot.QuoteRaw(name))
		case len(value) > maxMatcherLength:
			return bot.Response{}, bot.Userf("The value of `%s` is longer than %d characters.", bot.QuoteRaw(name), maxMatcherLength)
		}
		matchers = append(matchers, bot.SilenceMatcher{Name: name, Value: value, IsEqual: true})
	}
	if len(matchers) == 0 {
		return bot.Response{}, bot.Userf("Give at least one LABEL=VALUE: a silence without matchers would silence every alert.\n%s", usage)
	}
	if len(matchers) > maxMatchers {
		return bot.Response{}, bot.Userf("That is more than %d matchers.", maxMatchers)
	}
	if i+1 >= len(words) {
		return bot.Response{}, bot.Userf("Say for how long, e.g. `for 2h`.\n%s", usage)
	}
	d, err := parseDuration(words[i+1])
	if err != nil || d < minSilence || d > maxSilence {
		return bot.Response{}, bot.Userf("`%s` is not a duration between 1m and 30d (e.g. 30m, 2h, 1d).", bot.QuoteRaw(clip(words[i+1], 30)))
	}
	comment := strings.Join(words[i+2:], " ")
	if len([]rune(comment)) > maxSilenceNote {
		return bot.Response{}, bot.Userf("Keep the comment to %d characters.", maxSilenceNote)
	}
	for _, m := range matchers {
		if bot.HasControl(m.Value) {
			return bot.Response{}, bot.Userf("The value of `%s` contains control characters (such as ESC or NUL); nothing was silenced.", bot.QuoteRaw(m.Name))
		}
	}
	if bot.HasControl(comment) {
		return bot.Response{}, bot.Userf("The comment contains control characters (such as ESC or NUL); remove them and try again. Nothing was silenced.")
	}
	u, err := s.chat.User(ctx, req.UserID)
	if err != nil {
		return bot.Response{}, bot.Userf("I could not check who you are, so nothing was silenced. Please try again.")
	}
	if u.IsRestricted || u.IsUltraRestricted {
		return bot.Response{}, bot.Userf("Guest accounts can't create silences.")
	}
	if comment == "" {
		comment = "Silenced from Slack with /alerts"
	}
	now := s.clock.Now()
	until := now.Add(d)
	id, err := s.silencer.CreateSilence(ctx, bot.Silence{Matchers: matchers, StartsAt: now, EndsAt: until,
		CreatedBy: createdBy(u), Comment: comment})
	if err != nil {
		return bot.Response{}, s.silenceError(bot.LoggerOr(ctx, s.log), "create silence", err)
	}
	bot.LoggerOr(ctx, s.log).Info("silence created with /alerts", zap.String("silence", id), zap.String("user", req.UserID))
	text := fmt.Sprintf(":no_bell: %s silenced %s for %s (until %s)", bot.MentionUser(req.UserID),
		bot.QuoteRaw(formatMatchers(matchers)), humanDuration(d), s.fmt(until))
	if c := strings.TrimSpace(comment); c != "" && c != "Silenced from Slack with /alerts" {
		text += ": " + bot.QuoteRaw(clip(oneLine(c), 200))
	}
	return bot.Say(text + "."), nil
}

// afterFirstWord is text without its first word (the subcommand).
func afterFirstWord(text string) string {
	text = strings.TrimSpace(text)
	if i := strings.IndexAny(text, " \t\n"); i >= 0 {
		return strings.TrimSpace(text[i:])
	}
	return ""
}

// parseDuration accepts Go durations and days ("1d", "1d12h").
func parseDuration(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 366 {
			return 0, fmt.Errorf("duration %q", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return days + d, nil
}

// formatMatchers writes matchers as Alertmanager does: name="value",
// with =, !=, =~ and !~.
func formatMatchers(ms []bot.SilenceMatcher) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		op := "="
		switch {
		case m.IsRegex && m.IsEqual:
			op = "=~"
		case m.IsRegex:
			op = "!~"
		case !m.IsEqual:
			op = "!="
		}
		parts = append(parts, m.Name+op+strconv.Quote(m.Value))
	}
	return strings.Join(parts, ", ")
}
