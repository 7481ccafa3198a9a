package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

var _ bot.IncidentDeclarer = (*Service)(nil)

// DeclareLinked implements bot.IncidentDeclarer: it declares an incident
// for another family (an alert group's Declare button or auto-declare rule)
// through the same path as /incident declare, once per d.DedupeKey. The
// title is raw text, escaped here; an empty DeclaredBy makes opsbot the
// declarer, with no commander until someone takes command. A new incident
// records when the problem was detected and the linked alert group, and its
// channel gets a link back to the alert message.
func (s *Service) DeclareLinked(ctx context.Context, d bot.LinkedDeclaration) (bot.IncidentSummary, bool, error) {
	if d.DedupeKey == "" {
		return bot.IncidentSummary{}, false, errors.New("declare linked incident: empty dedupe key")
	}
	title := linkedTitle(d.Title)
	sev := d.Severity
	if !sev.Valid() {
		sev = bot.Sev3
	}
	var groups []string
	if d.AlertGroup != "" {
		groups = []string{d.AlertGroup}
	}
	inc, created, err := s.declare(ctx, declaration{Title: title, Severity: sev, By: d.DeclaredBy,
		DedupeKey: "linked:" + d.DedupeKey, DetectedAt: d.DetectedAt, AlertGroups: groups,
		Description: linkedDescription(d)})
	if err != nil {
		return bot.IncidentSummary{}, false, err
	}
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key), zap.String("alert_group", d.AlertGroup))
	if !created && d.AlertGroup != "" && inc.Channel != "" && !slices.Contains(inc.AlertGroups, d.AlertGroup) {
		// Declared before from this key but by an older opsbot, or the link
		// was lost: make sure the group is listed.
		if updated, err := s.store.Update(ctx, inc.Key, func(i *bot.Incident) error {
			if !slices.Contains(i.AlertGroups, d.AlertGroup) {
				i.AlertGroups = append(i.AlertGroups, d.AlertGroup)
			}
			return nil
		}); err != nil {
			log.Warn("alert group not linked to incident", zap.Error(err))
		} else {
			inc = updated
		}
	}
	if created && inc.Channel != "" && d.AlertMessage.TS != "" {
		s.linkBack(ctx, inc, d, log)
	}
	return bot.IncidentSummary{Key: inc.Key, Title: inc.Title, Severity: string(inc.Severity), Status: string(inc.Status),
		Commander: inc.Commander, Channel: inc.Channel}, created, nil
}

// linkBack posts, in the new incident's channel, where it came from.
func (s *Service) linkBack(ctx context.Context, inc bot.Incident, d bot.LinkedDeclaration, log *zap.Logger) {
	link, err := s.chat.Permalink(ctx, d.AlertMessage)
	if err != nil {
		log.Warn("alert message permalink not found", zap.Error(err))
	}
	who := "opsbot declared this incident automatically"
	if d.DeclaredBy != "" {
		who = bot.MentionUser(d.DeclaredBy) + " declared this incident"
	}
	text := fmt.Sprintf(":rotating_light: %s from an alert", who)
	if link != "" {
		text += fmt.Sprintf(": <%s|the alert message>", link)
	}
	text += ". The alerts are added to the timeline as they fire and resolve."
	if d.DeclaredBy == "" {
		text += " Nobody is commander yet: take command with the button on the summary."
	}
	if _, err := s.chat.Post(ctx, bot.Message{Channel: inc.Channel, Text: text}); err != nil {
		log.Warn("link to the alert message not posted", zap.Error(err))
	}
}

// linkedTitle escapes a raw title as Slack does for typed text, and keeps it
// within TitleMax.
func linkedTitle(raw string) string {
	t := strings.Join(strings.Fields(raw), " ")
	if t == "" {
		t = "Alert"
	}
	if utf8.RuneCountInString(t) > TitleMax {
		t = string([]rune(t)[:TitleMax-1]) + "…"
	}
	return bot.EscapeText(t)
}

func linkedDescription(d bot.LinkedDeclaration) string {
	if d.DetectedAt.IsZero() {
		return "Declared from an alert group."
	}
	return "Declared from an alert group; the first alert fired at " +
		d.DetectedAt.UTC().Format("2006-01-02 15:04:05 UTC") + "."
}
