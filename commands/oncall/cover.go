package oncall

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Overrider puts someone else on call for a while: PagerDuty overrides, or
// overrides of the rotation file kept in Redis.
type Overrider interface {
	// PersonByEmail finds the provider's person with that address; an error
	// wrapping bot.ErrNotFound when there is none (no PagerDuty account).
	PersonByEmail(ctx context.Context, email string) (bot.Person, error)
	// CreateOverride puts who on call for scheduleID over [start, end).
	// Errors wrap bot.ErrRateLimited, bot.ErrUnavailable, bot.ErrRejected
	// or bot.ErrNotFound.
	CreateOverride(ctx context.Context, scheduleID string, who bot.Person, start, end time.Time) (bot.Override, error)
	// DeleteOverride removes one, when a claim on a cover was lost after
	// its override was made.
	DeleteOverride(ctx context.Context, scheduleID, id string) error
	// Overrides lists the overrides of a schedule overlapping [from, to),
	// each with its person, to find what an earlier claim left behind.
	Overrides(ctx context.Context, scheduleID string, from, to time.Time) ([]bot.Override, error)
}

// CoverStore keeps cover requests and the overrides opsbot made, shared by
// replicas (integrations/redis.Covers).
type CoverStore interface {
	CreateCover(ctx context.Context, r bot.CoverRequest, now time.Time) error
	SetCoverMessage(ctx context.Context, id string, ref bot.MessageRef) error
	Cover(ctx context.Context, id string) (bot.CoverRequest, bool, error)
	// ClaimCover, CompleteCover, ReleaseCover and CancelCover change a
	// request's state atomically; ok says whether this call changed it,
	// and the request is returned as it is afterwards.
	ClaimCover(ctx context.Context, id, user string, now, leaseUntil time.Time) (bot.CoverRequest, bool, error)
	CompleteCover(ctx context.Context, id, user, overrideID string, at time.Time) (bot.CoverRequest, bool, error)
	ReleaseCover(ctx context.Context, id, user string) (bot.CoverRequest, bool, error)
	CancelCover(ctx context.Context, id, user string) (bot.CoverRequest, bool, error)
	RecordOverride(ctx context.Context, rec bot.OverrideRecord) error
	OverrideRecords(ctx context.Context, schedule string, endingAfter time.Time) ([]bot.OverrideRecord, error)
}

// Action IDs of the cover request's buttons.
const (
	TakeAction   = "oncall.cover.take"
	CancelAction = "oncall.cover.cancel"
	// claimLease is how long one click holds a request while it makes the
	// override; a replica that dies meanwhile frees it after this.
	claimLease = 2 * time.Minute
	// overrideCallTimeout bounds the provider calls of one click or
	// command: the person waits for the answer, and a provider asking
	// opsbot to come back later (429 with a long Retry-After) is answered
	// with "try again in a minute" rather than a click that hangs. It is
	// well inside claimLease, so a claim never lapses while its holder
	// is still working.
	overrideCallTimeout = 20 * time.Second
	maxReason           = 300
)

// errCoverStoreDown tells the person that a change to a cover request did
// not happen because the store did not take it (unreachable, or unable to
// make it safe from a failover).
func errCoverStoreDown(what string) error {
	return bot.Userf("I can't reach the on-call store right now, so %s. Please try again in a minute.", what)
}

// userAndZone returns the chat user and the time zone their times are read
// and shown in: their own, else the configured one.
func (s *Service) userAndZone(ctx context.Context, id string) (bot.User, *time.Location, error) {
	u, err := s.cfg.Chat.User(ctx, id)
	if err != nil {
		return bot.User{}, s.loc, err
	}
	return u, u.Location(s.loc), nil
}

func (s *Service) overridesReady() error {
	if s.cfg.Overrides == nil || s.cfg.Covers == nil {
		return bot.Userf("Cover requests and overrides are not available with %s.", s.cfg.ProviderName)
	}
	return nil
}

// checkWindow refuses windows that are past, reversed or too long.
func (s *Service) checkWindow(start, end, now time.Time, loc *time.Location) error {
	switch {
	case start.Before(now.Add(-time.Minute)):
		return bot.Userf("%s is in the past. Give a start from now on (`now` works).", bot.FormatTime(start, loc))
	case !end.After(start):
		return bot.Userf("The end (%s) must be after the start (%s).", bot.FormatTime(end, loc), bot.FormatTime(start, loc))
	case end.Sub(start) > s.set.CoverMax:
		return bot.Userf("That is %s; the longest allowed is %s (`oncall.cover_max`). Split it, or change the rotation.",
			human(end.Sub(start)), human(s.set.CoverMax))
	}
	return nil
}

// providerProblem phrases a failed provider call for the person who asked;
// nothing was changed in every case it describes.
func (s *Service) providerProblem(err error, what string) error {
	name := s.cfg.ProviderName
	switch {
	case errors.Is(err, bot.ErrRateLimited):
		return bot.Userf("%s is rate-limiting opsbot, so %s was not made. Nothing changed; try again in a minute.", name, what)
	case errors.Is(err, bot.ErrRejected):
		return bot.Userf("%s refused %s. Nothing changed.", name, what)
	case errors.Is(err, bot.ErrNotFound):
		return bot.Userf("%s does not know this schedule any more, so %s was not made.", name, what)
	case errors.Is(err, bot.ErrUnauthorized):
		return bot.Userf("%s refused opsbot's credentials, so %s was not made. Tell an admin.", name, what)
	}
	return bot.Userf("%s did not answer, so %s was not made. Nothing changed; try again in a minute.", name, what)
}

// personOf finds who a Slack user is at the provider; self says whether the
// asker is that user, for the wording.
func (s *Service) personOf(ctx context.Context, u bot.User, self bool) (bot.Person, error) {
	who, is, has, their, them := bot.MentionUser(u.ID), "is", "has", "their", "them"
	if self {
		who, is, has, their, them = "You", "are", "have", "your", "you"
	}
	if u.IsBot {
		return bot.Person{}, bot.Userf("%s %s a bot and cannot be on call.", who, is)
	}
	if u.IsRestricted || u.IsUltraRestricted {
		return bot.Person{}, bot.Userf("%s %s a guest in this workspace and cannot be put on call.", who, is)
	}
	p, err := s.cfg.Overrides.PersonByEmail(ctx, u.Email)
	switch {
	case errors.Is(err, bot.ErrNotFound):
		return bot.Person{}, bot.Userf("%s %s no %s account with the e-mail address of %s Slack profile, so %s cannot put %s on call.",
			who, has, s.cfg.ProviderName, their, s.cfg.ProviderName, them)
	case err != nil:
		return bot.Person{}, s.providerProblem(err, "the look-up")
	}
	if (p.Name == "" || p.Name == p.Email) && u.RealName != "" {
		p.Name = u.RealName
	}
	return p, nil
}

// memberOnly refuses guests, bots and deactivated accounts: arranging who
// is on call changes state, which needs a full member of the workspace
// (SPEC §7), whoever is named in the schedule.
func memberOnly(u bot.User, what string) error {
	switch {
	case u.IsRestricted || u.IsUltraRestricted:
		return bot.Userf("Guests can see who is on call, but only full members of this workspace can %s. Nothing changed.", what)
	case u.IsBot || u.Deleted:
		return bot.Userf("Only active people of this workspace can %s. Nothing changed.", what)
	}
	return nil
}

func samePerson(a bot.Person, email string) bool {
	return email != "" && strings.EqualFold(strings.TrimSpace(a.Email), strings.TrimSpace(email))
}

// handleCover posts a cover request in the schedule's handoff channel.
func (s *Service) handleCover(ctx context.Context, req *bot.Request, a coverArgs) (bot.Response, error) {
	sc := a.sc
	user, loc, err := s.userAndZone(ctx, req.UserID)
	if err != nil {
		return bot.Response{}, fmt.Errorf("cover request: who is %s: %w", req.UserID, err)
	}
	if err := memberOnly(user, "ask for cover"); err != nil {
		return bot.Response{}, err
	}
	now := s.clock.Now()
	start, end, used, err := parseWindow(a.rest, now, loc)
	if err != nil {
		return bot.Response{}, err
	}
	if err := s.checkWindow(start, end, now, loc); err != nil {
		return bot.Response{}, err
	}
	reason := strings.Join(a.rest[used:], " ")
	if len(reason) > maxReason {
		return bot.Response{}, bot.Userf("Keep the reason under %d characters.", maxReason)
	}
	if bot.HasControl(reason) {
		return bot.Response{}, bot.Userf("The reason contains control characters (such as ESC or NUL); remove them and try again. Nothing was posted.")
	}
	if !s.admins[req.UserID] {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
		shifts, err := s.cfg.Provider.Shifts(pctx, sc.ID, start, end)
		cancel()
		if err != nil {
			s.logger(ctx).Warn("cover request: shifts not read", zap.String("schedule", sc.ID), zap.Error(err))
			return bot.Response{}, bot.Userf("%s did not answer, so I cannot check your shifts on *%s*. Nothing was posted; try again in a minute.", s.cfg.ProviderName, sc.Name)
		}
		mine := false
		for _, sh := range shifts {
			if samePerson(sh.Person, user.Email) && (sh.End.IsZero() || sh.End.After(start)) && (sh.Start.IsZero() || sh.Start.Before(end)) {
				mine = true
			}
		}
		if !mine {
			return bot.Response{}, bot.Userf("You are not on call for *%s* between %s and %s, so there is nothing to cover. (Admins can ask for anyone.)",
				sc.Name, bot.FormatTime(start, loc), bot.FormatTime(end, loc))
		}
	}
	r := bot.CoverRequest{ID: s.cfg.IDs.New().String(), Schedule: sc.ID, Requester: req.UserID, Start: start, End: end,
		Reason: reason, CreatedAt: now, State: bot.CoverOpen}
	if err := s.cfg.Covers.CreateCover(ctx, r, now); err != nil {
		s.logger(ctx).Error("cover request not stored", zap.String("schedule", sc.ID), zap.Error(err))
		return bot.Response{}, errCoverStoreDown("no cover request was posted")
	}
	msg := s.coverMessage(sc, r)
	msg.Channel = sc.HandoffChannel
	ref, err := s.cfg.Chat.Post(ctx, msg)
	if err != nil {
		// Nobody can see it, so nobody must be able to take it.
		if _, _, cerr := s.cfg.Covers.CancelCover(context.WithoutCancel(ctx), r.ID, req.UserID); cerr != nil {
			s.logger(ctx).Error("unposted cover request left open", zap.String("cover", r.ID), zap.Error(cerr))
		}
		return bot.Response{}, fmt.Errorf("cover request for %q: post in %s: %w", sc.ID, sc.HandoffChannel, err)
	}
	if err := s.cfg.Covers.SetCoverMessage(ctx, r.ID, ref); err != nil {
		s.logger(ctx).Warn("cover request message not recorded; its message will not show who took it", zap.String("cover", r.ID), zap.Error(err))
	}
	s.logger(ctx).Info("cover requested", zap.String("schedule", sc.ID), zap.String("cover", r.ID),
		zap.Time("start", start), zap.Time("end", end))
	return bot.Reply(fmt.Sprintf("Asked for cover on *%s* from %s to %s (%s) in %s. You will hear when someone takes it; Cancel is on the request until then.",
		sc.Name, bot.FormatTime(start, loc), bot.FormatTime(end, loc), human(end.Sub(start)), bot.MentionChannel(sc.HandoffChannel))), nil
}

// coverMessage renders a request as it stands.
func (s *Service) coverMessage(sc bot.ScheduleConfig, r bot.CoverRequest) bot.Message {
	msg := bot.Message{Title: "Cover needed: " + sc.Name}
	var b strings.Builder
	fmt.Fprintf(&b, "%s needs someone on call for *%s* from %s to %s (%s).", bot.MentionUser(r.Requester), sc.Name,
		bot.FormatTime(r.Start, s.loc), bot.FormatTime(r.End, s.loc), human(r.End.Sub(r.Start)))
	if r.Reason != "" {
		fmt.Fprintf(&b, "\nReason: %s", bot.Quote(r.Reason))
	}
	msg.Text = b.String()
	switch r.State {
	case bot.CoverTaken:
		msg.Context = fmt.Sprintf(":white_check_mark: Taken by %s at %s.", bot.MentionUser(r.Taker), bot.FormatTime(r.TakenAt, s.loc))
	case bot.CoverCancelled:
		msg.Context = fmt.Sprintf(":no_entry_sign: Cancelled by %s.", bot.MentionUser(r.Requester))
	default:
		msg.Buttons = []bot.Button{
			{ID: TakeAction, Text: "Take it", Value: r.ID, Style: bot.ButtonPrimary},
			{ID: CancelAction, Text: "Cancel", Value: r.ID},
		}
		msg.Context = fmt.Sprintf("The first person who can be put on call to click Take it is on call for this window. Only %s can cancel.",
			bot.MentionUser(r.Requester))
	}
	return msg
}

// errNotItsMessage refuses a button whose value names a request (or a
// handoff) other than the one its message shows: a crafted click.
var errNotItsMessage = bot.Userf("That button does not belong to the message it was clicked on, so nothing was done.")

// onItsMessage says whether a click came from the message its request or
// handoff was posted as. One whose message was not recorded cannot be
// checked and is accepted: its buttons exist only on that message.
func onItsMessage(req *bot.Request, posted bot.MessageRef) bool {
	return posted.TS == "" || (req.Action != nil && req.Action.Message == posted)
}

// stateReply explains why a click on a request did nothing.
func stateReply(r bot.CoverRequest) string {
	switch r.State {
	case bot.CoverTaken:
		return fmt.Sprintf("%s has already taken this cover.", bot.MentionUser(r.Taker))
	case bot.CoverCancelled:
		return "This cover request was cancelled."
	case bot.CoverClaimed:
		return fmt.Sprintf("%s is taking this cover right now.", bot.MentionUser(r.Taker))
	}
	return "This cover request is still open."
}

// handleTake gives the request to the first eligible click: claim it in the
// store, make the override, and only then mark it taken. However many people
// click on however many replicas, one claim wins, so one override is made.
func (s *Service) handleTake(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if err := s.overridesReady(); err != nil {
		return bot.Response{}, err
	}
	log := s.logger(ctx).With(zap.String("cover", req.Action.Value), zap.String("user", req.UserID))
	r, found, err := s.cfg.Covers.Cover(ctx, req.Action.Value)
	if err != nil {
		return bot.Response{}, fmt.Errorf("take cover %s: %w", req.Action.Value, err)
	}
	if !found {
		return bot.Reply("That cover request is not one I know any more."), nil
	}
	if !onItsMessage(req, r.Message) {
		log.Warn("cover button on another message refused", zap.String("channel", req.Action.Message.Channel),
			zap.String("ts", req.Action.Message.TS))
		return bot.Response{}, errNotItsMessage
	}
	sc, known := s.byID(r.Schedule)
	if !known {
		return bot.Reply("That cover request is for a schedule I no longer follow."), nil
	}
	now := s.clock.Now()
	switch {
	case r.State == bot.CoverTaken || r.State == bot.CoverCancelled:
		// A claimed request is left to ClaimCover, which knows whether its
		// claim has lapsed.
		return bot.Reply(stateReply(r)), nil
	case req.UserID == r.Requester:
		return bot.Reply("You asked for this cover; someone else has to take it. (Cancel it if you no longer need it.)"), nil
	case !now.Before(r.End):
		return bot.Reply("This cover window is over."), nil
	}
	user, loc, err := s.userAndZone(ctx, req.UserID)
	if err != nil {
		return bot.Response{}, fmt.Errorf("take cover %s: who is %s: %w", r.ID, req.UserID, err)
	}
	lctx, cancel := context.WithTimeout(ctx, overrideCallTimeout)
	person, err := s.personOf(lctx, user, true)
	cancel()
	if err != nil {
		return bot.Response{}, err
	}
	r, won, err := s.cfg.Covers.ClaimCover(ctx, r.ID, req.UserID, now, now.Add(claimLease))
	if err != nil {
		log.Error("cover not claimed", zap.Error(err))
		return bot.Response{}, errCoverStoreDown("you have not taken this cover")
	}
	if !won {
		return bot.Reply(stateReply(r)), nil
	}
	release := func() {
		if _, _, rerr := s.cfg.Covers.ReleaseCover(context.WithoutCancel(ctx), r.ID, req.UserID); rerr != nil {
			log.Error("cover claim not released; the request frees itself after the lease", zap.Error(rerr))
		}
	}
	start := r.Start
	if start.Before(now) {
		// The window began while the request waited: cover what is left,
		// and leave the past as it was.
		start = now
	}
	pctx, cancel := context.WithTimeout(ctx, overrideCallTimeout)
	defer cancel()
	o, mine, err := s.settleEarlierAttempts(pctx, sc, r, req.UserID, person)
	if err != nil {
		log.Warn("earlier attempts at the cover not settled; request open again", zap.Error(err))
		release()
		return bot.Response{}, s.providerProblem(err, "the override")
	}
	if !mine {
		o, err = s.cfg.Overrides.CreateOverride(pctx, sc.ID, person, start, r.End)
	}
	if err != nil {
		// A failure without a clear answer may still have made the
		// override: the attempt stays on the request, and whoever claims
		// it next (this person again, or someone else) settles it.
		log.Warn("override for cover not made; request open again", zap.Error(err))
		release()
		return bot.Response{}, s.providerProblem(err, "the override")
	}
	taken, ok, err := s.cfg.Covers.CompleteCover(context.WithoutCancel(ctx), r.ID, req.UserID, o.ID, now)
	if err != nil {
		// Not recorded as taken, so the override must go: a request that
		// is open again with an override standing could be taken twice.
		log.Error("cover not recorded as taken; removing its override", zap.String("override", o.ID), zap.Error(err))
		if derr := s.cfg.Overrides.DeleteOverride(context.WithoutCancel(ctx), sc.ID, o.ID); derr != nil {
			log.Error("override of an unrecorded cover not removed; the request stays claimed until its lease ends",
				zap.String("override", o.ID), zap.Error(derr))
			return bot.Response{}, errCoverStoreDown("your cover was not recorded")
		}
		if _, _, rerr := s.cfg.Covers.ReleaseCover(context.WithoutCancel(ctx), r.ID, req.UserID); rerr != nil {
			log.Error("cover claim not released; the request frees itself after the lease", zap.Error(rerr))
		}
		return bot.Response{}, errCoverStoreDown("you have not taken this cover (the override was removed)")
	}
	if !ok {
		// The claim was lost (its lease ran out while the provider was
		// slow, and someone else has it): undo this override, so that one
		// stays.
		log.Error("cover claim lost after the override was made; removing it", zap.String("override", o.ID), zap.Error(err))
		if derr := s.cfg.Overrides.DeleteOverride(context.WithoutCancel(ctx), sc.ID, o.ID); derr != nil {
			log.Error("override of a lost claim not removed", zap.String("override", o.ID), zap.Error(derr))
		}
		return bot.Reply("Someone else took this cover while " + s.cfg.ProviderName + " was answering; you are not on call for it."), nil
	}
	log.Info("cover taken", zap.String("schedule", sc.ID), zap.String("override", o.ID))
	s.afterOverride(ctx, sc, bot.OverrideRecord{Override: o, OnCall: req.UserID, For: r.Requester, By: req.UserID, Cover: r.ID, CreatedAt: now})
	msg := s.coverMessage(sc, taken)
	if err := s.cfg.Chat.Update(ctx, taken.Message, msg); err != nil {
		log.Warn("cover request message not updated", zap.Error(err))
	}
	window := fmt.Sprintf("from %s to %s", bot.FormatTime(o.Start, s.loc), bot.FormatTime(o.End, s.loc))
	if _, err := s.cfg.Chat.Post(ctx, bot.Message{Channel: taken.Message.Channel, ThreadTS: taken.Message.TS,
		Text: fmt.Sprintf(":white_check_mark: %s took the cover for %s: on call for *%s* %s.",
			bot.MentionUser(req.UserID), bot.MentionUser(r.Requester), sc.Name, window)}); err != nil {
		log.Warn("taken message not posted", zap.Error(err))
	}
	if _, err := s.cfg.Chat.Post(ctx, bot.Message{Channel: r.Requester,
		Text: fmt.Sprintf("%s is covering for you on *%s* %s.", bot.MentionUser(req.UserID), sc.Name, window)}); err != nil {
		log.Warn("requester not told", zap.Error(err))
	}
	return bot.Reply(fmt.Sprintf("You are on call for *%s* from %s to %s, covering for %s (override %s).",
		sc.Name, bot.FormatTime(o.Start, loc), bot.FormatTime(o.End, loc), bot.MentionUser(r.Requester), o.ID)), nil
}

// settleEarlierAttempts deals with overrides that earlier claims on r may
// have left: a claim whose replica died after the provider made the
// override but before the request was marked taken (its lease then ran
// out), or whose provider call failed without a clear answer. Left alone,
// the next claim would make a second override for the same window. An
// earlier attempt's trace is an override of its person ending when the
// request ends and starting inside it. One of taker's own is theirs:
// returned with mine true, to be used instead of a new one. Anyone else's
// is removed, so that the window keeps exactly one override, whose taker
// is the person told. taker is empty when the request is being cancelled.
func (s *Service) settleEarlierAttempts(ctx context.Context, sc bot.ScheduleConfig, r bot.CoverRequest, taker string, takerPerson bot.Person) (bot.Override, bool, error) {
	earlier := r.Attempts
	if taker != "" && len(earlier) > 0 && earlier[len(earlier)-1] == taker {
		// The last attempt is this very claim.
		earlier = earlier[:len(earlier)-1]
	}
	if len(earlier) == 0 {
		return bot.Override{}, false, nil
	}
	list, err := s.cfg.Overrides.Overrides(ctx, sc.ID, r.Start, r.End)
	if err != nil {
		return bot.Override{}, false, fmt.Errorf("overrides of %q: %w", sc.ID, err)
	}
	// Overrides opsbot finished making (another request taken, a direct
	// override) are recorded: whatever they look like, they are not
	// leftovers of this request.
	recs, err := s.cfg.Covers.OverrideRecords(ctx, sc.ID, r.Start)
	if err != nil {
		return bot.Override{}, false, fmt.Errorf("override records of %q: %w", sc.ID, err)
	}
	made := map[string]bool{}
	for _, rec := range recs {
		made[rec.ID] = true
	}
	log := s.logger(ctx).With(zap.String("cover", r.ID), zap.String("schedule", sc.ID))
	var mine bot.Override
	found := false
	seen := map[string]bool{}
	for _, user := range earlier {
		if seen[user] {
			continue
		}
		seen[user] = true
		person := takerPerson
		if user != taker {
			u, err := s.cfg.Chat.User(ctx, user)
			if err != nil {
				return bot.Override{}, false, fmt.Errorf("who is %s: %w", user, err)
			}
			person, err = s.cfg.Overrides.PersonByEmail(ctx, u.Email)
			if errors.Is(err, bot.ErrNotFound) {
				continue // no account, so no override of theirs
			}
			if err != nil {
				return bot.Override{}, false, err
			}
		}
		for _, o := range list {
			if made[o.ID] || !leftBy(o, person, r) {
				continue
			}
			if user == taker && !found {
				log.Warn("override left by an earlier attempt of the same person taken as theirs", zap.String("override", o.ID))
				mine, found = o, true
				continue
			}
			if err := s.cfg.Overrides.DeleteOverride(ctx, sc.ID, o.ID); err != nil && !errors.Is(err, bot.ErrNotFound) {
				return bot.Override{}, false, fmt.Errorf("remove override %s left by an earlier attempt: %w", o.ID, err)
			}
			log.Warn("override left by an earlier attempt removed", zap.String("override", o.ID), zap.String("attempt_by", user))
		}
	}
	return mine, found, nil
}

// leftBy says whether o looks like what a claim on r by person made: their
// override ending with the request and starting inside its window.
func leftBy(o bot.Override, p bot.Person, r bot.CoverRequest) bool {
	sec := func(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
	same := (p.ProviderID != "" && o.Person.ProviderID == p.ProviderID) || samePerson(o.Person, p.Email)
	return same && sec(o.End).Equal(sec(r.End)) && !sec(o.Start).Before(sec(r.Start)) && sec(o.Start).Before(sec(r.End))
}

// handleCancelCover lets the requester withdraw a request nobody took.
func (s *Service) handleCancelCover(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if err := s.overridesReady(); err != nil {
		return bot.Response{}, err
	}
	r, found, err := s.cfg.Covers.Cover(ctx, req.Action.Value)
	if err != nil {
		return bot.Response{}, fmt.Errorf("cancel cover %s: %w", req.Action.Value, err)
	}
	if !found {
		return bot.Reply("That cover request is not one I know any more."), nil
	}
	if !onItsMessage(req, r.Message) {
		s.logger(ctx).Warn("cover button on another message refused", zap.String("cover", r.ID))
		return bot.Response{}, errNotItsMessage
	}
	if req.UserID != r.Requester {
		return bot.Reply(fmt.Sprintf("Only %s, who asked, can cancel this request.", bot.MentionUser(r.Requester))), nil
	}
	r, ok, err := s.cfg.Covers.CancelCover(ctx, r.ID, req.UserID)
	if err != nil {
		s.logger(ctx).Error("cover request not cancelled", zap.String("cover", req.Action.Value), zap.Error(err))
		return bot.Response{}, errCoverStoreDown("your request was not cancelled")
	}
	if !ok {
		return bot.Reply(stateReply(r)), nil
	}
	sc, _ := s.byID(r.Schedule)
	if sc.Name == "" {
		sc.Name = r.Schedule
	}
	if len(r.Attempts) > 0 && sc.ID != "" {
		// Cancelled, nobody can claim it any more: an override an earlier
		// attempt left (its answer lost) would otherwise stay.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), overrideCallTimeout)
		if _, _, err := s.settleEarlierAttempts(pctx, sc, r, "", bot.Person{}); err != nil {
			s.logger(ctx).Error("cancelled cover: an override an earlier attempt may have left was not checked",
				zap.String("cover", r.ID), zap.Strings("attempts", r.Attempts), zap.Error(err))
		}
		cancel()
	}
	if err := s.cfg.Chat.Update(ctx, r.Message, s.coverMessage(sc, r)); err != nil {
		s.logger(ctx).Warn("cancelled cover request message not updated", zap.String("cover", r.ID), zap.Error(err))
	}
	return bot.Reply("Cancelled your cover request."), nil
}

// handleOverride puts someone on call directly: admins, and whoever is on
// call for the schedule now, may.
func (s *Service) handleOverride(ctx context.Context, req *bot.Request, a overrideArgs) (bot.Response, error) {
	sc, target := a.sc, a.target
	asker, loc, err := s.userAndZone(ctx, req.UserID)
	if err != nil {
		return bot.Response{}, fmt.Errorf("override: who is %s: %w", req.UserID, err)
	}
	if err := memberOnly(asker, "set overrides"); err != nil {
		return bot.Response{}, err
	}
	now := s.clock.Now()
	if !s.admins[req.UserID] {
		v := s.look(ctx, sc, false)
		if v.err != nil {
			return bot.Response{}, bot.Userf("%s did not answer and nothing is cached, so I cannot tell who is on call for *%s*. Nothing changed.", s.cfg.ProviderName, sc.Name)
		}
		onCall := false
		for _, r := range current(sc, v.snap, now) {
			if id, ok := s.slackID(ctx, r.person); ok && id == req.UserID {
				onCall = true
			}
		}
		if !onCall {
			return bot.Response{}, bot.Userf("Only opsbot admins and whoever is on call for *%s* now can set overrides. To hand over your own shift, use `/oncall cover`.", sc.Name)
		}
	}
	start, end, used, err := parseWindow(a.rest, now, loc)
	if err != nil {
		return bot.Response{}, err
	}
	if extra := a.rest[used:]; len(extra) > 0 {
		return bot.Response{}, bot.Userf("I did not understand `%s` after the times.", bot.Quote(strings.Join(extra, " ")))
	}
	if err := s.checkWindow(start, end, now, loc); err != nil {
		return bot.Response{}, err
	}
	start = maxTime(start, now)
	tu, err := s.cfg.Chat.User(ctx, target)
	if errors.Is(err, bot.ErrNotFound) {
		return bot.Response{}, bot.Userf("I cannot find %s in this workspace.", bot.MentionUser(target))
	}
	if err != nil {
		return bot.Response{}, fmt.Errorf("override: who is %s: %w", target, err)
	}
	pctx, cancel := context.WithTimeout(ctx, overrideCallTimeout)
	defer cancel()
	person, err := s.personOf(pctx, tu, target == req.UserID)
	if err != nil {
		return bot.Response{}, err
	}
	o, err := s.cfg.Overrides.CreateOverride(pctx, sc.ID, person, start, end)
	if err != nil {
		s.logger(ctx).Warn("override not made", zap.String("schedule", sc.ID), zap.String("target", target), zap.Error(err))
		return bot.Response{}, s.providerProblem(err, "the override")
	}
	s.logger(ctx).Info("override made", zap.String("schedule", sc.ID), zap.String("override", o.ID), zap.String("target", target))
	s.afterOverride(ctx, sc, bot.OverrideRecord{Override: o, OnCall: target, By: req.UserID, CreatedAt: now})
	window := fmt.Sprintf("from %s to %s", bot.FormatTime(o.Start, s.loc), bot.FormatTime(o.End, s.loc))
	if sc.HandoffChannel != "" {
		if _, err := s.cfg.Chat.Post(ctx, bot.Message{Channel: sc.HandoffChannel,
			Text: fmt.Sprintf(":calendar: %s put %s on call for *%s* %s.", bot.MentionUser(req.UserID), bot.MentionUser(target), sc.Name, window)}); err != nil {
			s.logger(ctx).Warn("override not announced", zap.Error(err))
		}
	}
	if target != req.UserID {
		if _, err := s.cfg.Chat.Post(ctx, bot.Message{Channel: target,
			Text: fmt.Sprintf("%s put you on call for *%s* %s.", bot.MentionUser(req.UserID), sc.Name, window)}); err != nil {
			s.logger(ctx).Warn("override target not told", zap.Error(err))
		}
	}
	return bot.Reply(fmt.Sprintf("%s is on call for *%s* from %s to %s (override %s).", bot.MentionUser(target), sc.Name,
		bot.FormatTime(o.Start, loc), bot.FormatTime(o.End, loc), o.ID)), nil
}

// afterOverride records an override and syncs its schedule at once, so
// /oncall shows it and, when it starts now, its handoff is posted without
// waiting for the next round. Both are best effort: the override exists.
func (s *Service) afterOverride(ctx context.Context, sc bot.ScheduleConfig, rec bot.OverrideRecord) {
	ctx = context.WithoutCancel(ctx)
	if err := s.cfg.Covers.RecordOverride(ctx, rec); err != nil {
		s.logger(ctx).Warn("override not recorded; /oncall will not say who arranged it", zap.String("override", rec.ID), zap.Error(err))
	}
	if err := s.syncOne(ctx, sc); err != nil {
		s.logger(ctx).Warn("schedule not synced after an override; the next round will", zap.String("schedule", sc.ID), zap.Error(err))
	}
}

// handleMe lists the asker's next shifts across the followed schedules.
func (s *Service) handleMe(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if len(s.schedules) == 0 {
		return bot.Reply("No on-call schedules are configured (`oncall.schedules` in the config file)."), nil
	}
	user, loc, err := s.userAndZone(ctx, req.UserID)
	if err != nil {
		return bot.Response{}, fmt.Errorf("/oncall me: who is %s: %w", req.UserID, err)
	}
	if user.Email == "" {
		return bot.Response{}, bot.Userf("Your Slack profile shows no e-mail address, which is how I find you in %s.", s.cfg.ProviderName)
	}
	now := s.clock.Now()
	type mine struct {
		sc bot.ScheduleConfig
		r  run
	}
	var list []mine
	var failed []string
	views := s.lookAll(ctx, s.schedules, false)
	for _, v := range views {
		if v.err != nil {
			failed = append(failed, v.sc.Name)
			continue
		}
		for _, r := range runs(v.snap.Shifts) {
			if samePerson(r.person, user.Email) && v.sc.ShowsLevel(r.level) && (r.end.IsZero() || r.end.After(now)) {
				list = append(list, mine{v.sc, r})
			}
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].r.start.Before(list[j].r.start) })
	msg := bot.Message{Title: "Your next shifts"}
	var b strings.Builder
	if len(list) == 0 {
		fmt.Fprintf(&b, "You have no shifts in the next %s on %s.", human(s.set.Lookahead), s.names())
	}
	for _, m := range list {
		until := "further notice"
		if !m.r.end.IsZero() {
			until = bot.FormatTime(m.r.end, loc)
		}
		if m.r.covers(now) {
			fmt.Fprintf(&b, "• *%s* L%d: *now*, until %s\n", m.sc.Name, m.r.level, until)
			continue
		}
		fmt.Fprintf(&b, "• *%s* L%d: %s (in %s) until %s\n", m.sc.Name, m.r.level, bot.FormatTime(m.r.start, loc), human(m.r.start.Sub(now)), until)
	}
	msg.Text = strings.TrimRight(b.String(), "\n")
	if len(failed) > 0 {
		msg.Context = fmt.Sprintf(":warning: %s did not answer for %s and nothing is cached; shifts there are not shown.", s.cfg.ProviderName, strings.Join(failed, ", "))
	} else if st := s.staleness(views, now); st != "" {
		msg.Context = st
	}
	return bot.Response{Message: msg}, nil
}

// overrideLines shows the overrides arranged through opsbot that have not
// ended, for /oncall SCHEDULE.
func (s *Service) overrideLines(ctx context.Context, sc bot.ScheduleConfig, now time.Time, loc *time.Location) string {
	if s.cfg.Covers == nil {
		return ""
	}
	recs, err := s.cfg.Covers.OverrideRecords(ctx, sc.ID, now)
	if err != nil {
		s.logger(ctx).Warn("override records not read", zap.String("schedule", sc.ID), zap.Error(err))
		return ""
	}
	if len(recs) == 0 {
		return ""
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Start.Before(recs[j].Start) })
	var b strings.Builder
	b.WriteString("\n*Overrides arranged in Slack*")
	for _, r := range recs {
		fmt.Fprintf(&b, "\n• %s from %s to %s", bot.MentionUser(r.OnCall), bot.FormatTime(r.Start, loc), bot.FormatTime(r.End, loc))
		if r.For != "" {
			fmt.Fprintf(&b, ", covering for %s", bot.MentionUser(r.For))
		} else {
			fmt.Fprintf(&b, ", set by %s", bot.MentionUser(r.By))
		}
		fmt.Fprintf(&b, " (arranged %s)", bot.FormatTime(r.CreatedAt, loc))
	}
	return b.String()
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
