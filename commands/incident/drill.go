package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/yamlconf"
)

// Drills rehearse the response: the whole flow runs (channel, roles,
// updates, runbooks, follow-ups, export), but nobody is paged or pulled in
// from on-call, nothing is broadcast unless the config says so, and the
// incident is left out of `/incident list` and of statistics. Everything
// the bot writes about a drill says so in its own words, not only through
// the channel name.
//
// The marking happens in two places so that no message path can forget it:
// the chat the service posts through (drillChat) marks every message posted
// in a drill's channel, and every message posted while handling a request
// about a drill (a DM, an ephemeral reply elsewhere); the wrapper around the
// handlers (drillAware) marks the response. Handlers only need to load the
// incident through the usual helpers, which flag the request.

// DrillSettings are `incidents.drills`.
type DrillSettings struct {
	// ChannelPrefix starts drill channel names (default "drill").
	ChannelPrefix string `yaml:"channel_prefix"`
	// Broadcast announces drills and their updates in the broadcast
	// channel, like real incidents (default false).
	Broadcast bool `yaml:"broadcast"`
}

// UnmarshalYAML decodes `incidents.drills` strictly.
func (d *DrillSettings) UnmarshalYAML(node *yaml.Node) error {
	type plain DrillSettings
	var raw plain
	if err := yamlconf.Decode(node, "incidents.drills", &raw); err != nil {
		return err
	}
	*d = DrillSettings(raw)
	if _, err := d.withDefaults(""); err != nil {
		return yamlconf.Errorf(yamlconf.Line(node, "channel_prefix"), "incidents.drills.channel_prefix", "%s",
			strings.TrimPrefix(err.Error(), "drills.channel_prefix "))
	}
	return nil
}

func (d DrillSettings) withDefaults(incidentPrefix string) (DrillSettings, error) {
	if d.ChannelPrefix == "" {
		d.ChannelPrefix = "drill"
	}
	if p := slugify(d.ChannelPrefix, 20); p != d.ChannelPrefix {
		return d, fmt.Errorf("drills.channel_prefix %q: use lower-case letters, digits and dashes", d.ChannelPrefix)
	}
	if d.ChannelPrefix == incidentPrefix {
		return d, fmt.Errorf("drills.channel_prefix %q is the incidents' own prefix: drills would look real", d.ChannelPrefix)
	}
	return d, nil
}

// The drill marks, in the bot's own words.
const (
	drillBanner = ":test_tube: DRILL"
	drillTopic  = "DRILL (not a real incident) | "
	// drillNote ends the summary of a drill.
	drillNote = "This is a drill: nobody is paged, and it is left out of statistics."
)

// drillFlag is carried in the context of one request or one piece of
// scheduled work and set once it is known to concern a drill.
type drillFlag struct{ on atomic.Bool }

type drillKey struct{}

// withDrillFlag gives ctx a fresh flag, unset.
func withDrillFlag(ctx context.Context) (context.Context, *drillFlag) {
	f := &drillFlag{}
	return context.WithValue(ctx, drillKey{}, f), f
}

// forIncident returns ctx flagged when inc is a drill: background work
// uses it before posting about an incident.
func forIncident(ctx context.Context, inc *bot.Incident) context.Context {
	if !inc.Drill {
		return ctx
	}
	ctx, f := withDrillFlag(ctx)
	f.on.Store(true)
	return ctx
}

// noteIncident flags the request in ctx when inc is a drill. The incident
// look-ups call it, so handlers need not.
func noteIncident(ctx context.Context, inc *bot.Incident) {
	if !inc.Drill {
		return
	}
	if f, ok := ctx.Value(drillKey{}).(*drillFlag); ok {
		f.on.Store(true)
	}
}

func flagged(ctx context.Context) bool {
	f, ok := ctx.Value(drillKey{}).(*drillFlag)
	return ok && f.on.Load()
}

// markMessage puts the drill banner on a message once.
func markMessage(m bot.Message) bot.Message {
	switch {
	case strings.HasPrefix(m.Title, drillBanner) || strings.HasPrefix(m.Text, drillBanner):
	case m.Title != "":
		m.Title = drillBanner + " · " + m.Title
	case m.Text != "" || m.Code != "" || len(m.Fields) > 0:
		m.Text = strings.TrimSpace(drillBanner + " — " + m.Text)
	}
	return m
}

func markTopic(t string) string {
	if strings.HasPrefix(t, drillTopic) {
		return t
	}
	return truncate(drillTopic+t, topicMax)
}

// drillAware wraps a handler so that its response, and a refusal it
// returns, are marked when the request turned out to concern a drill.
func drillAware(h bot.Handler) bot.Handler {
	return func(ctx context.Context, req *bot.Request) (bot.Response, error) {
		ctx, f := withDrillFlag(ctx)
		resp, err := h(ctx, req)
		if !f.on.Load() {
			return resp, err
		}
		var ue *bot.UserError
		if errors.As(err, &ue) && !strings.HasPrefix(ue.Msg, drillBanner) {
			return resp, &bot.UserError{Msg: drillBanner + " — " + ue.Msg}
		}
		resp.Message = markMessage(resp.Message)
		return resp, err
	}
}

// drillChannels remembers which channels are drills' channels.
type drillChannels struct{ m sync.Map }

func (d *drillChannels) note(inc *bot.Incident) {
	if inc.Drill && inc.Channel != "" {
		d.m.Store(inc.Channel, true)
	}
}

func (d *drillChannels) has(channel string) bool {
	_, ok := d.m.Load(channel)
	return ok
}

// drillChat marks what the service posts about drills.
type drillChat struct {
	bot.Chat
	channels *drillChannels
}

func (c drillChat) drill(ctx context.Context, channel string) bool {
	return flagged(ctx) || c.channels.has(channel)
}

func (c drillChat) Post(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	if c.drill(ctx, m.Channel) {
		m = markMessage(m)
	}
	return c.Chat.Post(ctx, m)
}

func (c drillChat) Update(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	if c.drill(ctx, ref.Channel) {
		m = markMessage(m)
	}
	return c.Chat.Update(ctx, ref, m)
}

func (c drillChat) PostEphemeral(ctx context.Context, user string, m bot.Message) error {
	if c.drill(ctx, m.Channel) {
		m = markMessage(m)
	}
	return c.Chat.PostEphemeral(ctx, user, m)
}

func (c drillChat) SetTopic(ctx context.Context, channel, topic string) error {
	if c.drill(ctx, channel) {
		topic = markTopic(topic)
	}
	return c.Chat.SetTopic(ctx, channel, topic)
}

func (c drillChat) SetPurpose(ctx context.Context, channel, purpose string) error {
	if c.drill(ctx, channel) {
		purpose = markTopic(purpose)
	}
	return c.Chat.SetPurpose(ctx, channel, purpose)
}

func (c drillChat) Upload(ctx context.Context, f bot.File) error {
	if c.drill(ctx, f.Channel) {
		f.Title = "DRILL " + f.Title
		if !strings.HasPrefix(f.Comment, drillBanner) {
			f.Comment = strings.TrimSpace(drillBanner + " — " + f.Comment)
		}
	}
	return c.Chat.Upload(ctx, f)
}

// MarkDrills wraps chat so that what another family posts in a drill's
// channel (runbook output, approvals) is marked as a drill too. The drill
// channels are those this service has seen; another family finds out about
// an incident channel through IncidentForChannel, which makes it seen.
func (s *Service) MarkDrills(chat bot.Chat) bot.Chat {
	return drillChat{Chat: chat, channels: s.drills}
}

// broadcasts says whether inc is announced in the broadcast channel.
func (s *Service) broadcasts(inc *bot.Incident) bool {
	return s.set.BroadcastChannel != "" && (!inc.Drill || s.set.Drills.Broadcast)
}

// channelPrefix is the channel name prefix for an incident or a drill.
func (s *Service) channelPrefix(drill bool) string {
	if drill {
		return s.set.Drills.ChannelPrefix
	}
	return s.set.ChannelPrefix
}

// cutDrillFlag removes a leading --drill (or --drill=true) from args.
func cutDrillFlag(args []string) ([]string, bool, error) {
	if len(args) == 0 {
		return args, false, nil
	}
	switch strings.ToLower(args[0]) {
	case "--drill", "—drill", "-drill", "--drill=true":
		return args[1:], true, nil
	}
	for _, a := range args[1:] {
		if strings.EqualFold(a, "--drill") {
			return nil, false, bot.Userf("Put `--drill` first: `/incident declare --drill [sev1..sev4] TITLE…`.")
		}
	}
	return args, false, nil
}

// pageInDrill answers /incident page in a drill: nobody is paged, and the
// timeline records what would have happened.
func (s *Service) pageInDrill(ctx context.Context, req *bot.Request, inc bot.Incident, a pageArgs) (bot.Response, error) {
	a, err := s.checkPage(a)
	if err != nil {
		return bot.Response{}, err
	}
	service, message := a.service, a.message
	ev := bot.TimelineEvent{Type: bot.TLPage, Actor: req.UserID, Text: bot.CleanText(message),
		Details: map[string]string{"service": service, "simulated": "true"}}
	if err := s.record(ctx, &inc, ev); err != nil {
		return bot.Response{}, err
	}
	return bot.Say(fmt.Sprintf("%s — nobody was paged: %s is a drill. In a real incident %s would have paged "+
		"the on-call of *%s* through PagerDuty; the drill's timeline records the page as simulated.",
		drillBanner, inc.Key, bot.MentionUser(req.UserID), service)), nil
}
