package incident

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Scheduling knobs. The tick is well under the shortest reminder interval,
// so reminders are late by at most a tick.
const (
	tickInterval = 30 * time.Second
	schedLockKey = "opsbot:incident:scheduler"
	schedLockTTL = 2 * time.Minute
)

// Run does the scheduled work — update reminders and delayed archiving —
// until ctx ends. Every replica may run it: the lease makes one replica do
// the work at a time, and each reminder and archive is claimed by an atomic
// store update, so it happens once even if a lease expires mid-tick.
func (s *Service) Run(ctx context.Context) error {
	// Follow-up reminders and tracker sync tick on their own: a slow
	// tracker must not delay update reminders.
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("follow-up scheduler panicked", zap.Any("panic", p))
			}
		}()
		s.runFollowups(ctx)
	}()
	defer func() { <-done }()
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("incident scheduler tick failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick runs one round of scheduled work at the injected clock's time. Run
// calls it periodically; tests call it directly.
func (s *Service) Tick(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, tickInterval)
	defer cancel()
	// Held in this process, so every replica stamps its own, lease or not.
	s.stampHeldAcks(ctx)
	if s.locker != nil {
		release, ok, err := s.locker.TryLock(ctx, schedLockKey, schedLockTTL)
		if err != nil {
			return fmt.Errorf("take scheduler lease: %w", err)
		}
		if !ok {
			return nil
		}
		defer release()
	}
	incs, err := s.store.Open(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, inc := range incs {
		if inc.Open() {
			errs = append(errs, s.remindIfDue(ctx, inc))
		} else if !inc.ArchiveAt.IsZero() && !inc.Archived {
			errs = append(errs, s.archiveDue(ctx, inc))
		}
	}
	return errors.Join(errs...)
}

// reminderDue says whether inc has gone without an update for its
// severity's interval, counting from the last update or reminder.
func (s *Service) reminderDue(inc *bot.Incident, now time.Time) (time.Duration, bool) {
	every := s.set.UpdateReminders[inc.Severity]
	if every <= 0 || !inc.Open() || inc.Channel == "" {
		return 0, false
	}
	last := inc.LastUpdateAt
	if inc.LastReminderAt.After(last) {
		last = inc.LastReminderAt
	}
	return every, now.Sub(last) >= every
}

// remindIfDue nudges the commander when an update is overdue. The store
// update that stamps LastReminderAt is the claim: with several replicas,
// only the one whose update commits posts.
func (s *Service) remindIfDue(ctx context.Context, inc bot.Incident) error {
	now := s.clock.Now().UTC()
	if _, due := s.reminderDue(&inc, now); !due {
		return nil
	}
	var every time.Duration
	claimed := false
	unlock := s.locks.lock(inc.Key)
	updated, err := s.store.Update(ctx, inc.Key, func(i *bot.Incident) error {
		var due bool
		every, due = s.reminderDue(i, now)
		claimed = due
		if due {
			i.LastReminderAt = now
		}
		return nil
	})
	unlock()
	if err != nil {
		return fmt.Errorf("claim reminder for %s: %w", inc.Key, err)
	}
	if !claimed {
		return nil
	}
	s.remember(updated)
	since := updated.LastUpdateAt
	text := fmt.Sprintf("%s :bell: No update on %s for %s; %s incidents get one at least every %s. "+
		"Post one with `/incident update …` (it goes to the broadcast channel too).",
		bot.MentionUser(updated.Commander), updated.Key, humanDuration(now.Sub(since)), updated.Severity, humanDuration(every))
	if _, err := s.chat.Post(ctx, bot.Message{Channel: updated.Channel, Text: text}); err != nil {
		return fmt.Errorf("post reminder in %s: %w", updated.Channel, err)
	}
	return s.record(ctx, &updated, bot.TimelineEvent{Type: bot.TLReminder, Actor: actorBot, Time: now,
		Text: "update reminder", Details: map[string]string{"commander": updated.Commander, "interval": every.String()}})
}
