package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Scheduled follow-up work: reminders to owners when a follow-up is due, and
// keeping follow-ups and their tracker issues in step. Every replica may run
// it; each reminder and each tracker round for a follow-up is claimed by an
// atomic update of the follow-up's record, so it happens once whatever the
// number of replicas, without a global lease.

const (
	followupTick = 30 * time.Second
	// followupBatch bounds the reminders and syncs of one tick.
	followupBatch = 50
	// syncLease keeps other replicas off a follow-up while one talks to the
	// tracker about it; longer than any tracker call.
	syncLease = 2 * time.Minute
	// Back-off after tracker failures: 1m, 2m, 4m … capped at 1h, and never
	// sooner than the tracker asked.
	syncBackoffMin = time.Minute
	syncBackoffMax = time.Hour
	// findLookback widens the search for an issue whose creation answer was
	// lost, for clock skew between opsbot and the tracker.
	findLookback = 10 * time.Minute
)

// runFollowups ticks the follow-up work until ctx ends.
func (s *Service) runFollowups(ctx context.Context) {
	if s.followups == nil {
		return
	}
	t := time.NewTicker(followupTick)
	defer t.Stop()
	for {
		if err := s.FollowupTick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("follow-up tick failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FollowupTick sends the reminders that are due and syncs the follow-ups
// that need the tracker, at the injected clock's time. runFollowups calls
// it periodically; tests call it directly.
func (s *Service) FollowupTick(ctx context.Context) error {
	if s.followups == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	now := s.clock.Now().UTC()
	var errs []error
	due, err := s.followups.RemindDue(ctx, now, followupBatch)
	if err != nil {
		return fmt.Errorf("follow-up reminders: %w", err)
	}
	for _, f := range due {
		errs = append(errs, s.remindFollowup(ctx, f, now))
	}
	if s.tracker != nil {
		items, err := s.followups.SyncDue(ctx, now, followupBatch)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("follow-up sync: %w", err))...)
		}
		for _, f := range items {
			if _, err := s.syncFollowup(ctx, f); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// remindFollowup DMs the owner of a follow-up whose reminder is due. The
// update that counts the reminder and moves RemindAt on is the claim; when
// the DM fails the claim is given back so the next tick tries again.
func (s *Service) remindFollowup(ctx context.Context, f bot.Followup, now time.Time) error {
	var prevAt time.Time
	claimed := false
	// On error Claim returns a zero follow-up; the message names the one asked for.
	id := f.ID()
	f, err := s.followups.Claim(ctx, f.Incident, f.Number, func(g *bot.Followup) error {
		claimed = false
		if g.RemindAt.IsZero() || now.Before(g.RemindAt) {
			return nil
		}
		if !g.Open() || g.Owner == "" {
			g.RemindAt = time.Time{}
			return nil
		}
		claimed, prevAt = true, g.RemindAt
		g.Reminders++
		g.RemindAt = time.Time{}
		if s.fset.RemindEvery > 0 {
			next := prevAt
			for !next.After(now) {
				next = next.Add(s.fset.RemindEvery)
			}
			g.RemindAt = next
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("claim reminder of follow-up %s: %w", id, err)
	}
	if !claimed {
		return nil
	}
	log := s.log.With(zap.String("incident", f.Incident), zap.Int("followup", f.Number), zap.Int("reminder", f.Reminders))
	inc, err := s.store.Get(ctx, f.Incident)
	if err != nil {
		log.Warn("incident of a follow-up not read for its reminder", zap.Error(err))
		inc = bot.Incident{Key: f.Incident, Drill: f.Drill}
	}
	ctx = forIncident(ctx, &inc)
	when := "is due today"
	if today := now.In(s.set.Timezone).Format("2006-01-02"); f.Due < today {
		when = "was due on " + f.Due
	}
	text := fmt.Sprintf("Your follow-up #%d of %s %s:\n>%s", f.Number, f.Incident, when, oneLine(bot.Quote(f.Text)))
	if inc.Channel != "" {
		text += "\nIt came out of " + bot.MentionChannel(inc.Channel) + "."
	}
	if f.Tracker.URL != "" {
		text += fmt.Sprintf(" Issue: <%s|#%d>.", f.Tracker.URL, f.Tracker.Number)
	}
	msg := bot.Message{Channel: f.Owner, Title: fmt.Sprintf(":alarm_clock: Follow-up due: %s #%d", f.Incident, f.Number), Text: text,
		Buttons: []bot.Button{{ID: ActionFollowupDone, Text: "Done", Value: f.ID(), Style: bot.ButtonPrimary}},
		Context: "Press Done when it is done, or `/incident followup done " + fmt.Sprint(f.Number) + "` in the incident channel."}
	if _, err := s.chat.Post(ctx, msg); err != nil {
		n := f.Reminders
		if _, uerr := s.followups.Update(ctx, f.Incident, f.Number, func(g *bot.Followup) error {
			if g.Reminders == n {
				g.Reminders, g.RemindAt = n-1, prevAt
			}
			return nil
		}); uerr != nil {
			log.Error("reminder claim not given back; this reminder is lost", zap.Error(uerr))
		}
		return fmt.Errorf("remind %s of follow-up %s: %w", f.Owner, f.ID(), err)
	}
	log.Info("follow-up reminder sent", zap.String("owner", f.Owner))
	return nil
}

// syncNow is the quick tracker round done right when a follow-up is added
// or marked done: it returns the follow-up as it now is and, when the
// tracker failed, a sentence for the person who asked.
func (s *Service) syncNow(ctx context.Context, f bot.Followup) (bot.Followup, string) {
	out, err := s.syncFollowup(ctx, f)
	if err != nil {
		bot.Logger(ctx).Warn("follow-up not synced with the tracker yet", zap.String("incident", f.Incident),
			zap.Int("followup", f.Number), zap.Error(err))
	}
	if out.Incident == "" {
		out = f
	}
	if out.Tracker.LastError != "" {
		return out, fmt.Sprintf(":warning: Follow-up #%d is saved, but %s I'll keep trying and link the issue when it works.",
			out.Number, out.Tracker.LastError)
	}
	return out, ""
}

// syncFollowup does one tracker round for f, if its sync is due and no
// other replica holds it: open the issue, close it, or read whether it was
// closed there. Failures are recorded on the follow-up (which is kept) and
// retried with back-off.
func (s *Service) syncFollowup(ctx context.Context, f bot.Followup) (bot.Followup, error) {
	now := s.clock.Now().UTC()
	claimed := false
	f, err := s.followups.Claim(ctx, f.Incident, f.Number, func(g *bot.Followup) error {
		claimed = !g.SyncAt.IsZero() && !now.Before(g.SyncAt) && !now.Before(g.Tracker.LeaseUntil)
		if claimed {
			g.Tracker.LeaseUntil = now.Add(syncLease)
		}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("claim tracker sync of %s: %w", bot.FollowupID(f.Incident, f.Number), err)
	}
	if !claimed {
		return f, nil
	}
	log := s.log.With(zap.String("incident", f.Incident), zap.Int("followup", f.Number))
	change, err := s.trackerRound(ctx, f, now)
	if err != nil {
		log.Warn("tracker sync failed; will retry", zap.Error(err))
	}
	var closedThere, linked bool
	out, uerr := s.followups.Update(ctx, f.Incident, f.Number, func(g *bot.Followup) error {
		g.Tracker.LeaseUntil = time.Time{}
		closedThere, linked = false, false
		if err != nil {
			g.Tracker.Attempts++
			g.Tracker.LastError = s.trackerProblem(err)
			g.SyncAt = now.Add(backoff(g.Tracker.Attempts, err))
			if change.createTried {
				g.Tracker.CreateTriedAt = now
			}
			return nil
		}
		g.Tracker.Attempts, g.Tracker.LastError = 0, ""
		if change.clearTried {
			g.Tracker.CreateTriedAt = time.Time{}
		}
		if change.issue.Number != 0 {
			linked = g.Tracker.Number == 0
			g.Tracker.Number, g.Tracker.URL, g.Tracker.State = change.issue.Number, change.issue.URL, change.issue.State
		}
		switch {
		case g.Open() && g.Tracker.State == "closed":
			// Closed on GitHub: done here too.
			g.State, g.DoneBy, g.DoneAt, g.RemindAt = bot.FollowupDone, actorGitHub, now, time.Time{}
			closedThere = true
			g.SyncAt = time.Time{}
		case g.Open() && g.Tracker.Number != 0:
			g.SyncAt = now.Add(s.fset.SyncInterval)
		case g.Open():
			g.SyncAt = now // created nothing yet (should not happen without an error)
		case !g.Open() && g.Tracker.Number != 0 && g.Tracker.State != "closed":
			g.SyncAt = now // done meanwhile: close on the next round
		default:
			g.SyncAt = time.Time{}
		}
		return nil
	})
	if uerr != nil {
		return f, errors.Join(err, fmt.Errorf("store tracker sync of %s: %w", f.ID(), uerr))
	}
	if linked || closedThere {
		inc, gerr := s.store.Get(ctx, out.Incident)
		if gerr != nil {
			inc = bot.Incident{Key: out.Incident, Drill: out.Drill}
		}
		ictx := forIncident(ctx, &inc)
		if linked {
			if rerr := s.record(ictx, &inc, followupEvent(&out, "linked", actorBot, now)); rerr != nil {
				log.Warn("issue link not recorded in the timeline", zap.Error(rerr))
			}
		}
		if closedThere {
			if rerr := s.record(ictx, &inc, followupEvent(&out, "done", actorGitHub, now)); rerr != nil {
				log.Warn("done on GitHub not recorded in the timeline", zap.Error(rerr))
			}
			if inc.Channel != "" {
				if _, perr := s.chat.Post(ictx, bot.Message{Channel: inc.Channel, Text: fmt.Sprintf(
					":white_check_mark: Follow-up #%d of %s was closed on GitHub (<%s|issue #%d>), so it is done here too: %s",
					out.Number, out.Incident, out.Tracker.URL, out.Tracker.Number, bot.Quote(out.Text))}); perr != nil {
					log.Warn("closure on GitHub not announced", zap.Error(perr))
				}
			}
		}
		s.refreshFollowupMessage(ictx, &out, &inc)
	} else if err != nil && out.Tracker.Attempts == 1 {
		// The first failure shows on the follow-up's message.
		inc, gerr := s.store.Get(ctx, out.Incident)
		if gerr == nil {
			s.refreshFollowupMessage(forIncident(ctx, &inc), &out, &inc)
		}
	}
	return out, err
}

// trackerChange is what one tracker round found.
type trackerChange struct {
	issue       bot.Issue
	createTried bool // a create was sent whose outcome is unknown
	clearTried  bool // the earlier unknown create is settled
}

// trackerRound talks to the tracker for f: it does not touch the store.
func (s *Service) trackerRound(ctx context.Context, f bot.Followup, now time.Time) (trackerChange, error) {
	var ch trackerChange
	marker := followupMarker(&f)
	if f.Tracker.Number == 0 {
		if !f.Tracker.CreateTriedAt.IsZero() {
			is, ok, err := s.tracker.FindIssue(ctx, marker, f.Tracker.CreateTriedAt.Add(-findLookback))
			if err != nil {
				return ch, err
			}
			if ok {
				ch.issue, ch.clearTried = is, true
				if !f.Open() && is.State != "closed" {
					closed, err := s.tracker.CloseIssue(ctx, is.Number)
					if err != nil {
						return ch, err
					}
					ch.issue = closed
				}
				return ch, nil
			}
			ch.clearTried = true
		}
		if !f.Open() {
			return ch, nil // done before an issue existed: none is needed
		}
		req, err := s.issueRequest(ctx, &f, marker)
		if err != nil {
			return ch, err
		}
		is, err := s.tracker.CreateIssue(ctx, req)
		if err != nil {
			ch.createTried = errors.Is(err, bot.ErrTrackerUnavailable)
			return ch, err
		}
		ch.issue, ch.clearTried = is, true
		return ch, nil
	}
	if f.Open() {
		is, err := s.tracker.Issue(ctx, f.Tracker.Number)
		ch.issue = is
		return ch, err
	}
	if f.Tracker.State == "closed" {
		return ch, nil
	}
	is, err := s.tracker.CloseIssue(ctx, f.Tracker.Number)
	ch.issue = is
	return ch, err
}

// followupMarker identifies a follow-up in its issue's body, so that an
// issue whose creation answer was lost is found rather than opened twice.
func followupMarker(f *bot.Followup) string {
	return "<!-- opsbot:followup " + f.ID() + " -->"
}

// issueRequest is the issue for f: the follow-up in plain text (mentions as
// names, so nobody on GitHub is notified by accident), its owner and due
// date, and where it came from.
func (s *Service) issueRequest(ctx context.Context, f *bot.Followup, marker string) (bot.IssueRequest, error) {
	text := bot.UnescapeText(f.Text)
	title := fmt.Sprintf("%s follow-up #%d: %s", f.Incident, f.Number, oneLine(text))
	if f.Drill {
		title = "[drill] " + title
	}
	title = truncate(title, 200)
	var b strings.Builder
	incTitle := ""
	if inc, err := s.store.Get(ctx, f.Incident); err == nil {
		incTitle = " (" + bot.UnescapeText(inc.Title) + ")"
	}
	fmt.Fprintf(&b, "Follow-up #%d of %s%s, added in Slack by %s through opsbot.\n\n", f.Number, f.Incident, incTitle, s.personName(ctx, f.CreatedBy))
	fmt.Fprintf(&b, "%s\n\n", quoteMarkdown(text))
	if f.Owner != "" {
		fmt.Fprintf(&b, "- **Owner** (Slack): %s\n", s.personName(ctx, f.Owner))
	}
	if f.Due != "" {
		fmt.Fprintf(&b, "- **Due**: %s\n", f.Due)
	}
	b.WriteString("\nClosing this issue marks the follow-up done in opsbot, and marking it done there closes this issue.\n\n")
	b.WriteString(marker + "\n")
	return bot.IssueRequest{Title: title, Body: b.String(), Marker: marker, Labels: nil}, nil
}

// quoteMarkdown quotes text as a Markdown block quote and defuses GitHub
// @mentions, which would notify whoever has that login.
func quoteMarkdown(text string) string {
	text = strings.ReplaceAll(text, "@", "@\u200b")
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}

func (s *Service) personName(ctx context.Context, id string) string {
	if u, err := s.chat.User(ctx, id); err == nil {
		if n := firstNonEmpty(u.RealName, u.Name); n != "" {
			return n
		}
	}
	return id
}

// backoff is how long to wait after the n-th failure in a row.
func backoff(n int, err error) time.Duration {
	d := syncBackoffMin
	for i := 1; i < n && d < syncBackoffMax; i++ {
		d *= 2
	}
	d = min(d, syncBackoffMax)
	var te *bot.TrackerError
	if errors.As(err, &te) && te.RetryAfter > d {
		d = te.RetryAfter
	}
	return d
}

// trackerProblem is the one place where tracker failures become words for
// people. It names the repository, never a token.
func (s *Service) trackerProblem(err error) string {
	name := "the tracker"
	if s.tracker != nil {
		name = s.tracker.Name()
	}
	var te *bot.TrackerError
	errors.As(err, &te)
	detail := func() string {
		if te == nil || te.Message == "" {
			return ""
		}
		return " (" + bot.QuoteRaw(truncate(te.Message, 160)) + ")"
	}
	switch {
	case errors.Is(err, bot.ErrTrackerAuth):
		return name + " refused the token: check that GITHUB_TOKEN is valid and may write issues there" + detail() + "."
	case errors.Is(err, bot.ErrTrackerNotFound):
		return name + " was not found: check followups.github_repo, and that the token can see the repository" + detail() + "."
	case errors.Is(err, bot.ErrTrackerInvalid):
		return name + " rejected the issue" + detail() + "."
	case errors.Is(err, bot.ErrTrackerRateLimited):
		wait := ""
		if te != nil && te.RetryAfter > 0 {
			wait = ", for " + humanDuration(te.RetryAfter)
		}
		return name + " is rate limiting opsbot" + wait + "."
	case errors.Is(err, bot.ErrTrackerUnavailable):
		return name + " did not answer" + detail() + "."
	}
	return name + " failed."
}
