package incident

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// pinReaction is the emoji (without colons) that captures a message.
const pinReaction = "pushpin"

// pinClaimTTL covers the window in which two people pinning one message at
// once could both get past the incident's pinned list.
const pinClaimTTL = time.Minute

// onReactionAdded captures a :pushpin:'d message into the timeline with its
// own time, author and permalink, once per message.
func (s *Service) onReactionAdded(ctx context.Context, req *bot.Request) (bot.Response, error) {
	ev := req.Event
	if ev == nil || ev.Reaction != pinReaction || ev.Item.TS == "" {
		return bot.Response{}, nil
	}
	inc, ok, err := s.byChannel(ctx, ev.Item.Channel)
	if err != nil || !ok || inc.HasPinned(ev.Item.TS) {
		return bot.Response{}, err
	}
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key), zap.String("ts", ev.Item.TS))
	dedupe := "pin:" + ev.Item.Channel + ":" + ev.Item.TS
	if s.deduper != nil {
		first, err := s.deduper.Claim(ctx, "incident-"+dedupe, pinClaimTTL)
		if err != nil {
			log.Warn("pin claim unavailable; relying on the timeline's dedupe", zap.Error(err))
		} else if !first {
			return bot.Response{}, nil
		}
	}
	var (
		msg  bot.ChatMessage
		link string
	)
	err = parallel(ctx,
		func(ctx context.Context) error {
			var err error
			if msg, err = s.chat.Message(ctx, ev.Item); err != nil {
				return fmt.Errorf("fetch pinned message %s/%s: %w", ev.Item.Channel, ev.Item.TS, err)
			}
			return nil
		},
		func(ctx context.Context) error {
			var err error
			if link, err = s.chat.Permalink(ctx, ev.Item); err != nil {
				log.Warn("no permalink for pinned message", zap.Error(err))
			}
			return nil
		})
	if err != nil {
		return bot.Response{}, err
	}
	when := msg.Time
	if when.IsZero() {
		when = bot.ParseTS(ev.Item.TS)
	}
	if err := s.allowTimeline(ctx, &inc, "pinned message"); err != nil {
		// Tell the person who pinned, and nobody else, why nothing happened.
		if req.UserID != "" {
			if perr := s.chat.PostEphemeral(ctx, req.UserID, bot.Message{Channel: ev.Item.Channel,
				Text: bot.UserMessage(err, "")}); perr != nil {
				log.Debug("pin refusal not shown", zap.Error(perr))
			}
		}
		return bot.Response{}, nil
	}
	author := firstNonEmpty(msg.User, ev.ItemUser)
	details := map[string]string{"pinned_by": req.UserID, "channel": ev.Item.Channel, "ts": ev.Item.TS,
		"message_time": when.UTC().Format(time.RFC3339)}
	if link != "" {
		details["permalink"] = link
	}
	if msg.ThreadTS != "" && msg.ThreadTS != ev.Item.TS {
		details["thread_ts"] = msg.ThreadTS
	}
	if err := s.record(ctx, &inc, bot.TimelineEvent{Type: bot.TLPinned, Actor: author, Time: when.UTC(),
		Text: s.capText(bot.CleanText(msg.Text)), Details: details, DedupeKey: dedupe}); err != nil {
		return bot.Response{}, err
	}
	s.markPinned(ctx, inc.Key, ev.Item.TS, log)
	// Tell the person who pinned, and nobody else, that it worked.
	if req.UserID != "" {
		if err := s.chat.PostEphemeral(ctx, req.UserID, bot.Message{Channel: ev.Item.Channel,
			Text: fmt.Sprintf(":pushpin: Added to the %s timeline, at the message's own time.", inc.Key)}); err != nil {
			log.Debug("pin confirmation not shown", zap.Error(err))
		}
	}
	return bot.Response{}, nil
}

func (s *Service) markPinned(ctx context.Context, key, ts string, log *zap.Logger) {
	unlock := s.locks.lock(key)
	defer unlock()
	u, err := s.store.Update(ctx, key, func(i *bot.Incident) error {
		if !i.HasPinned(ts) {
			i.Pinned = append(i.Pinned, ts)
		}
		return nil
	})
	if err != nil {
		// The event is in the timeline already; only later edits of this
		// message will go unrecorded.
		log.Warn("pinned message not indexed", zap.Error(err))
		return
	}
	s.remember(u)
}

// onReactionRemoved records that a captured message was unpinned. The
// capture stays in the timeline; the unpin supersedes it.
func (s *Service) onReactionRemoved(ctx context.Context, req *bot.Request) (bot.Response, error) {
	ev := req.Event
	if ev == nil || ev.Reaction != pinReaction {
		return bot.Response{}, nil
	}
	return s.supersede(ctx, req, bot.TLUnpinned, req.UserID, "")
}

// onMessageChanged records a new version of a captured message.
func (s *Service) onMessageChanged(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if req.Event == nil {
		return bot.Response{}, nil
	}
	return s.supersede(ctx, req, bot.TLMessageEdited, req.Event.ItemUser, req.Event.Text)
}

// onMessageDeleted records that a captured message was deleted.
func (s *Service) onMessageDeleted(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if req.Event == nil {
		return bot.Response{}, nil
	}
	return s.supersede(ctx, req, bot.TLMessageDeleted, req.Event.ItemUser, "")
}

// supersede records an event about a captured message; events about other
// messages are ignored.
func (s *Service) supersede(ctx context.Context, req *bot.Request, t bot.TimelineEventType, actor, text string) (bot.Response, error) {
	ev := req.Event
	inc, ok, err := s.byChannel(ctx, ev.Item.Channel)
	if err != nil || !ok || !inc.HasPinned(ev.Item.TS) {
		return bot.Response{}, err
	}
	if t == bot.TLMessageEdited {
		// An edit carries text again, so it counts against the cap like
		// the capture did.
		if err := s.allowTimeline(ctx, &inc, "edit of a pinned message"); err != nil {
			return bot.Response{}, nil
		}
	}
	when := ev.Time
	if when.IsZero() {
		when = s.clock.Now()
	}
	te := bot.TimelineEvent{Type: t, Actor: firstNonEmpty(actor, req.UserID), Time: when.UTC(), Text: s.capText(bot.CleanText(text)),
		Details: map[string]string{"channel": ev.Item.Channel, "ts": ev.Item.TS,
			"message_time": bot.ParseTS(ev.Item.TS).UTC().Format(time.RFC3339)}}
	if ev.ID != "" {
		te.DedupeKey = string(t) + ":" + ev.ID
	}
	return bot.Response{}, s.record(ctx, &inc, te)
}
