package incident

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

func (s *Service) cmdResolve(ctx context.Context, req *bot.Request, summary string) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	return s.resolve(ctx, inc, req.UserID, summary)
}

// checkSummary refuses a resolution summary that is too long or carries
// control characters; an empty one is fine.
func (s *Service) checkSummary(summary string) error {
	if n := utf8.RuneCountInString(summary); n > UpdateMax {
		return bot.Userf("That summary is %d characters; keep it to %d.", n, UpdateMax)
	}
	if summary == "" {
		return nil
	}
	return s.checkTextContent(summary, "summary")
}

// resolve closes the incident: stored, recorded, the duration and a summary
// of the timeline posted in the channel, and the archive scheduled when the
// config asks for it. The response is the channel message; the command and
// the form both post exactly it.
func (s *Service) resolve(ctx context.Context, inc bot.Incident, actor, summary string) (bot.Response, error) {
	summary = bot.CleanText(summary)
	now := s.clock.Now().UTC()
	var from bot.Status
	updated, err := s.mutate(ctx, inc.Key, func(i *bot.Incident) error {
		if !i.Open() {
			return bot.Userf("%s is already resolved.", i.Key)
		}
		from = i.Status
		i.Status, i.ResolvedAt, i.Resolution = bot.StatusResolved, now, summary
		if i.MitigatedAt.IsZero() {
			i.MitigatedAt = now
		}
		if s.set.ArchiveAfter > 0 {
			i.ArchiveAt = now.Add(s.set.ArchiveAfter)
		}
		return nil
	})
	if err != nil {
		return bot.Response{}, err
	}
	s.metrics.incidentResolved(&updated)
	took := updated.ResolvedAt.Sub(updated.DeclaredAt)
	if err := s.record(ctx, &updated, bot.TimelineEvent{Type: bot.TLResolved, Actor: actor, Time: now, Text: summary,
		Details: map[string]string{"from": string(from), "duration": took.Round(1e9).String()}}); err != nil {
		return bot.Response{}, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, ":white_check_mark: %s resolved by %s after *%s*.", updated.Key, bot.MentionUser(actor), humanDuration(took))
	if summary != "" {
		fmt.Fprintf(&b, "\n*Resolution:* %s", bot.Quote(summary))
	}
	events, err := s.timeline.Events(ctx, updated.Key)
	if err != nil {
		bot.Logger(ctx).Warn("timeline not read for the resolve summary", zap.String("incident", updated.Key), zap.Error(err))
	} else {
		fmt.Fprintf(&b, "\n*Timeline:* %s.", timelineDigest(events))
	}
	b.WriteString("\n`/incident export` writes the post-mortem.")
	if !updated.ArchiveAt.IsZero() {
		fmt.Fprintf(&b, " This channel will be archived at %s.", s.fmtTime(updated.ArchiveAt))
	}
	resp := bot.Say(b.String())
	resp.Message.Channel = updated.Channel
	return resp, nil
}

// timelineDigest counts events by kind: "14 events: 2 severity changes, …".
func timelineDigest(events []bot.TimelineEvent) string {
	counts := map[bot.TimelineEventType]int{}
	for _, e := range events {
		counts[e.Type]++
	}
	names := map[bot.TimelineEventType][2]string{
		bot.TLSeverityChanged: {"severity change", "severity changes"},
		bot.TLStatusChanged:   {"status change", "status changes"},
		bot.TLRoleAssigned:    {"role assignment", "role assignments"},
		bot.TLUpdate:          {"update", "updates"},
		bot.TLNote:            {"note", "notes"},
		bot.TLPinned:          {"pinned message", "pinned messages"},
		bot.TLRunbook:         {"runbook run", "runbook runs"},
		bot.TLPage:            {"page", "pages"},
	}
	var parts []string
	for t, n := range names {
		if c := counts[t]; c > 0 {
			w := n[0]
			if c > 1 {
				w = n[1]
			}
			parts = append(parts, fmt.Sprintf("%d %s", c, w))
		}
	}
	sort.Strings(parts)
	out := fmt.Sprintf("%d events", len(events))
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	return out
}

// archiveDue archives the channel of a resolved incident whose delay is up.
// The store update that marks it archived is the claim: only the replica
// whose update commits calls Slack.
func (s *Service) archiveDue(ctx context.Context, inc bot.Incident) error {
	now := s.clock.Now().UTC()
	log := s.log.With(zap.String("incident", inc.Key))
	claimed := false
	unlock := s.locks.lock(inc.Key)
	updated, err := s.store.Update(ctx, inc.Key, func(i *bot.Incident) error {
		claimed = false
		if i.Open() || i.Archived || i.ArchiveAt.IsZero() || now.Before(i.ArchiveAt) {
			return nil
		}
		i.Archived, claimed = true, true
		return nil
	})
	unlock()
	if err != nil {
		return fmt.Errorf("claim archive of %s: %w", inc.Key, err)
	}
	if !claimed {
		return nil
	}
	s.remember(updated)
	if err := s.chat.Archive(ctx, updated.Channel); err != nil {
		// Give it back so the next tick tries again.
		if _, uerr := s.store.Update(ctx, inc.Key, func(i *bot.Incident) error { i.Archived = false; return nil }); uerr != nil {
			log.Error("archive claim not released", zap.Error(uerr))
		}
		return fmt.Errorf("archive channel %s of %s: %w", updated.Channel, inc.Key, err)
	}
	if err := s.record(ctx, &updated, bot.TimelineEvent{Type: bot.TLArchived, Actor: actorBot, Time: now,
		Details: map[string]string{"channel": updated.Channel}}); err != nil {
		return err
	}
	log.Info("incident channel archived", zap.String("channel", updated.Channel))
	return nil
}

// actorBot is the actor of events opsbot causes by itself.
const actorBot = "opsbot"
