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

// Limits on what people type.
const (
	// TitleMax is the longest title accepted; longer ones make unreadable
	// channel topics and announcements.
	TitleMax = 150
	// DescriptionMax bounds the modal's description.
	DescriptionMax = 3000
	// channelNameMax is Slack's limit.
	channelNameMax = 80
	// nameAttempts bounds the suffixes tried when a channel name is taken.
	nameAttempts = 10
)

// declaration is what is needed to declare an incident, from either the
// command or the modal.
type declaration struct {
	Title       string
	Description string
	Severity    bot.Severity
	By          string
	// DedupeKey identifies the user's action; a redelivery carries the same.
	DedupeKey string
	// ReplyChannel is where the declarer was, for the confirmation.
	ReplyChannel string
	// Drill rehearses: see drill.go.
	Drill bool
	// DetectedAt and AlertGroups link an incident declared from alerts
	// (see DeclareLinked).
	DetectedAt  time.Time
	AlertGroups []string
}

func (s *Service) cmdDeclare(ctx context.Context, req *bot.Request, a declareArgs) (bot.Response, error) {
	if err := s.allowDeclare(ctx, req.UserID); err != nil {
		return bot.Response{}, err
	}
	inc, created, err := s.declare(ctx, declaration{Title: a.title, Severity: a.sev, By: req.UserID,
		DedupeKey: dedupeKey(req), ReplyChannel: req.ChannelID, Drill: a.drill})
	if err != nil {
		return bot.Response{}, err
	}
	return declaredReply(inc, created), nil
}

func declaredReply(inc bot.Incident, created bool) bot.Response {
	if !created {
		if inc.Channel == "" {
			return bot.Reply(fmt.Sprintf("%s is already being declared from this request.", inc.Key))
		}
		return bot.Reply(fmt.Sprintf("%s was already declared from this request: %s.", inc.Key, bot.MentionChannel(inc.Channel)))
	}
	return bot.Reply(fmt.Sprintf("Declared %s (%s): %s. You are the commander; hand over with `/incident commander @someone`.",
		inc.Key, inc.Severity, bot.MentionChannel(inc.Channel)))
}

// looksLikeSeverity catches "sev5" and "sev0" so they are refused rather
// than becoming the first word of the title.
func looksLikeSeverity(w string) bool { return sevLike.MatchString(w) }

var sevLike = regexp.MustCompile(`(?i)^sev-?[0-9]+$`)

// checkTitle returns a user error for an empty or over-long title, and for
// one that is not a single line of text: a title goes into topics, file
// names and headings, where a line break or an escape sequence would forge
// structure.
func checkTitle(title string) error {
	switch n := utf8.RuneCountInString(strings.TrimSpace(title)); {
	case n == 0:
		return bot.Userf("Please give the incident a title.")
	case n > TitleMax:
		return bot.Userf("That title is %d characters; keep it to %d.", n, TitleMax)
	}
	if strings.ContainsAny(title, "\r\n") || bot.HasControl(title) {
		return bot.Userf("A title is one line of text, without line breaks or control characters.")
	}
	return nil
}

// dedupeKey identifies the user's action: Slack's trigger for commands and
// modals, the envelope otherwise. Console requests carry neither and get a
// fresh key, so each line declares.
func dedupeKey(req *bot.Request) string {
	switch {
	case req.DedupeKey != "":
		return req.DedupeKey
	case req.TriggerID != "":
		return "trigger:" + req.TriggerID
	case req.EnvelopeID != "":
		return "envelope:" + req.EnvelopeID
	}
	return ""
}

// declare creates the incident, its channel and its messages. The Slack work
// runs in three rounds of concurrent calls: the channel (while the
// responders and on-call are looked up), then invite, topic, purpose,
// summary and announcement, then the pin of the summary.
func (s *Service) declare(ctx context.Context, d declaration) (bot.Incident, bool, error) {
	now := s.clock.Now().UTC()
	if d.DedupeKey == "" {
		d.DedupeKey = "declare:" + s.ids.New().String()
	}
	inc, created, err := s.store.Create(ctx, d.DedupeKey, bot.Incident{
		// Stored as written (Slack-escaped); every message that repeats it
		// quotes it (quote.go). A title is one line whatever the caller.
		Title: bot.OneLine(d.Title), Description: bot.CleanText(strings.TrimSpace(d.Description)),
		Severity: d.Severity, Status: bot.StatusInvestigating, Commander: d.By, DeclaredBy: d.By,
		DeclaredAt: now, LastUpdateAt: now, Roles: map[bot.Role]string{}, Drill: d.Drill,
		DetectedAt: d.DetectedAt.UTC(), AlertGroups: d.AlertGroups,
	})
	if err != nil {
		bot.Logger(ctx).Error("incident not created", zap.Error(err))
		return bot.Incident{}, false, bot.Userf("I can't reach the incident store right now, so no incident was declared. Please try again in a minute.")
	}
	noteIncident(ctx, &inc)
	if !created {
		return inc, false, nil
	}
	ctx = forIncident(ctx, &inc)
	log := bot.Logger(ctx).With(zap.String("incident", inc.Key))
	unlock := s.locks.lock(inc.Key)
	defer unlock()

	// Round 1: the channel; meanwhile, who to invite.
	var (
		ch      bot.ChannelInfo
		invite  []string
		inviteM = map[string]bool{}
	)
	add := func(users ...string) {
		for _, u := range users {
			if u != "" && !inviteM[u] {
				inviteM[u] = true
				invite = append(invite, u)
			}
		}
	}
	add(d.By)
	add(s.set.Responders.Users...)
	groups := make([][]string, len(s.set.Responders.Usergroups))
	var onCall []string
	fns := []func(context.Context) error{
		func(ctx context.Context) error {
			var err error
			ch, err = s.createChannel(ctx, s.channelPrefix(inc.Drill), inc.Number, inc.Title)
			return err
		},
	}
	for i, g := range s.set.Responders.Usergroups {
		fns = append(fns, func(ctx context.Context) error {
			m, err := s.chat.UsergroupMembers(ctx, g)
			if err != nil {
				log.Warn("responder group not resolved", zap.String("usergroup", g), zap.Error(err))
				return nil
			}
			groups[i] = m
			return nil
		})
	}
	// A drill pulls nobody in: the on-call is not part of the rehearsal.
	if s.oncall != nil && s.pullsOnCall(inc.Severity) && !inc.Drill {
		fns = append(fns, func(ctx context.Context) error {
			var err error
			if onCall, err = s.oncall.CurrentOnCall(ctx); err != nil {
				log.Warn("on-call not resolved", zap.Error(err))
			}
			return nil
		})
	}
	if err := parallel(ctx, fns...); err != nil {
		// Close the record so the number does not linger as an open
		// incident without a channel (in lists and reminders).
		log.Error("incident channel not created", zap.Error(err))
		if _, uerr := s.store.Update(ctx, inc.Key, func(i *bot.Incident) error {
			i.Status, i.ResolvedAt, i.MitigatedAt = bot.StatusResolved, now, now
			i.Resolution = "Declaration failed: the incident channel could not be created."
			return nil
		}); uerr != nil {
			log.Error("failed declaration not closed", zap.Error(uerr))
		}
		return bot.Incident{}, false, bot.Userf("I couldn't create the incident channel, so %s was not opened. "+
			"Please try again; if it keeps failing, check the bot's channel permissions.", inc.Key)
	}
	for _, g := range groups {
		add(g...)
	}
	add(onCall...)
	inc.Channel, inc.ChannelName = ch.ID, ch.Name
	s.drills.note(&inc)

	// Round 2 (and the pin, round 3): everything that needs the channel.
	var summary, announce bot.MessageRef
	// The channel is indexed before anyone is invited, so that the first
	// command typed in it already finds the incident. This is a Redis
	// write, not a Slack round trip.
	if _, err := s.store.Update(ctx, inc.Key, func(i *bot.Incident) error {
		i.Channel, i.ChannelName = ch.ID, ch.Name
		return nil
	}); err != nil {
		log.Error("incident channel not indexed", zap.Error(err), zap.String("channel", ch.ID))
	}
	fns = []func(context.Context) error{
		func(ctx context.Context) error { return s.chat.Invite(ctx, ch.ID, invite...) },
		func(ctx context.Context) error { return s.chat.SetTopic(ctx, ch.ID, s.topic(&inc)) },
		func(ctx context.Context) error { return s.chat.SetPurpose(ctx, ch.ID, s.purpose(&inc)) },
		func(ctx context.Context) error {
			ref, err := s.chat.Post(ctx, s.summaryMessage(&inc))
			if err != nil {
				return fmt.Errorf("post summary: %w", err)
			}
			summary = ref
			if err := s.chat.Pin(ctx, ref); err != nil {
				return fmt.Errorf("pin summary: %w", err)
			}
			return nil
		},
		func(ctx context.Context) error {
			return s.record(ctx, &inc, bot.TimelineEvent{Type: bot.TLDeclared, Actor: d.By, Time: now,
				Text: inc.Title, Details: map[string]string{"severity": string(inc.Severity),
					"status": string(inc.Status), "channel": ch.ID, "channel_name": ch.Name,
					"description": inc.Description}})
		},
	}
	if s.broadcasts(&inc) {
		fns = append(fns, func(ctx context.Context) error {
			ref, err := s.chat.Post(ctx, s.announcement(&inc))
			if err != nil {
				return fmt.Errorf("announce in %s: %w", s.set.BroadcastChannel, err)
			}
			announce = ref
			return nil
		})
	}
	if err := parallel(ctx, fns...); err != nil {
		// The incident exists and has its channel; what failed is display.
		log.Warn("incident declared with errors", zap.Error(err))
	}
	// The commander's tenure starts at the declaration, in its own event so
	// that the export's role history needs no special case. An incident
	// opsbot declared by itself has no commander until someone takes
	// command.
	if d.By != "" {
		if err := s.record(ctx, &inc, bot.TimelineEvent{Type: bot.TLRoleAssigned, Actor: d.By, Time: now,
			Details: map[string]string{"role": string(bot.RoleCommander), "user": d.By}}); err != nil {
			log.Error("commander assignment not recorded", zap.Error(err))
		}
	}
	stored, err := s.store.Update(ctx, inc.Key, func(i *bot.Incident) error {
		i.Channel, i.ChannelName = ch.ID, ch.Name
		if summary.TS != "" {
			i.SummaryRef = summary
		}
		if announce.TS != "" {
			i.AnnouncementRef = announce
		}
		return nil
	})
	if err != nil {
		log.Error("incident message refs not stored", zap.Error(err))
		inc.SummaryRef, inc.AnnouncementRef = summary, announce
		stored = inc
	}
	s.remember(stored)
	s.metrics.incidentDeclared(&stored)
	log.Info("incident declared", zap.String("channel", ch.ID), zap.String("severity", string(inc.Severity)))
	return stored, true, nil
}

// createChannel creates inc-N-slug, trying suffixes when the name is taken
// and the bare inc-N when Slack finds the name invalid.
func (s *Service) createChannel(ctx context.Context, prefix string, number int64, title string) (bot.ChannelInfo, error) {
	base := channelName(prefix, number, title)
	name := base
	for attempt := 1; attempt <= nameAttempts; attempt++ {
		ch, err := s.chat.CreateChannel(ctx, name)
		switch {
		case err == nil:
			return ch, nil
		case errors.Is(err, bot.ErrNameTaken):
			name = withSuffix(base, attempt+1)
		case errors.Is(err, bot.ErrInvalidName):
			fallback := prefix + "-" + strconv.FormatInt(number, 10)
			if base == fallback {
				return bot.ChannelInfo{}, fmt.Errorf("create channel %q: %w", name, err)
			}
			base, name = fallback, fallback
		default:
			return bot.ChannelInfo{}, fmt.Errorf("create channel %q: %w", name, err)
		}
	}
	return bot.ChannelInfo{}, fmt.Errorf("create channel %q: still taken after %d attempts", base, nameAttempts)
}

// channelName is prefix-N-slug, at most 80 characters of [a-z0-9-].
func channelName(prefix string, number int64, title string) string {
	head := prefix + "-" + strconv.FormatInt(number, 10)
	// Leave room for a clash suffix ("-10") so it never cuts the number.
	slug := slugify(unescapeSlack(title), channelNameMax-len(head)-1-3)
	if slug == "" {
		return head
	}
	return head + "-" + slug
}

// slackMarkup is Slack's markup in escaped command text: <@U1|name>,
// <#C1|name>, <!subteam^S1|@name>, <!here>, <https://…|label>.
var slackMarkup = regexp.MustCompile(`<[^<>]*>`)

// unescapeSlack turns command text as Slack delivers it into what the person
// typed: a mention into its label, a link into its label or URL, and the
// &amp; &lt; &gt; that Slack escapes back into characters. Otherwise
// "DB & cache > 5s" would name a channel db-amp-cache-gt-5s, and "@bob"
// would put his user ID in it.
func unescapeSlack(s string) string {
	s = slackMarkup.ReplaceAllStringFunc(s, func(m string) string {
		inner := m[1 : len(m)-1]
		if _, label, ok := strings.Cut(inner, "|"); ok && label != "" {
			return label
		}
		switch {
		case strings.HasPrefix(inner, "@"), strings.HasPrefix(inner, "#"), strings.HasPrefix(inner, "!subteam^"):
			return "" // an ID says nothing to a reader
		case strings.HasPrefix(inner, "!"):
			return inner[1:] // !here, !channel
		}
		return inner
	})
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// withSuffix appends -n to a channel name, shortening it to stay in bounds.
func withSuffix(name string, n int) string {
	suf := "-" + strconv.Itoa(n)
	if len(name)+len(suf) > channelNameMax {
		name = strings.TrimRight(name[:channelNameMax-len(suf)], "-")
	}
	return name + suf
}

// slugify lower-cases s, keeps a-z and 0-9, turns every other run into one
// dash, and cuts at max bytes on a word boundary where it can.
func slugify(s string, max int) string {
	if max <= 0 {
		return ""
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
		if i := strings.LastIndexByte(out, '-'); i > max/2 {
			out = out[:i]
		}
		out = strings.Trim(out, "-")
	}
	return out
}

func (s *Service) pullsOnCall(sev bot.Severity) bool {
	for _, v := range s.set.OnCallFor {
		if v == sev {
			return true
		}
	}
	return false
}
