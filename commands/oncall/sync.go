package oncall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// syncLockKey is the lease that keeps the periodic sync on one replica.
const syncLockKey = "oncall:sync"

// Run syncs every SyncInterval until ctx ends, on one replica at a time
// when a Locker is configured. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.set.SyncInterval)
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Service) tick(ctx context.Context) {
	if s.cfg.Locker != nil {
		// The lease outlives one sync; a crashed holder loses it within an
		// interval and another replica takes over.
		release, ok, err := s.cfg.Locker.TryLock(ctx, syncLockKey, s.set.SyncInterval)
		if err != nil {
			// At shutdown the lease fails because ctx ended: nothing to warn about.
			if ctx.Err() == nil {
				s.log.Warn("on-call sync lease unavailable; skipping this round", zap.Error(err))
			}
			return
		}
		if !ok {
			return
		}
		defer release()
	}
	// Bounded so a hung call cannot hold the lease for ever; a round that
	// runs out keeps the last good snapshots.
	ctx, cancel := context.WithTimeout(ctx, max(s.set.SyncInterval, 30*time.Second))
	defer cancel()
	if err := s.SyncNow(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("on-call sync incomplete", zap.Error(err))
	}
}

// SyncNow syncs every followed schedule now: reads the provider, posts a
// handoff where the first-level on-call changed, updates user groups,
// caches the snapshot, and sends due acknowledgement reminders. A schedule
// that fails keeps its last good snapshot; the errors are joined.
func (s *Service) SyncNow(ctx context.Context) error {
	var errs []error
	for _, sc := range s.schedules {
		if err := s.syncOne(ctx, sc); err != nil {
			errs = append(errs, err)
		}
	}
	for _, sc := range s.schedules {
		if err := s.remind(ctx, sc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) syncOne(ctx context.Context, sc bot.ScheduleConfig) error {
	now := s.clock.Now()
	log := s.logger(ctx).With(zap.String("schedule", sc.ID))
	snap, err := s.fetch(ctx, sc, now)
	if err != nil {
		return err
	}
	prev, hadPrev, err := s.cfg.Cache.Snapshot(ctx, sc.ID)
	if err != nil {
		// Without the previous snapshot a change cannot be seen; the next
		// round will, since this one is not saved either.
		return fmt.Errorf("sync schedule %q: read previous snapshot: %w", sc.ID, err)
	}
	cur := current(sc, snap, now)
	for _, r := range cur {
		s.slackID(ctx, r.person) // reports unmapped people in the logs
	}
	if hadPrev && sc.HandoffChannel != "" && prev.SyncedAt.Before(now) {
		out := current(bot.ScheduleConfig{ID: sc.ID}, prev, prev.SyncedAt)
		if !slices.Equal(primaryKeys(out), primaryKeys(cur)) {
			if err := s.handoff(ctx, sc, prev, snap, out, cur, now); err != nil {
				return err
			}
		}
	}
	if err := s.cfg.Cache.SaveSnapshot(ctx, snap); err != nil {
		return fmt.Errorf("sync schedule %q: save snapshot: %w", sc.ID, err)
	}
	if sc.Usergroup != "" {
		if err := s.syncUsergroup(ctx, sc, cur); err != nil {
			log.Warn("user group not synced", zap.String("usergroup", sc.Usergroup), zap.Error(err))
			return err
		}
	}
	return nil
}

// handoff posts the handoff message for a change of the first-level
// on-call, once across replicas: the claim is keyed by the schedule, the
// incoming people and their shift's start, which every replica computes
// alike.
func (s *Service) handoff(ctx context.Context, sc bot.ScheduleConfig, prev, snap bot.OnCallSnapshot, out, in []run, now time.Time) error {
	log := s.logger(ctx).With(zap.String("schedule", sc.ID))
	start := time.Time{}
	for _, r := range in {
		if r.level == 1 && (start.IsZero() || r.start.After(start)) {
			start = r.start
		}
	}
	keyStart := strconv.FormatInt(start.Unix(), 10)
	if start.IsZero() || !start.After(now.Add(-lookback)) {
		// The shift began before the snapshot window (the bot was down), so
		// its start is unknown; the previous sync identifies the change.
		keyStart = "after-" + strconv.FormatInt(prev.SyncedAt.UnixNano(), 10)
		if start.IsZero() {
			start = now
		}
	}
	claim := fmt.Sprintf("handoff:%s:%s:%s", sc.ID, keyStart, strings.Join(primaryKeys(in), ","))
	won, err := s.cfg.Cache.ClaimOnce(ctx, claim, claimTTL)
	if err != nil {
		return fmt.Errorf("handoff of %q: claim: %w", sc.ID, err)
	}
	if !won {
		log.Debug("handoff already posted by another replica", zap.String("claim", claim))
		return nil
	}
	msg, incoming := s.handoffMessage(ctx, sc, snap, out, in, now)
	msg.Channel = sc.HandoffChannel
	value := sc.ID + "|" + strconv.FormatInt(start.Unix(), 10)
	if len(incoming) > 0 {
		msg.Buttons = []bot.Button{{ID: AckAction, Text: "Acknowledge", Value: value, Style: bot.ButtonPrimary}}
	}
	ref, err := s.cfg.Chat.Post(ctx, msg)
	if err != nil {
		// Give the claim back: the snapshot is not saved either, so the next
		// round sees the same change and tries again.
		if rerr := s.cfg.Cache.ReleaseClaim(context.WithoutCancel(ctx), claim); rerr != nil {
			log.Error("handoff claim not released; this handoff will not be retried", zap.Error(rerr))
		}
		return fmt.Errorf("handoff of %q: post in %s: %w", sc.ID, sc.HandoffChannel, err)
	}
	log.Info("handoff posted", zap.String("channel", sc.HandoffChannel), zap.String("ts", ref.TS),
		zap.Strings("incoming", incoming), zap.Time("shift_start", start))
	h := bot.Handoff{Schedule: sc.ID, ShiftStart: start, Incoming: incoming, Ref: ref, Message: msg, PostedAt: now}
	if err := s.cfg.Cache.SaveHandoff(ctx, h); err != nil {
		return fmt.Errorf("handoff of %q: save: %w", sc.ID, err)
	}
	s.readInDMs(ctx, sc, claim, ref, in, incoming, now)
	return nil
}

// readInDMs sends each incoming person a private read-in, once: the claim
// of the handoff already made this replica the only one here, and each DM
// has its own claim so a retried round does not send it twice.
func (s *Service) readInDMs(ctx context.Context, sc bot.ScheduleConfig, claim string, ref bot.MessageRef, in []run, incoming []string, now time.Time) {
	if len(incoming) == 0 {
		return
	}
	until := time.Time{}
	for _, r := range in {
		if r.level == 1 && (until.IsZero() || (!r.end.IsZero() && r.end.Before(until))) {
			until = r.end
		}
	}
	log := s.logger(ctx).With(zap.String("schedule", sc.ID))
	text := fmt.Sprintf("You are now on call for *%s*", sc.Name)
	if !until.IsZero() {
		text += " until " + s.at(until)
	}
	text += fmt.Sprintf(". Handoff: %s.", bot.MentionChannel(ref.Channel))
	if ri := s.readIn(ctx, now, until); ri != "" {
		text += "\n\n" + ri
	}
	for _, id := range incoming {
		won, err := s.cfg.Cache.ClaimOnce(ctx, "readin:"+claim+":"+id, claimTTL)
		if err != nil || !won {
			continue
		}
		if _, err := s.cfg.Chat.Post(ctx, bot.Message{Channel: id, Title: "On call: " + sc.Name, Text: text}); err != nil {
			log.Warn("read-in not sent", zap.String("user", id), zap.Error(err))
			continue
		}
		log.Info("read-in sent", zap.String("user", id))
	}
}

// handoffMessage builds the message and returns the Slack IDs of the
// incoming first-level people (who may acknowledge).
func (s *Service) handoffMessage(ctx context.Context, sc bot.ScheduleConfig, snap bot.OnCallSnapshot, out, in []run, now time.Time) (bot.Message, []string) {
	var incoming []string
	var inNames, outNames []string
	until := time.Time{}
	for _, r := range in {
		if r.level != 1 {
			continue
		}
		inNames = append(inNames, s.who(ctx, r.person))
		if id, ok := s.slackID(ctx, r.person); ok {
			incoming = append(incoming, id)
		}
		if until.IsZero() || (!r.end.IsZero() && r.end.Before(until)) {
			until = r.end
		}
	}
	for _, r := range out {
		if r.level == 1 {
			outNames = append(outNames, s.who(ctx, r.person))
		}
	}
	msg := bot.Message{Title: "On-call handoff: " + sc.Name}
	var b strings.Builder
	switch {
	case len(inNames) == 0:
		fmt.Fprintf(&b, ":warning: Nobody is on call for *%s* now.", sc.Name)
	case len(outNames) == 0:
		fmt.Fprintf(&b, "%s is now on call for *%s*.", strings.Join(inNames, ", "), sc.Name)
	default:
		fmt.Fprintf(&b, "%s hands over to %s for *%s*.", strings.Join(outNames, ", "), strings.Join(inNames, ", "), sc.Name)
	}
	msg.Fields = append(msg.Fields,
		bot.Field{Label: "Outgoing", Value: orNone(outNames)},
		bot.Field{Label: "Incoming", Value: orNone(inNames)},
		bot.Field{Label: "Until", Value: s.untilIn(1, until, snap, now, s.loc)},
	)
	for _, r := range in {
		if r.level > 1 {
			msg.Fields = append(msg.Fields, bot.Field{Label: fmt.Sprintf("Level %d", r.level), Value: s.who(ctx, r.person) + " until " + s.untilIn(r.level, r.end, snap, now, s.loc)})
		}
	}
	if note := s.overrideNote(ctx, sc, in, now); note != "" {
		b.WriteString("\n" + note)
	}
	b.WriteString("\n\n")
	b.WriteString(s.readIn(ctx, now, until))
	msg.Text = b.String()
	if len(incoming) > 0 && s.set.AckReminderAfter > 0 {
		msg.Context = fmt.Sprintf("Incoming on-call: please acknowledge. A reminder follows after %s.", human(s.set.AckReminderAfter))
	}
	return msg, incoming
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, ", ")
}

// readIn is what the incoming person walks into: open incidents with
// severity and commander, firing alert groups, and follow-ups due before
// the shift ends. Each part that cannot be read says so instead.
func (s *Service) readIn(ctx context.Context, now, until time.Time) string {
	parts := []string{s.openIncidents(ctx)}
	if a := s.firingAlerts(ctx); a != "" {
		parts = append(parts, a)
	}
	if f := s.followupsDue(ctx, now, until); f != "" {
		parts = append(parts, f)
	}
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n\n")
}

func (s *Service) firingAlerts(ctx context.Context) string {
	if s.cfg.Alerts == nil {
		return ""
	}
	list, err := s.cfg.Alerts.FiringAlertGroups(ctx)
	if err != nil {
		s.log.Warn("firing alert groups not listed for the handoff", zap.Error(err))
		return "_Firing alerts could not be listed._"
	}
	if len(list) == 0 {
		return "No alerts firing."
	}
	var b strings.Builder
	b.WriteString("*Firing alerts*")
	for _, g := range list[:min(len(list), readInShown)] {
		fmt.Fprintf(&b, "\n• %s: %d firing since %s", bot.QuoteRaw(g.Name), g.Firing, s.at(g.Since))
		switch {
		case g.AckedBy != "":
			b.WriteString(", acknowledged by " + bot.MentionUser(g.AckedBy))
		default:
			b.WriteString(", *unacknowledged*")
		}
		if g.Incident != "" {
			b.WriteString(", " + g.Incident)
		}
		if g.Channel != "" {
			b.WriteString(" in " + bot.MentionChannel(g.Channel))
		}
	}
	moreLine(&b, len(list), "`/alerts` lists them all")
	return b.String()
}

func (s *Service) followupsDue(ctx context.Context, now, until time.Time) string {
	if s.cfg.Followups == nil {
		return ""
	}
	by := until
	if by.IsZero() || by.Before(now) {
		by = now.Add(24 * time.Hour)
	}
	list, err := s.cfg.Followups.FollowupsDue(ctx, by)
	if err != nil {
		s.log.Warn("follow-ups not listed for the handoff", zap.Error(err))
		return "_Follow-ups due could not be listed._"
	}
	if len(list) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("*Follow-ups due this shift*")
	for _, f := range list[:min(len(list), readInShown)] {
		fmt.Fprintf(&b, "\n• %s #%d %s, due %s", f.Incident, f.Number, bot.Quote(f.Text), s.at(f.Due))
		if f.Owner != "" {
			b.WriteString(", owner " + bot.MentionUser(f.Owner))
		} else {
			b.WriteString(", *no owner*")
		}
	}
	moreLine(&b, len(list), "`/incident followups` in each incident lists them")
	return b.String()
}

// overrideNote says when the change comes from an override opsbot made:
// its start (someone covers) or its end (the cover hands back).
func (s *Service) overrideNote(ctx context.Context, sc bot.ScheduleConfig, in []run, now time.Time) string {
	if s.cfg.Covers == nil {
		return ""
	}
	recs, err := s.cfg.Covers.OverrideRecords(ctx, sc.ID, now.Add(-lookback))
	if err != nil {
		s.log.Warn("override records not read for the handoff", zap.String("schedule", sc.ID), zap.Error(err))
		return ""
	}
	var notes []string
	for _, r := range recs {
		for _, cur := range in {
			if cur.level != 1 {
				continue
			}
			switch {
			case r.Start.Equal(cur.start) && cur.person.Key() == r.Person.Key():
				if r.For != "" {
					notes = append(notes, fmt.Sprintf(":repeat: %s covers for %s until %s.", bot.MentionUser(r.OnCall), bot.MentionUser(r.For), s.at(r.End)))
				} else {
					notes = append(notes, fmt.Sprintf(":calendar: Override set by %s, until %s.", bot.MentionUser(r.By), s.at(r.End)))
				}
			case r.End.Equal(cur.start) && !now.Before(r.End):
				notes = append(notes, fmt.Sprintf(":leftwards_arrow_with_hook: %s's override has ended.", bot.MentionUser(r.OnCall)))
			}
		}
	}
	return strings.Join(slices.Compact(notes), "\n")
}

func (s *Service) openIncidents(ctx context.Context) string {
	if s.cfg.Incidents == nil {
		return ""
	}
	list, err := s.cfg.Incidents.OpenIncidentSummaries(ctx)
	if err != nil {
		s.log.Warn("open incidents not listed for the handoff", zap.Error(err))
		return "_Open incidents could not be listed; check `/incident list`._"
	}
	if len(list) == 0 {
		return "No open incidents."
	}
	var b strings.Builder
	b.WriteString("*Open incidents*")
	for _, inc := range list[:min(len(list), readInShown)] {
		// Titles are what people typed: quoted, so a handoff never pings.
		fmt.Fprintf(&b, "\n• %s %s (%s, %s)", inc.Key, bot.Quote(bot.OneLine(inc.Title)), inc.Severity, inc.Status)
		if inc.Channel != "" {
			b.WriteString(" in " + bot.MentionChannel(inc.Channel))
		}
		if inc.Commander != "" {
			b.WriteString(" — commander " + bot.MentionUser(inc.Commander))
		} else {
			b.WriteString(" — no commander")
		}
	}
	moreLine(&b, len(list), "`/incident list` lists them all")
	return b.String()
}

// readInShown caps each list in a handoff's read-in: on a bad night a
// hundred firing groups would push the message past Slack's limits and
// bury the incidents, and the full lists are one command away.
const readInShown = 10

func moreLine(b *strings.Builder, n int, where string) {
	if n > readInShown {
		fmt.Fprintf(b, "\n_…and %d more; %s._", n-readInShown, where)
	}
}

// remind posts one reminder in the handoff's thread when it is still
// unacknowledged after AckReminderAfter.
func (s *Service) remind(ctx context.Context, sc bot.ScheduleConfig) error {
	if sc.HandoffChannel == "" || s.set.AckReminderAfter < 0 {
		return nil
	}
	h, ok, err := s.cfg.Cache.LatestHandoff(ctx, sc.ID)
	if err != nil {
		return fmt.Errorf("reminder for %q: %w", sc.ID, err)
	}
	now := s.clock.Now()
	if !ok || h.AckedBy != "" || len(h.Incoming) == 0 || now.Sub(h.PostedAt) < s.set.AckReminderAfter {
		return nil
	}
	claim := fmt.Sprintf("reminder:%s:%d", sc.ID, h.ShiftStart.Unix())
	won, err := s.cfg.Cache.ClaimOnce(ctx, claim, claimTTL)
	if err != nil || !won {
		return err
	}
	var who []string
	for _, id := range h.Incoming {
		who = append(who, bot.MentionUser(id))
	}
	_, err = s.cfg.Chat.Post(ctx, bot.Message{Channel: h.Ref.Channel, ThreadTS: h.Ref.TS,
		Text: fmt.Sprintf("%s please acknowledge the on-call handoff for *%s* (posted %s ago).",
			strings.Join(who, " "), sc.Name, human(now.Sub(h.PostedAt)))})
	if err != nil {
		// Give the claim back so the next round reminds again.
		if rerr := s.cfg.Cache.ReleaseClaim(context.WithoutCancel(ctx), claim); rerr != nil {
			s.log.Error("reminder claim not released; this reminder will not be retried",
				zap.String("schedule", sc.ID), zap.Error(rerr))
		}
		return fmt.Errorf("reminder for %q: post: %w", sc.ID, err)
	}
	s.log.Info("handoff reminder posted", zap.String("schedule", sc.ID), zap.Strings("incoming", h.Incoming))
	return nil
}

// syncUsergroup sets the user group to the mapped first-level on-call, and
// calls Slack to change it only when its members differ.
func (s *Service) syncUsergroup(ctx context.Context, sc bot.ScheduleConfig, cur []run) error {
	want := s.primarySlackIDs(ctx, cur)
	if len(want) == 0 {
		// Slack refuses an empty user group, and an empty one would page nobody.
		s.log.Warn("nobody mapped to Slack is on call; user group left as is",
			zap.String("schedule", sc.ID), zap.String("usergroup", sc.Usergroup))
		return nil
	}
	joined := strings.Join(want, ",")
	s.mu.Lock()
	last, known := s.groups[sc.Usergroup]
	s.mu.Unlock()
	if known && last == joined {
		return nil
	}
	members, err := s.cfg.Chat.UsergroupMembers(ctx, sc.Usergroup)
	if err != nil {
		return fmt.Errorf("user group %s of %q: members: %w", sc.Usergroup, sc.ID, err)
	}
	members = slices.Clone(members)
	sort.Strings(members)
	if !slices.Equal(slices.Compact(members), want) {
		if err := s.cfg.Chat.SetUsergroupMembers(ctx, sc.Usergroup, want); err != nil {
			return fmt.Errorf("user group %s of %q: update: %w", sc.Usergroup, sc.ID, err)
		}
		s.log.Info("user group updated", zap.String("schedule", sc.ID), zap.String("usergroup", sc.Usergroup),
			zap.Strings("members", want))
	}
	s.mu.Lock()
	s.groups[sc.Usergroup] = joined
	s.mu.Unlock()
	return nil
}
