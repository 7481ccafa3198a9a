package incident

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/template"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

//go:embed export.md.tmpl
var defaultTemplate string

// Export formats.
const (
	FormatMarkdown = "md"
	FormatJSON     = "json"
)

// Document is the post-mortem record of one incident: what the JSON export
// contains and what the Markdown template is executed with.
type Document struct {
	Incident bot.Incident `json:"incident"`
	// GeneratedAt is when the export was made (UTC).
	GeneratedAt time.Time `json:"generated_at"`
	// Timezone names the zone the Markdown shows times in.
	Timezone        string              `json:"timezone"`
	Metrics         Metrics             `json:"metrics"`
	SeverityHistory []SeverityPeriod    `json:"severity_history"`
	StatusHistory   []StatusPeriod      `json:"status_history"`
	Roles           []Tenure            `json:"roles"`
	Runbooks        []RunbookRun        `json:"runbooks"`
	Pages           []bot.TimelineEvent `json:"pages"`
	// Alerts are the alerts of linked alert groups, from the timeline.
	Alerts       []AlertRecord `json:"alerts"`
	Participants []Person      `json:"participants"`
	// Followups are the incident's follow-ups: the action items.
	Followups []bot.Followup `json:"followups"`
	// Events is the whole timeline, ordered by time (a pinned message sits
	// at its own time, not the time of the pin).
	Events []bot.TimelineEvent `json:"events"`

	names map[string]string
	tz    *time.Location
	// later maps a captured message (channel/ts) to what happened to it
	// after the capture.
	later map[string]string
	// Entries are the events rendered for Markdown, built once in Go: the
	// timeline is the bulk of a long incident's document.
	Entries []Entry `json:"-"`
}

// Entry is one timeline event ready for the Markdown template.
type Entry struct {
	Event bot.TimelineEvent
	// When is the event's time with full date in the export's zone.
	When string
	// Line describes the event, people by name, Markdown-escaped.
	Line string
	// Later says what happened to a captured message afterwards.
	Later string
	// Link is a Markdown link to the message, for captured messages whose
	// permalink is an http(s) URL.
	Link string
	// Text is the whole list item: when, line, later and link.
	Text string
}

// buildEntries renders every event once.
func (d *Document) buildEntries() {
	d.Entries = make([]Entry, len(d.Events))
	var b strings.Builder
	for i, ev := range d.Events {
		e := Entry{Event: ev, When: d.Time(ev.Time), Line: d.Line(ev), Later: d.Superseded(ev), Link: mdLink("message", ev.Details["permalink"])}
		b.Reset()
		b.WriteString("**")
		b.WriteString(e.When)
		b.WriteString("** ")
		b.WriteString(e.Line)
		if e.Later != "" {
			b.WriteString(" _(later ")
			b.WriteString(e.Later)
			b.WriteString(")_")
		}
		if e.Link != "" {
			b.WriteString(" (")
			b.WriteString(e.Link)
			b.WriteString(")")
		}
		e.Text = b.String()
		d.Entries[i] = e
	}
}

// Metrics are the incident's milestones and the durations between them.
// Durations are in seconds from the declaration; absent when not reached.
type Metrics struct {
	DeclaredAt         time.Time    `json:"declared_at"`
	DetectedAt         time.Time    `json:"detected_at,omitzero"`
	AcknowledgedAt     time.Time    `json:"acknowledged_at,omitzero"`
	TimeToDetectSec    *int64       `json:"time_to_detect_seconds,omitempty"`
	TimeToAckSec       *int64       `json:"time_to_acknowledge_seconds,omitempty"`
	FirstCommanderAt   time.Time    `json:"first_commander_at,omitzero"`
	MitigatedAt        time.Time    `json:"mitigated_at,omitzero"`
	ResolvedAt         time.Time    `json:"resolved_at,omitzero"`
	TimeToCommanderSec *int64       `json:"time_to_commander_seconds,omitempty"`
	TimeToMitigateSec  *int64       `json:"time_to_mitigate_seconds,omitempty"`
	TimeToResolveSec   *int64       `json:"time_to_resolve_seconds,omitempty"`
	UpdatesPosted      int          `json:"updates_posted"`
	PinnedMessages     int          `json:"pinned_messages"`
	HighestSeverity    bot.Severity `json:"highest_severity"`
}

// SeverityPeriod is a stretch of time at one severity; To is zero while it
// lasts.
type SeverityPeriod struct {
	Severity bot.Severity `json:"severity"`
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to,omitzero"`
	By       string       `json:"by"`
}

// StatusPeriod is a stretch of time at one status.
type StatusPeriod struct {
	Status bot.Status `json:"status"`
	From   time.Time  `json:"from"`
	To     time.Time  `json:"to,omitzero"`
	By     string     `json:"by"`
}

// Tenure is who held a role when; To is zero while they still hold it.
type Tenure struct {
	Role bot.Role  `json:"role"`
	User string    `json:"user"`
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"`
}

// RunbookRun is a runbook event of the timeline, with its outcome.
type RunbookRun struct {
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Name    string            `json:"name"`
	Outcome string            `json:"outcome"`
	Details map[string]string `json:"details,omitempty"`
}

// AlertRecord is one alert of a linked alert group: when it fired and
// resolved (zero while it fires). Name and Labels are Slack-escaped, as the
// timeline stores them.
type AlertRecord struct {
	Group       string    `json:"group"`
	Fingerprint string    `json:"fingerprint"`
	Name        string    `json:"name"`
	Summary     string    `json:"summary,omitempty"`
	Labels      string    `json:"labels,omitempty"`
	FiredAt     time.Time `json:"fired_at,omitzero"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
}

// Person is a participant: anyone who acted, held a role or was quoted.
type Person struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Export renders an incident's post-mortem as Markdown ("md") or JSON
// ("json"). opsbot export and /incident export use it.
func (s *Service) Export(ctx context.Context, key string, format string) ([]byte, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	if format == "" || format == "markdown" {
		format = FormatMarkdown
	}
	if format != FormatMarkdown && format != FormatJSON {
		return nil, bot.Userf("Unknown format `%s`: use md or json.", bot.Quote(format))
	}
	k, err := bot.ParseIncidentKey(key)
	if err != nil {
		return nil, bot.Userf("%q is not an incident key like INC-42.", key)
	}
	doc, err := s.Document(ctx, k)
	if err != nil {
		if isNotFound(err) {
			return nil, bot.Userf("There is no incident %s.", k)
		}
		return nil, fmt.Errorf("export: %w", err)
	}
	if format == FormatMarkdown {
		doc.buildEntries()
	}
	return s.render(doc, format)
}

// Document reads incident key and its timeline and builds the post-mortem
// record, people named: what the exports and the web pages are made of, so
// that they cannot disagree. An unknown key is bot.ErrIncidentNotFound.
func (s *Service) Document(ctx context.Context, key string) (*Document, error) {
	k, err := bot.ParseIncidentKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", bot.ErrIncidentNotFound, err)
	}
	inc, err := s.store.Get(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", k, err)
	}
	events, err := s.timeline.Events(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("read %s timeline: %w", k, err)
	}
	inc, events = cleanRecord(inc, events)
	doc := s.buildDocument(inc, events)
	if s.followups != nil {
		fs, err := s.followups.ForIncident(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("export %s: read follow-ups: %w", k, err)
		}
		doc.Followups = fs
	}
	ids := doc.userIDs()
	doc.names = s.resolveNames(ctx, ids)
	doc.Participants = doc.participants(ids)
	return &doc, nil
}

func (s *Service) render(doc *Document, format string) ([]byte, error) {
	if format == FormatJSON {
		out, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", doc.Incident.Key, err)
		}
		return append(out, '\n'), nil
	}
	var buf bytes.Buffer
	buf.Grow(256 * (len(doc.Events) + 10))
	if err := s.mdTmpl.Execute(&buf, doc); err != nil {
		return nil, fmt.Errorf("render %s post-mortem: %w", doc.Incident.Key, err)
	}
	return buf.Bytes(), nil
}

// buildDocument derives histories, tenures and metrics from the timeline.
func (s *Service) buildDocument(inc bot.Incident, events []bot.TimelineEvent) Document {
	evs := make([]bot.TimelineEvent, len(events))
	copy(evs, events)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	doc := Document{Incident: inc, GeneratedAt: s.clock.Now().UTC(), Timezone: s.set.Timezone.String(),
		Events: evs, tz: s.set.Timezone, Runbooks: []RunbookRun{}, Pages: []bot.TimelineEvent{}, Alerts: []AlertRecord{}}
	m := &doc.Metrics
	m.DeclaredAt, m.MitigatedAt, m.ResolvedAt = inc.DeclaredAt, inc.MitigatedAt, inc.ResolvedAt
	alerts := map[string]int{} // group/fingerprint/fired -> index in doc.Alerts
	m.HighestSeverity = inc.Severity
	open := map[bot.Role]int{} // role -> index of the current tenure
	for _, ev := range evs {
		d := ev.Details
		switch ev.Type {
		case bot.TLDeclared:
			sev := bot.Severity(d["severity"])
			doc.SeverityHistory = append(doc.SeverityHistory, SeverityPeriod{Severity: sev, From: ev.Time, By: ev.Actor})
			doc.StatusHistory = append(doc.StatusHistory, StatusPeriod{Status: bot.Status(firstNonEmpty(d["status"],
				string(bot.StatusInvestigating))), From: ev.Time, By: ev.Actor})
		case bot.TLSeverityChanged:
			if n := len(doc.SeverityHistory); n > 0 {
				doc.SeverityHistory[n-1].To = ev.Time
			}
			doc.SeverityHistory = append(doc.SeverityHistory, SeverityPeriod{Severity: bot.Severity(d["to"]), From: ev.Time, By: ev.Actor})
		case bot.TLStatusChanged:
			if n := len(doc.StatusHistory); n > 0 {
				doc.StatusHistory[n-1].To = ev.Time
			}
			doc.StatusHistory = append(doc.StatusHistory, StatusPeriod{Status: bot.Status(d["to"]), From: ev.Time, By: ev.Actor})
			if d["to"] == string(bot.StatusMonitoring) && m.MitigatedAt.IsZero() {
				m.MitigatedAt = ev.Time
			}
		case bot.TLResolved:
			if n := len(doc.StatusHistory); n > 0 {
				doc.StatusHistory[n-1].To = ev.Time
			}
			doc.StatusHistory = append(doc.StatusHistory, StatusPeriod{Status: bot.StatusResolved, From: ev.Time, By: ev.Actor})
			if n := len(doc.SeverityHistory); n > 0 {
				doc.SeverityHistory[n-1].To = ev.Time
			}
			for _, i := range open {
				doc.Roles[i].To = ev.Time
			}
			open = map[bot.Role]int{}
			if m.ResolvedAt.IsZero() {
				m.ResolvedAt = ev.Time
			}
		case bot.TLRoleAssigned:
			role := bot.Role(d["role"])
			if i, ok := open[role]; ok {
				doc.Roles[i].To = ev.Time
			}
			doc.Roles = append(doc.Roles, Tenure{Role: role, User: d["user"], From: ev.Time})
			open[role] = len(doc.Roles) - 1
			if role == bot.RoleCommander && m.FirstCommanderAt.IsZero() {
				m.FirstCommanderAt = ev.Time
			}
		case bot.TLUpdate:
			m.UpdatesPosted++
		case bot.TLPinned:
			m.PinnedMessages++
		case bot.TLRunbook:
			if !isRunOutcome(d) {
				break
			}
			o := outcome(ev, renderer{who: func(id string) string { return id }, text: bot.UnescapeText, raw: identity,
				link: func(string, string) string { return "" }})
			if d["event"] != "" {
				o = runbookOutcome(d)
			}
			doc.Runbooks = append(doc.Runbooks, RunbookRun{Time: ev.Time, Actor: ev.Actor,
				Name: firstNonEmpty(d["runbook"], d["name"], ev.Text), Outcome: o, Details: d})
		case bot.TLPage:
			doc.Pages = append(doc.Pages, ev)
		case bot.TLAlertFiring, bot.TLAlertResolved:
			doc.addAlert(alerts, ev)
		}
	}
	for _, p := range doc.SeverityHistory {
		if p.Severity.Valid() && p.Severity.Rank() < m.HighestSeverity.Rank() {
			m.HighestSeverity = p.Severity
		}
	}
	since := func(t time.Time) *int64 {
		if t.IsZero() || inc.DeclaredAt.IsZero() {
			return nil
		}
		v := int64(t.Sub(inc.DeclaredAt).Round(time.Second) / time.Second)
		return &v
	}
	m.TimeToCommanderSec, m.TimeToMitigateSec, m.TimeToResolveSec = since(m.FirstCommanderAt), since(m.MitigatedAt), since(m.ResolvedAt)
	m.DetectedAt, m.AcknowledgedAt = inc.DetectedAt, inc.AcknowledgedAt
	m.TimeToAckSec = since(m.AcknowledgedAt)
	if !inc.DetectedAt.IsZero() && !inc.DetectedAt.After(inc.DeclaredAt) {
		v := int64(inc.DeclaredAt.Sub(inc.DetectedAt).Round(time.Second) / time.Second)
		m.TimeToDetectSec = &v
	}
	doc.Followups = []bot.Followup{}
	return doc
}

// addAlert folds an alert event into the list of alerts: a firing and its
// resolution (same group, fingerprint and start) are one entry.
func (d *Document) addAlert(index map[string]int, ev bot.TimelineEvent) {
	dt := ev.Details
	fired := dt["starts_at"]
	if ev.Type == bot.TLAlertFiring {
		fired = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	k := dt["group"] + "/" + dt["fingerprint"] + "/" + fired
	i, ok := index[k]
	if !ok {
		d.Alerts = append(d.Alerts, AlertRecord{Group: dt["group"], Fingerprint: dt["fingerprint"],
			Name: dt["alertname"], Summary: ev.Text, Labels: dt["labels"]})
		i = len(d.Alerts) - 1
		index[k] = i
	}
	a := &d.Alerts[i]
	if ev.Type == bot.TLAlertFiring {
		a.FiredAt = ev.Time
	} else {
		a.ResolvedAt = ev.Time
		if a.FiredAt.IsZero() {
			a.FiredAt, _ = time.Parse(time.RFC3339Nano, fired)
		}
	}
}

// userIDs are the people the document mentions.
func (d *Document) userIDs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(id string) {
		if id != "" && id != actorBot && !seen[id] && bot.IsUserID(id) {
			seen[id] = true
			out = append(out, id)
		}
	}
	add(d.Incident.DeclaredBy)
	add(d.Incident.Commander)
	for _, f := range d.Followups {
		add(f.Owner)
	}
	for _, ev := range d.Events {
		add(ev.Actor)
		add(ev.Details["user"])
		add(ev.Details["pinned_by"])
		add(ev.Details["approver"])
		eachMention(ev.Text, add)
	}
	return out
}

func (d *Document) participants(ids []string) []Person {
	out := make([]Person, 0, len(ids))
	for _, id := range ids {
		out = append(out, Person{ID: id, Name: d.name(id)})
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

func (d *Document) name(id string) string {
	if n := d.names[id]; n != "" {
		return n
	}
	return id
}

// resolveNames looks people up for display, a few at a time, within a
// deadline; anyone not found is shown by ID.
func (s *Service) resolveNames(ctx context.Context, ids []string) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	names := make(map[string]string, len(ids))
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			// The engine recovers the handler's goroutine, not this one; a
			// name that fails is shown by ID.
			defer func() {
				if p := recover(); p != nil {
					s.log.Error("name look-up for export panicked", zap.String("user", id), zap.Any("panic", p))
				}
			}()
			u, err := s.chat.User(ctx, id)
			if err != nil {
				s.log.Debug("name not resolved for export", zap.String("user", id), zap.Error(err))
				return
			}
			// Display names are whatever people chose: one line, no
			// control characters, escaped wherever they are shown.
			n := bot.OneLine(firstNonEmpty(u.RealName, u.Name))
			if n == "" {
				return
			}
			mu.Lock()
			names[id] = n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return names
}

var mentionRe = regexp.MustCompile(`<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>`)

// loadTemplate parses the Markdown template: the embedded default, or the
// override (inline text when it contains "{{", else a file path).
func loadTemplate(override string) (*template.Template, error) {
	text := defaultTemplate
	name := "export.md.tmpl"
	if override != "" {
		if strings.Contains(override, "{{") {
			text, name = override, "export_template"
		} else {
			b, err := os.ReadFile(override)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", override, err)
			}
			text, name = string(b), override
		}
	}
	t, err := template.New(name).Funcs(templateFuncs()).Parse(text)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Template functions. Those that need the document's zone or names are
// methods on Document, so the template calls them as .Time, .Who, .Line.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"duration": func(d time.Duration) string { return humanDuration(d) },
		"since": func(from, to time.Time) string {
			if from.IsZero() || to.IsZero() {
				return "—"
			}
			return humanDuration(to.Sub(from))
		},
		"upper":   strings.ToUpper,
		"title":   titleCase,
		"oneline": oneLine,
		// md shows a raw value (a name, a runbook, a service) as text;
		// mdtext and mdblock show text people wrote in Slack as one line
		// or as paragraphs; link makes a Markdown link of an http(s) URL
		// and nothing of anything else. Every value a template shows
		// goes through one of them.
		"md":      func(v any) string { return mdInline(fmt.Sprint(v)) },
		"mdtext":  func(v any) string { return mdText(fmt.Sprint(v)) },
		"mdblock": func(v any) string { return mdTextBlock(fmt.Sprint(v)) },
		"link":    mdLink,
	}
}

func identity(s string) string { return s }

// cleanRecord drops control characters from everything an export shows, in
// both formats: text people wrote, details other families recorded, and
// anything stored before intake refused such characters.
func cleanRecord(inc bot.Incident, events []bot.TimelineEvent) (bot.Incident, []bot.TimelineEvent) {
	inc.Title = bot.OneLine(inc.Title)
	inc.Description = bot.CleanText(inc.Description)
	inc.Resolution = bot.CleanText(inc.Resolution)
	inc.LastUpdate = bot.CleanText(inc.LastUpdate)
	inc.ChannelName = bot.OneLine(inc.ChannelName)
	out := make([]bot.TimelineEvent, len(events))
	for i, ev := range events {
		ev.Text = bot.CleanText(ev.Text)
		if len(ev.Details) > 0 {
			d := make(map[string]string, len(ev.Details))
			for k, v := range ev.Details {
				d[bot.OneLine(k)] = bot.CleanText(v)
			}
			ev.Details = d
		}
		out[i] = ev
	}
	return inc, out
}

// Time formats t with full date in the export's zone.
func (d *Document) Time(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(d.tz).Format("2006-01-02 15:04:05 MST")
}

// Who renders a user ID as "@Name" (or the ID when the name is unknown),
// Markdown-escaped, for the template.
func (d *Document) Who(id string) string { return mdInline(d.who(id)) }

// who is Who before escaping.
func (d *Document) who(id string) string {
	if id == "" {
		return "—"
	}
	if id == actorBot {
		return "opsbot"
	}
	if n, ok := d.names[id]; ok && n != "" {
		return "@" + n
	}
	return id
}

// plain renders events for the export: people by name, text people wrote
// as plain text (mentions by name, masked links with their target), raw
// values as they are; the line is escaped for Markdown afterwards.
func (d *Document) plain() renderer {
	return renderer{
		who: d.who,
		text: func(s string) string {
			return bot.UnescapeText(replaceMentions(s, func(id string) string { return bot.EscapeText(d.who(id)) }))
		},
		raw:  identity,
		link: func(string, string) string { return "" },
	}
}

// Line describes one event in a sentence, people by name, Markdown-escaped.
func (d *Document) Line(ev bot.TimelineEvent) string {
	return mdInline(describe(ev, d.plain(), false))
}

// Superseded says what later happened to a pinned message: edited, deleted
// or unpinned, with when.
func (d *Document) Superseded(ev bot.TimelineEvent) string {
	if ev.Type != bot.TLPinned {
		return ""
	}
	if d.later == nil {
		d.indexLater()
	}
	return d.later[ev.Details["channel"]+"/"+ev.Details["ts"]]
}

// RunOutcome describes a runbook run's result, people by name.
func (d *Document) RunOutcome(r RunbookRun) string { return mdInline(d.Outcome(r)) }

// Duration is the time from a to b, or "—" when either is missing.
func (d *Document) Duration(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return "—"
	}
	return humanDuration(b.Sub(a))
}

// Seconds formats a metric's seconds.
func (d *Document) Seconds(v *int64) string {
	if v == nil {
		return "—"
	}
	return humanDuration(time.Duration(*v) * time.Second)
}

func (d *Document) indexLater() {
	d.later = map[string]string{}
	for _, ev := range d.Events {
		var what string
		switch ev.Type {
		case bot.TLMessageEdited:
			what = "edited"
		case bot.TLMessageDeleted:
			what = "deleted"
		case bot.TLUnpinned:
			what = "unpinned"
		default:
			continue
		}
		k := ev.Details["channel"] + "/" + ev.Details["ts"]
		note := what + " " + d.Time(ev.Time)
		if prev := d.later[k]; prev != "" {
			note = prev + "; " + note
		}
		d.later[k] = note
	}
}

func (s *Service) cmdExport(ctx context.Context, req *bot.Request, format string) (bot.Response, error) {
	inc, err := s.current(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	doc, err := s.Export(ctx, inc.Key, format)
	if err != nil {
		return bot.Response{}, err
	}
	name := fmt.Sprintf("%s-postmortem.%s", strings.ToLower(inc.Key), format)
	if err := s.chat.Upload(ctx, bot.File{Channel: inc.Channel, Name: name,
		Title:   fmt.Sprintf("%s post-mortem: %s", inc.Key, quote(&inc).Title),
		Content: doc, Comment: fmt.Sprintf("%s exported the %s post-mortem.", bot.MentionUser(req.UserID), inc.Key)}); err != nil {
		return bot.Response{}, fmt.Errorf("upload %s: %w", name, err)
	}
	return bot.Response{}, nil
}

// ActionItem renders a follow-up as a row of the action-items table: the
// text as plain words (mentions by name, masked links with their target),
// its owner, due date, state and ticket, each escaped for Markdown.
func (d *Document) ActionItem(f bot.Followup) string {
	text := mdText(f.Text)
	if f.Drill {
		text = "(drill) " + text
	}
	owner := "—"
	if f.Owner != "" {
		owner = d.Who(f.Owner)
	}
	due := "—"
	if f.Due != "" {
		due = mdInline(f.Due)
	}
	state := d.FollowupState(f)
	ticket := "—"
	if l := mdLink(fmt.Sprintf("#%d", f.Tracker.Number), f.Tracker.URL); l != "" {
		ticket = l
	}
	return fmt.Sprintf("| %d | %s | %s | %s | %s | %s |", f.Number, text, owner, due, mdInline(state), ticket)
}
