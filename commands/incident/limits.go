package incident

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
)

// Limits bound what one person or one incident can make the bot do: the
// config file's `incidents.limits`. Counting is shared by every replica
// (Config.Limiter, in Redis).
type Limits struct {
	// Declarations is how many incidents one person may declare per
	// window; the zero Rate means DefaultDeclarations.
	Declarations Rate
	// TimelineEvents caps the notes, updates, follow-ups and pinned messages (and
	// their edits) one incident's timeline accepts. State changes (roles,
	// severity, status, resolution) are always recorded.
	TimelineEvents int
	// TextBytes caps one note, update, resolution, description or page
	// message, in bytes; a pinned message longer than that is recorded
	// cut, with its permalink.
	TextBytes int
}

// Rate is Count actions per Per; Off switches the limit off.
type Rate struct {
	Count int
	Per   time.Duration
	Off   bool
}

// Default limits.
var (
	DefaultDeclarations   = Rate{Count: 5, Per: 10 * time.Minute}
	DefaultTimelineEvents = 1000
	DefaultTextBytes      = 8 << 10
)

// withDefaults fills the zero values.
func (l Limits) withDefaults() Limits {
	if l.Declarations == (Rate{}) {
		l.Declarations = DefaultDeclarations
	}
	if l.TimelineEvents == 0 {
		l.TimelineEvents = DefaultTimelineEvents
	}
	if l.TextBytes == 0 {
		l.TextBytes = DefaultTextBytes
	}
	return l
}

// limitsYAML is the YAML form of Limits.
type limitsYAML struct {
	Declarations   yaml.Node            `yaml:"declarations"`
	TimelineEvents yaml.Node            `yaml:"timeline_events"`
	TextBytes      yaml.Node            `yaml:"text_bytes"`
	Unknown        map[string]yaml.Node `yaml:",inline"`
}

// UnmarshalYAML decodes `incidents.limits`:
//
//	limits:
//	  declarations: 5 per 10m     # per person; "off" for none
//	  timeline_events: 1000       # per incident
//	  text_bytes: 8192            # per note, update, resolution
//
// Errors carry the YAML line and the key.
func (l *Limits) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: incidents.limits: want a mapping of declarations, timeline_events and text_bytes", node.Line)
	}
	var raw limitsYAML
	if err := node.Decode(&raw); err != nil {
		return err
	}
	for k, v := range raw.Unknown {
		return fmt.Errorf("line %d: incidents.limits.%s: unknown key (want declarations, timeline_events or text_bytes)", v.Line, k)
	}
	out := Limits{}
	if n := raw.Declarations; n.Kind != 0 {
		r, err := parseRate(n.Value)
		if err != nil || n.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: incidents.limits.declarations: %q is not like \"5 per 10m\" or \"off\"", n.Line, n.Value)
		}
		out.Declarations = r
	}
	var err error
	if out.TimelineEvents, err = positiveInt(raw.TimelineEvents, "timeline_events", 10, 1_000_000); err != nil {
		return err
	}
	if out.TextBytes, err = positiveInt(raw.TextBytes, "text_bytes", 256, 1<<20); err != nil {
		return err
	}
	*l = out.withDefaults()
	return nil
}

// parseRate reads "5 per 10m" (or "5/10m"); "off", "none" and "0" switch
// the limit off.
func parseRate(s string) (Rate, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch s {
	case "off", "none", "0":
		return Rate{Off: true}, nil
	}
	count, per, ok := strings.Cut(s, " per ")
	if !ok {
		count, per, ok = strings.Cut(s, "/")
	}
	if !ok {
		return Rate{}, fmt.Errorf("no period")
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n <= 0 || n > 10_000 {
		return Rate{}, fmt.Errorf("bad count")
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d < time.Second || d > 7*24*time.Hour {
		return Rate{}, fmt.Errorf("bad period")
	}
	return Rate{Count: n, Per: d}, nil
}

func positiveInt(n yaml.Node, key string, lo, hi int) (int, error) {
	if n.Kind == 0 {
		return 0, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil || n.Kind != yaml.ScalarNode || v < lo || v > hi {
		return 0, fmt.Errorf("line %d: incidents.limits.%s: %q is not a whole number from %d to %d", n.Line, key, n.Value, lo, hi)
	}
	return v, nil
}

// allowDeclare counts a declaration by user against their rate. A limiter
// that cannot be reached lets the declaration through: the store it needs
// is then most likely down too, and says so.
func (s *Service) allowDeclare(ctx context.Context, user string) error {
	r := s.set.Limits.Declarations
	if s.limiter == nil || r.Off || r.Count <= 0 || user == "" || user == actorBot {
		return nil
	}
	ok, retry, err := s.limiter.Allow(ctx, "declare:"+user, r.Count, r.Per)
	if err != nil {
		bot.Logger(ctx).Warn("declaration rate not checked", zap.String("user", user), zap.Error(err))
		return nil
	}
	if !ok {
		bot.Logger(ctx).Warn("declaration refused: rate limit", zap.String("user", user))
		return bot.Userf("You have declared %d incidents in the last %s, the most one person may. "+
			"You can declare again in %s; meanwhile add to an open incident (`/incident list`) or ask a colleague.",
			r.Count, humanDuration(r.Per), humanDuration(retry.Round(time.Second)+time.Second))
	}
	return nil
}

// allowTimeline counts one person-written event (what: "note", "update",
// "pinned message") against the incident's cap. While the limiter cannot be
// reached the event is accepted: notes and updates keep working through a
// Redis outage, as the timeline's spool promises.
func (s *Service) allowTimeline(ctx context.Context, inc *bot.Incident, what string) error {
	n := s.set.Limits.TimelineEvents
	if s.limiter == nil || n <= 0 {
		return nil
	}
	ok, _, err := s.limiter.Allow(ctx, "timeline:"+inc.Key, n, 0)
	if err != nil {
		bot.Logger(ctx).Warn("timeline cap not checked", zap.String("incident", inc.Key), zap.Error(err))
		return nil
	}
	if !ok {
		bot.Logger(ctx).Warn("timeline event refused: cap reached", zap.String("incident", inc.Key), zap.String("what", what))
		return bot.Userf("The %s timeline is full (%d notes, updates, follow-ups and pinned messages), so this %s was not added. "+
			"State changes are still recorded; put longer material in a document and link it.", inc.Key, n, what)
	}
	return nil
}

// checkTextContent refuses text over the byte cap or carrying control
// characters other than line breaks and tabs.
func (s *Service) checkTextContent(text, what string) error {
	if n, max := len(text), s.set.Limits.TextBytes; max > 0 && n > max {
		return bot.Userf("That %s is %d bytes; keep it to %d (link a document for more).", what, n, max)
	}
	if bot.HasControl(text) {
		return bot.Userf("That %s contains control characters (such as ESC or NUL); remove them and try again.", what)
	}
	return nil
}

// capText cuts text captured from elsewhere (a pinned message) to the byte
// cap, at a rune boundary, marking the cut.
func (s *Service) capText(text string) string {
	max := s.set.Limits.TextBytes
	if max <= 0 || len(text) <= max {
		return text
	}
	const mark = " … (cut; see the message)"
	cut := max - len(mark)
	for cut > 0 && !utf8RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + mark
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
