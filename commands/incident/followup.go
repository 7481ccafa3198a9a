package incident

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Follow-ups are the post-mortem's action items, tracked where the incident
// was run: `/incident followup TEXT… [@owner] [due YYYY-MM-DD]` in the
// incident's channel (also after it is resolved), a Done button and
// `/incident followup done N`, `/incident followups [mine]`. They are kept
// in the follow-up store, recorded in the timeline, listed in the export's
// action items, reminded to their owner by DM when due, and — with a
// tracker configured — mirrored to an issue (followup_sync.go).

// FollowupTextMax bounds a follow-up's text.
const FollowupTextMax = 500

// ActionFollowupDone is the Done button of a follow-up; its value is the
// follow-up's ID ("INC-42/3").
const ActionFollowupDone = "incident.followup_done"

// followupsShown bounds a listing; the export has them all.
const followupsShown = 30

var (
	dueWord   = regexp.MustCompile(`(?i)^due:?$`)
	dateLike  = regexp.MustCompile(`^[0-9]`)
	doneIndex = regexp.MustCompile(`^#?([0-9]+)$`)
	wordSpan  = regexp.MustCompile(`\S+`)
)

var errFollowupsOff = bot.Userf("Follow-ups are not available: this opsbot has no follow-up store configured.")

// errFollowupStoreDown says nothing was changed because the store is out.
var errFollowupStoreDown = bot.Userf("I can't reach the follow-up store right now, so nothing was changed. Please try again in a minute.")

func (s *Service) followupCommand() bot.Command {
	return bot.Command{Name: "followup", Aliases: []string{"follow-up", "action"},
		Usage:       "followup TEXT… [@owner] [due YYYY-MM-DD] | followup done N",
		Description: "add a follow-up (action item) to this incident, or mark one done",
		Examples: []string{"/incident followup add retries to the payment client @bob due 2026-03-10",
			"/incident followup done 2"},
		Handler: s.cmdFollowup}
}

func (s *Service) followupsCommand() bot.Command {
	return bot.Command{Name: "followups", Aliases: []string{"follow-ups", "actions"}, Usage: "followups [mine]",
		Description: "this incident's follow-ups, or yours across incidents", Handler: s.cmdFollowups}
}

// followupInput is a parsed `/incident followup`.
type followupInput struct {
	Text  string
	Owner string
	Due   string
	DueAt time.Time
}

func (s *Service) cmdFollowup(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if s.followups == nil {
		return bot.Response{}, errFollowupsOff
	}
	args := req.Args()[1:]
	if len(args) == 2 && strings.EqualFold(args[0], "done") {
		if m := doneIndex.FindStringSubmatch(args[1]); m != nil {
			n, _ := strconv.Atoi(m[1])
			inc, err := s.current(ctx, req)
			if err != nil {
				return bot.Response{}, err
			}
			return s.markDone(ctx, inc, n, req.UserID)
		}
	}
	in, err := s.parseFollowup(ctx, restText(req))
	if err != nil {
		return bot.Response{}, err
	}
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	return s.addFollowup(ctx, req, inc, in)
}

// parseFollowup reads TEXT… [@owner] [due YYYY-MM-DD]: the owner and the due
// date are taken from the end, in either order; a mention elsewhere is part
// of the text.
func (s *Service) parseFollowup(ctx context.Context, raw string) (followupInput, error) {
	usage := s.usage("followup")
	raw = strings.TrimSpace(raw)
	spans := wordSpan.FindAllStringIndex(raw, -1)
	words := make([]string, len(spans))
	for i, sp := range spans {
		words[i] = raw[sp[0]:sp[1]]
	}
	var in followupInput
	for len(words) > 0 {
		last := words[len(words)-1]
		switch {
		case len(words) >= 2 && dueWord.MatchString(words[len(words)-2]) && dateLike.MatchString(last):
			if in.Due != "" {
				return in, bot.Userf("Give one due date. %s", usage)
			}
			due, dueAt, err := s.parseDue(last)
			if err != nil {
				return in, err
			}
			in.Due, in.DueAt = due, dueAt
			words = words[:len(words)-2]
			continue
		case strings.HasPrefix(last, "<@") || (strings.HasPrefix(last, "@") && len(last) > 1):
			user, err := bot.ParseUser(last)
			if err != nil {
				return in, err
			}
			if in.Owner != "" {
				return in, bot.Userf("A follow-up has one owner; name one person. %s", usage)
			}
			in.Owner = user
			words = words[:len(words)-1]
			continue
		}
		break
	}
	// The text keeps the person's own spacing: it ends where the last word
	// that is not owner or due date ends.
	text := ""
	if len(words) > 0 {
		text = raw[:spans[len(words)-1][1]]
	}
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return in, bot.Userf("Please write what should be done. %s", usage)
	case n > FollowupTextMax:
		return in, bot.Userf("That follow-up is %d characters; keep it to %d (details belong in the issue).", n, FollowupTextMax)
	case bot.HasControl(text):
		return in, bot.Userf("That follow-up contains control characters (such as ESC or NUL); remove them and try again.")
	}
	in.Text = text
	if in.Owner != "" {
		u, err := s.chat.User(ctx, in.Owner)
		switch {
		case errors.Is(err, bot.ErrNotFound):
			return in, bot.Userf("I can't find %s in this workspace, so the follow-up was not added.", bot.MentionUser(in.Owner))
		case err != nil:
			// The mention came from Slack with an ID; a directory hiccup
			// must not lose the follow-up.
			bot.Logger(ctx).Warn("follow-up owner not checked", zap.String("user", in.Owner), zap.Error(err))
		case u.IsBot:
			return in, bot.Userf("%s is a bot; a follow-up needs a person to own it.", bot.MentionUser(in.Owner))
		case u.Deleted:
			return in, bot.Userf("%s's account is deactivated; a follow-up needs an owner who can act on it.", bot.MentionUser(in.Owner))
		case u.IsRestricted || u.IsUltraRestricted:
			// Guests may not mark follow-ups done (a change), so one could
			// never close what it owns: its reminders would offer a Done
			// button that refuses it.
			return in, bot.Userf("%s is a guest in this workspace and could not mark the follow-up done; name a full member as its owner.", bot.MentionUser(in.Owner))
		}
	}
	return in, nil
}

// parseDue reads a due date in the incidents' zone; today is allowed, the
// past is not.
func (s *Service) parseDue(v string) (string, time.Time, error) {
	loc := s.set.Timezone
	d, err := time.ParseInLocation("2006-01-02", v, loc)
	if err != nil {
		return "", time.Time{}, bot.Userf("`%s` is not a date: write the due date as YYYY-MM-DD, e.g. due %s.",
			bot.Quote(v), s.clock.Now().In(loc).AddDate(0, 0, 14).Format("2006-01-02"))
	}
	now := s.clock.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	if d.Before(today) {
		return "", time.Time{}, bot.Userf("%s is in the past (today is %s); give today or a later date.", v, today.Format("2006-01-02"))
	}
	if d.After(today.AddDate(3, 0, 0)) {
		return "", time.Time{}, bot.Userf("%s is more than three years away; is that a typo?", v)
	}
	return d.Format("2006-01-02"), d.UTC(), nil
}

// remindAt is when the owner of a follow-up due on dueAt's date is first
// reminded: at followups.remind_at on that day, in the incidents' zone.
func (s *Service) remindAt(due string) time.Time {
	d, err := time.ParseInLocation("2006-01-02", due, s.set.Timezone)
	if err != nil {
		return time.Time{}
	}
	return d.Add(s.fset.RemindAt).UTC()
}

func (s *Service) addFollowup(ctx context.Context, req *bot.Request, inc bot.Incident, in followupInput) (bot.Response, error) {
	if err := s.allowTimeline(ctx, &inc, "follow-up"); err != nil {
		return bot.Response{}, err
	}
	now := s.clock.Now().UTC()
	f := bot.Followup{Incident: inc.Key, Text: in.Text, Owner: in.Owner, Due: in.Due, DueAt: in.DueAt, Drill: inc.Drill,
		CreatedBy: req.UserID, CreatedAt: now, State: bot.FollowupOpen}
	if in.Owner != "" && in.Due != "" {
		f.RemindAt = s.remindAt(in.Due)
		if f.RemindAt.Before(now) {
			f.RemindAt = now // due today and past the hour: remind at once
		}
	}
	if s.tracker != nil {
		f.SyncAt = now
	}
	key := dedupeKey(req)
	if key == "" {
		key = s.ids.New().String()
	}
	f, created, err := s.followups.Add(ctx, "followup:"+key, f)
	if err != nil {
		bot.Logger(ctx).Error("follow-up not added", zap.String("incident", inc.Key), zap.Error(err))
		return bot.Response{}, bot.Userf("I can't reach the follow-up store right now, so the follow-up was not added. Please try again in a minute.")
	}
	if !created {
		return bot.Reply(fmt.Sprintf("Follow-up #%d of %s was already added from this request.", f.Number, inc.Key)), nil
	}
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key), zap.Int("followup", f.Number))
	if err := s.record(ctx, &inc, followupEvent(&f, "added", req.UserID, now)); err != nil {
		log.Error("follow-up not recorded in the timeline", zap.Error(err))
	}
	// The tracker gets one quick try now, so the link usually shows at
	// once; whatever fails is retried by the sync.
	var trackerNote string
	if s.tracker != nil {
		tctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		f, trackerNote = s.syncNow(tctx, f)
		cancel()
	}
	msg := s.followupMessage(&f, &inc)
	msg.Channel = inc.Channel
	ref, perr := s.chat.Post(ctx, msg)
	if perr != nil {
		// An archived channel: the follow-up stands; tell the person here.
		log.Warn("follow-up not posted in the incident channel", zap.Error(perr))
		resp := bot.Response{Message: msg}
		resp.Message.Channel = ""
		resp.Message.Context = strings.TrimSpace(resp.Message.Context + " " + trackerNote)
		return resp, nil
	}
	if _, err := s.followups.Update(ctx, f.Incident, f.Number, func(g *bot.Followup) error { g.Message = ref; return nil }); err != nil {
		log.Warn("follow-up message not stored; its Done button still works", zap.Error(err))
	}
	if trackerNote != "" {
		return bot.Reply(trackerNote), nil
	}
	return bot.Response{}, nil
}

// followupEvent is the timeline event of a follow-up change.
func followupEvent(f *bot.Followup, what, actor string, at time.Time) bot.TimelineEvent {
	d := map[string]string{"event": what, "number": strconv.Itoa(f.Number)}
	if f.Owner != "" {
		d["owner"] = f.Owner
	}
	if f.Due != "" {
		d["due"] = f.Due
	}
	if f.Tracker.URL != "" {
		d["url"] = f.Tracker.URL
	}
	return bot.TimelineEvent{Type: bot.TLFollowup, Actor: actor, Time: at, Text: f.Text, Details: d,
		DedupeKey: fmt.Sprintf("followup:%d:%s", f.Number, what)}
}

// followupLine describes a follow-up event for the timeline and export.
func followupLine(actor string, ev bot.TimelineEvent, r renderer) string {
	d := ev.Details
	who, raw := r.who, func(k string) string { return r.raw(d[k]) }
	switch d["event"] {
	case "added":
		s := fmt.Sprintf("%s added follow-up #%s: %s", actor, raw("number"), r.text(ev.Text))
		if o := d["owner"]; o != "" {
			s += " (owner " + who(o)
			if d["due"] != "" {
				s += ", due " + raw("due")
			}
			s += ")"
		} else if d["due"] != "" {
			s += " (due " + raw("due") + ")"
		}
		return s
	case "done":
		if ev.Actor == actorGitHub {
			return fmt.Sprintf("follow-up #%s was closed on GitHub", raw("number"))
		}
		return fmt.Sprintf("%s marked follow-up #%s done", actor, raw("number"))
	case "linked":
		return fmt.Sprintf("follow-up #%s is tracked in %s", raw("number"), raw("url"))
	}
	return fmt.Sprintf("%s: follow-up #%s %s", actor, raw("number"), raw("event"))
}

// actorGitHub is the actor of follow-up changes made on GitHub.
const actorGitHub = "github"

// followupMessage is the message that announces a follow-up in the
// incident channel and is edited as it changes.
func (s *Service) followupMessage(f *bot.Followup, inc *bot.Incident) bot.Message {
	m := bot.Message{Title: fmt.Sprintf(":pushpin: Follow-up #%d of %s", f.Number, f.Incident), Text: bot.Quote(f.Text)}
	m.Fields = s.followupFields(f)
	if f.Open() {
		m.Buttons = []bot.Button{{ID: ActionFollowupDone, Text: "Done", Value: f.ID(), Style: bot.ButtonPrimary}}
		m.Context = fmt.Sprintf("Added by %s. `/incident followup done %d` or the button marks it done.", bot.MentionUser(f.CreatedBy), f.Number)
	} else {
		m.Title = fmt.Sprintf(":white_check_mark: Follow-up #%d of %s (done)", f.Number, f.Incident)
		m.Context = "Done " + s.doneBy(f) + "."
	}
	if inc != nil && inc.Drill {
		m = markMessage(m)
	}
	return m
}

func (s *Service) followupFields(f *bot.Followup) []bot.Field {
	owner := "_nobody yet_"
	if f.Owner != "" {
		owner = bot.MentionUser(f.Owner)
	}
	due := "_no due date_"
	if f.Due != "" {
		due = f.Due
		if f.Open() && !f.DueAt.IsZero() && s.clock.Now().After(f.DueAt.AddDate(0, 0, 1)) {
			due += " (overdue)"
		}
	}
	fields := []bot.Field{{Label: "Owner", Value: owner}, {Label: "Due", Value: due}}
	switch {
	case f.Tracker.URL != "":
		fields = append(fields, bot.Field{Label: "Issue", Value: fmt.Sprintf("<%s|#%d>", f.Tracker.URL, f.Tracker.Number)})
	case s.tracker != nil && f.Tracker.LastError != "":
		fields = append(fields, bot.Field{Label: "Issue", Value: "_not opened yet: " + f.Tracker.LastError + "_"})
	case s.tracker != nil && f.Open():
		fields = append(fields, bot.Field{Label: "Issue", Value: "_being opened_"})
	}
	return fields
}

func (s *Service) doneBy(f *bot.Followup) string {
	by := "by " + bot.MentionUser(f.DoneBy)
	if f.DoneBy == actorGitHub {
		by = "on GitHub (issue closed)"
	}
	if !f.DoneAt.IsZero() {
		by += " " + bot.FormatTime(f.DoneAt, s.set.Timezone)
	}
	return by
}

// onFollowupDone handles the Done button, wherever it was shown (the
// follow-up's message, a listing, a reminder DM). It acts only on the
// follow-up it names, and in an incident channel only on that incident's.
func (s *Service) onFollowupDone(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if s.followups == nil {
		return bot.Response{}, errFollowupsOff
	}
	if req.Action == nil {
		return bot.Response{}, bot.Userf("That button is no longer supported.")
	}
	key, n, err := bot.ParseFollowupID(req.Action.Value)
	if err != nil {
		return bot.Response{}, bot.Userf("That button does not name a follow-up.")
	}
	if here, ok, err := s.byChannel(ctx, req.ChannelID); err == nil && ok && here.Key != key {
		return bot.Response{}, bot.Userf("That button belongs to %s, not to %s.", key, here.Key)
	}
	inc, err := s.getIncident(ctx, key)
	if err != nil {
		return bot.Response{}, err
	}
	if req.ChannelID != inc.Channel {
		// Outside the incident's channel the button is only ever shown to
		// the follow-up's owner (their reminder, `followups mine`): anyone
		// else's click carries a value they copied.
		f, err := s.followups.Get(ctx, key, n)
		switch {
		case errors.Is(err, bot.ErrFollowupNotFound):
			return bot.Response{}, bot.Userf("%s has no follow-up #%d.", key, n)
		case err != nil:
			bot.Logger(ctx).Error("follow-up not read", zap.String("incident", key), zap.Int("followup", n), zap.Error(err))
			return bot.Response{}, errFollowupStoreDown
		case f.Owner != req.UserID:
			bot.Logger(ctx).Warn("follow-up Done outside its incident by someone other than the owner refused",
				zap.String("incident", key), zap.Int("followup", n))
			return bot.Response{}, bot.Userf("Only the owner of follow-up #%d of %s can mark it done from here; in %s, `/incident followup done %d` works for anyone helping.",
				n, key, bot.MentionChannel(inc.Channel), n)
		}
	}
	resp, err := s.markDone(ctx, inc, n, req.UserID)
	if err != nil {
		return bot.Response{}, err
	}
	// The click's own message is updated by markDone (or is a listing or
	// a DM): the confirmation goes only to whoever clicked.
	resp.Visibility = bot.Ephemeral
	return resp, nil
}

// markDone marks follow-up n of inc done, in the store, the timeline, its
// message and (on the next sync, tried at once) the tracker.
func (s *Service) markDone(ctx context.Context, inc bot.Incident, n int, actor string) (bot.Response, error) {
	now := s.clock.Now().UTC()
	f, err := s.followups.Claim(ctx, inc.Key, n, func(f *bot.Followup) error {
		if !f.Open() {
			return bot.Userf("Follow-up #%d of %s is already done (%s).", n, inc.Key, bot.Quote(s.doneBy(f)))
		}
		f.State, f.DoneBy, f.DoneAt, f.RemindAt = bot.FollowupDone, actor, now, time.Time{}
		if s.tracker != nil && (f.Tracker.Number != 0 || !f.Tracker.CreateTriedAt.IsZero()) {
			f.SyncAt = now
		} else {
			f.SyncAt = time.Time{}
		}
		return nil
	})
	if err != nil {
		var ue *bot.UserError
		switch {
		case errors.As(err, &ue):
			return bot.Response{}, err
		case errors.Is(err, bot.ErrFollowupNotFound):
			return bot.Response{}, bot.Userf("%s has no follow-up #%d; `/incident followups` lists them.", inc.Key, n)
		}
		bot.Logger(ctx).Error("follow-up not marked done", zap.String("incident", inc.Key), zap.Int("followup", n), zap.Error(err))
		return bot.Response{}, errFollowupStoreDown
	}
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key), zap.Int("followup", n))
	if err := s.record(ctx, &inc, followupEvent(&f, "done", actor, now)); err != nil {
		log.Error("follow-up done not recorded in the timeline", zap.Error(err))
	}
	note := ""
	if f.Tracker.Number != 0 {
		tctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		f, note = s.syncNow(tctx, f)
		cancel()
	}
	s.refreshFollowupMessage(ctx, &f, &inc)
	text := fmt.Sprintf(":white_check_mark: %s marked follow-up #%d of %s done: %s", bot.MentionUser(actor), n, inc.Key, bot.Quote(f.Text))
	if f.Tracker.State == "closed" && f.Tracker.URL != "" {
		text += fmt.Sprintf(" (<%s|issue #%d> closed)", f.Tracker.URL, f.Tracker.Number)
	}
	if note != "" {
		text += "\n" + note
	}
	return bot.Say(text), nil
}

// refreshFollowupMessage edits the follow-up's message in the incident
// channel to its current state.
func (s *Service) refreshFollowupMessage(ctx context.Context, f *bot.Followup, inc *bot.Incident) {
	if f.Message.TS == "" {
		return
	}
	m := s.followupMessage(f, inc)
	m.Channel = f.Message.Channel
	if err := s.chat.Update(ctx, f.Message, m); err != nil {
		bot.Logger(ctx).Warn("follow-up message not updated", zap.String("incident", f.Incident), zap.Int("followup", f.Number), zap.Error(err))
	}
}

func (s *Service) cmdFollowups(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if s.followups == nil {
		return bot.Response{}, errFollowupsOff
	}
	args := req.Args()[1:]
	switch {
	case len(args) == 1 && strings.EqualFold(args[0], "mine"):
		return s.myFollowups(ctx, req.UserID, "")
	case len(args) > 0:
		return bot.Response{}, bot.Userf("%s", s.usage("followups"))
	}
	inc, ok, err := s.byChannel(ctx, req.ChannelID)
	if err != nil {
		return bot.Response{}, errReadDown
	}
	if !ok {
		return s.myFollowups(ctx, req.UserID, "_This is not an incident channel, so here are yours across incidents._\n")
	}
	fs, err := s.followups.ForIncident(ctx, inc.Key)
	if err != nil {
		bot.Logger(ctx).Error("follow-ups not listed", zap.String("incident", inc.Key), zap.Error(err))
		return bot.Response{}, errReadDown
	}
	if len(fs) == 0 {
		return bot.Reply(fmt.Sprintf("%s has no follow-ups yet. Add one with `/incident followup TEXT… [@owner] [due YYYY-MM-DD]`.", inc.Key)), nil
	}
	var b strings.Builder
	var buttons []bot.Button
	open := 0
	for i, f := range fs {
		if i == followupsShown {
			fmt.Fprintf(&b, "_and %d more; `/incident export` lists them all._\n", len(fs)-followupsShown)
			break
		}
		b.WriteString(s.followupListLine(&f, false) + "\n")
		if f.Open() {
			open++
			if len(buttons) < 5 {
				buttons = append(buttons, bot.Button{ID: ActionFollowupDone, Text: fmt.Sprintf("Done #%d", f.Number), Value: f.ID()})
			}
		}
	}
	return bot.Response{Message: bot.Message{Title: fmt.Sprintf("Follow-ups of %s: %d open of %d", inc.Key, open, len(fs)),
		Text: strings.TrimRight(b.String(), "\n"), Buttons: buttons}}, nil
}

func (s *Service) myFollowups(ctx context.Context, user, intro string) (bot.Response, error) {
	fs, err := s.followups.OpenByOwner(ctx, user)
	if err != nil {
		bot.Logger(ctx).Error("follow-ups not listed", zap.String("user", user), zap.Error(err))
		return bot.Response{}, errReadDown
	}
	if len(fs) == 0 {
		return bot.Reply(intro + "You own no open follow-ups. :tada:"), nil
	}
	var b strings.Builder
	b.WriteString(intro)
	var buttons []bot.Button
	for i, f := range fs {
		if i == followupsShown {
			fmt.Fprintf(&b, "_and %d more._\n", len(fs)-followupsShown)
			break
		}
		b.WriteString(s.followupListLine(&f, true) + "\n")
		if len(buttons) < 5 {
			buttons = append(buttons, bot.Button{ID: ActionFollowupDone, Text: fmt.Sprintf("Done %s #%d", f.Incident, f.Number), Value: f.ID()})
		}
	}
	return bot.Response{Message: bot.Message{Title: fmt.Sprintf("Your open follow-ups: %d", len(fs)),
		Text: strings.TrimRight(b.String(), "\n"), Buttons: buttons}}, nil
}

// followupListLine is one follow-up in a listing.
func (s *Service) followupListLine(f *bot.Followup, withIncident bool) string {
	var b strings.Builder
	if f.Drill {
		b.WriteString(drillBanner + " ")
	}
	if f.Open() {
		b.WriteString(":white_large_square: ")
	} else {
		b.WriteString(":white_check_mark: ")
	}
	if withIncident {
		fmt.Fprintf(&b, "*%s* ", f.Incident)
	}
	fmt.Fprintf(&b, "#%d %s", f.Number, oneLine(truncate(bot.Quote(f.Text), 200)))
	var parts []string
	if f.Owner != "" && !withIncident {
		parts = append(parts, "owner "+bot.MentionUser(f.Owner))
	} else if f.Owner == "" {
		parts = append(parts, "no owner")
	}
	if f.Due != "" {
		due := "due " + f.Due
		if f.Open() && s.clock.Now().After(f.DueAt.AddDate(0, 0, 1)) {
			due = "*overdue* since " + f.Due
		}
		parts = append(parts, due)
	}
	if f.Tracker.URL != "" {
		parts = append(parts, fmt.Sprintf("<%s|issue #%d>", f.Tracker.URL, f.Tracker.Number))
	}
	if !f.Open() {
		parts = append(parts, "done "+s.doneBy(f))
	}
	if len(parts) > 0 {
		b.WriteString(" — " + strings.Join(parts, ", "))
	}
	return b.String()
}

// FollowupsDue implements bot.DueFollowups for on-call handoffs: the open
// follow-ups due by t, earliest first.
func (s *Service) FollowupsDue(ctx context.Context, by time.Time) ([]bot.FollowupSummary, error) {
	if s.followups == nil {
		return nil, nil
	}
	fs, err := s.followups.OpenDueBy(ctx, by)
	if err != nil {
		return nil, fmt.Errorf("follow-ups due by %s: %w", by.Format(time.RFC3339), err)
	}
	out := make([]bot.FollowupSummary, 0, len(fs))
	for _, f := range fs {
		out = append(out, bot.FollowupSummary{Incident: f.Incident, Number: f.Number, Text: f.Text, Owner: f.Owner,
			Due: f.DueAt, URL: f.Tracker.URL})
	}
	return out, nil
}

var _ bot.DueFollowups = (*Service)(nil)
