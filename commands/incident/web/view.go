package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/incident"
)

// The view model: everything a page shows, computed once in Go from the
// incident's Document (the data the Markdown export is made of), so the
// templates only place and escape it.

// stamp is one moment as the pages show it.
type stamp struct {
	// ISO is the instant in UTC (RFC 3339), for <time datetime>, which
	// browsers, extensions and screen readers can present in the reader's
	// own zone.
	ISO string
	// Full is the date and time in the document's zone, exactly as the
	// Markdown export writes it.
	Full string
	// Clock is the time of day in the document's zone; UTC the same in UTC
	// when that zone is not UTC.
	Clock string
	UTC   string
	Zero  bool
}

// period is a stretch of the severity or status history, or a role tenure.
type period struct {
	Name     string
	Class    string
	Who      string
	From, To stamp
	Ongoing  bool
	Duration string
}

// milestone is one of the incident's landmarks and how long it took, as
// the export says it ("time to mitigate": from the declaration; "time to
// detect": from the first alert to the declaration).
type milestone struct {
	Label string
	When  stamp
	// TimeTo names the measure ("mitigate"); empty for the declaration.
	TimeTo string
	Took   string
}

// followupRow is one follow-up: an action item of the post-mortem.
type followupRow struct {
	Number int
	Text   []seg
	Drill  bool
	Owner  string
	Due    string
	State  string
	Open   bool
	Ticket seg
}

// row is one timeline event.
type row struct {
	Kind  string // a short label of the event type
	Class string // CSS class of the event type
	When  stamp
	Text  []seg
	Later string
	Links []seg
}

// day is the timeline events of one calendar day in the document's zone.
type day struct {
	Label string
	ISO   string
	Rows  []row
}

type historyTable struct {
	Label   string
	Periods []period
}

type runRow struct {
	When    stamp
	Name    string
	By      string
	Outcome string
}

// alertRow is one alert of a linked alert group, as the export's Alerts
// table lists it.
type alertRow struct {
	Name     []seg
	Summary  []seg
	Labels   []seg
	Fired    stamp
	Resolved stamp
	Firing   bool
}

type pageRow struct {
	When     stamp
	By       string
	Service  string
	Text     []seg
	Assignee string
	Link     seg
}

// view is what both pages are rendered from.
type view struct {
	PageTitle  string
	Postmortem bool

	Key      string
	Title    []seg
	RawTitle string
	Severity string
	SevClass string
	Highest  string
	Status   string
	StClass  string
	Open     bool
	Channel  string

	Commander   string
	DeclaredBy  string
	Description []seg
	Resolution  []seg

	Zone      string
	ZoneIsUTC bool
	Generated stamp

	Milestones []milestone
	Drill      bool
	Followups  []followupRow
	Duration   string
	Updates    int
	Pins       int

	SeverityTable historyTable
	StatusTable   historyTable
	// TimeTo names what each milestone after the declaration measures.
	TimeTo       []string
	Roles        []period
	Days         []day
	EventCount   int
	Runbooks     []runRow
	Pages        []pageRow
	Alerts       []alertRow
	Participants []string

	Strip strip

	// IncidentHref and PostmortemHref link the two pages with the same
	// signature: relative URLs, so a proxy may serve the pages under a
	// prefix.
	IncidentHref   string
	PostmortemHref string
}

// buildView derives the view from a Document.
func buildView(d *incident.Document) *view {
	inc := d.Incident
	loc := d.Location()
	v := &view{
		Key: inc.Key, Title: segments(inc.Title), RawTitle: plain(inc.Title),
		Severity: string(inc.Severity), SevClass: sevClass(inc.Severity), Highest: string(d.Metrics.HighestSeverity),
		Status: string(inc.Status), StClass: statusClass(string(inc.Status)), Open: inc.Open(),
		Commander: d.Name(inc.Commander), DeclaredBy: d.Declarer(),
		Description: segments(inc.Description), Resolution: segments(inc.Resolution),
		Zone: d.Timezone, ZoneIsUTC: loc == time.UTC || d.Timezone == "UTC",
		Updates: d.Metrics.UpdatesPosted, Pins: d.Metrics.PinnedMessages,
		EventCount:    len(d.Events),
		SeverityTable: historyTable{Label: "Severity"},
		StatusTable:   historyTable{Label: "Status"},
	}
	if inc.Description == "" {
		v.Description = nil
	}
	if inc.Resolution == "" {
		v.Resolution = nil
	}
	if inc.ChannelName != "" {
		v.Channel = "#" + inc.ChannelName
	}
	mk := func(t time.Time) stamp { return newStamp(d, t, v.ZoneIsUTC) }
	v.Generated = mk(d.GeneratedAt)

	m := d.Metrics
	v.Drill = inc.Drill
	if !m.DetectedAt.IsZero() {
		v.Milestones = append(v.Milestones, milestone{Label: "Detected", When: mk(m.DetectedAt), TimeTo: "detect", Took: d.Seconds(m.TimeToDetectSec)})
	}
	v.Milestones = append(v.Milestones,
		milestone{Label: "Declared", When: mk(m.DeclaredAt)},
		milestone{Label: "Acknowledged", When: mk(m.AcknowledgedAt), TimeTo: "acknowledge", Took: d.Seconds(m.TimeToAckSec)},
		milestone{Label: "First commander", When: mk(m.FirstCommanderAt), TimeTo: "commander", Took: d.Seconds(m.TimeToCommanderSec)},
		milestone{Label: "Mitigated (monitoring)", When: mk(m.MitigatedAt), TimeTo: "mitigate", Took: d.Seconds(m.TimeToMitigateSec)},
		milestone{Label: "Resolved", When: mk(m.ResolvedAt), TimeTo: "resolve", Took: d.Seconds(m.TimeToResolveSec)},
	)
	for _, f := range d.Followups {
		r := followupRow{Number: f.Number, Text: segments(f.Text), Drill: f.Drill, Owner: "—", Due: "—",
			State: d.FollowupState(f), Open: f.Open()}
		if f.Owner != "" {
			r.Owner = d.Name(f.Owner)
		}
		if f.Due != "" {
			r.Due = f.Due
		}
		if l, ok := linkSeg(f.Tracker.URL, "#"+strconv.Itoa(f.Tracker.Number)); ok {
			r.Ticket = l
		}
		v.Followups = append(v.Followups, r)
	}
	v.Duration = d.Seconds(m.TimeToResolveSec)
	if inc.Open() {
		v.Duration = d.Duration(m.DeclaredAt, d.GeneratedAt) + " so far"
	}

	for _, p := range d.SeverityHistory {
		v.SeverityTable.Periods = append(v.SeverityTable.Periods, period{Name: string(p.Severity), Class: sevClass(p.Severity),
			Who: d.Name(p.By), From: mk(p.From), To: mk(p.To), Ongoing: p.To.IsZero(), Duration: d.Duration(p.From, p.To)})
	}
	for _, p := range d.StatusHistory {
		v.StatusTable.Periods = append(v.StatusTable.Periods, period{Name: string(p.Status), Class: statusClass(string(p.Status)),
			Who: d.Name(p.By), From: mk(p.From), To: mk(p.To), Ongoing: p.To.IsZero() && p.Status != bot.StatusResolved,
			Duration: d.Duration(p.From, p.To)})
	}
	for _, r := range d.Roles {
		v.Roles = append(v.Roles, period{Name: string(r.Role), Who: d.Name(r.User), From: mk(r.From), To: mk(r.To),
			Ongoing: r.To.IsZero(), Duration: d.Duration(r.From, r.To)})
	}

	// One array holds every row; each day is a slice of it.
	all := make([]row, 0, len(d.Events))
	var cur *day
	curDate := -1
	for _, ev := range d.Events {
		local := ev.Time.In(loc)
		y, m, dd := local.Date()
		if date := y*10000 + int(m)*100 + dd; cur == nil || date != curDate {
			v.Days = append(v.Days, day{Label: local.Format("Monday 2 January 2006"), ISO: local.Format("2006-01-02")})
			cur, curDate = &v.Days[len(v.Days)-1], date
			cur.Rows = all[len(all):len(all)]
		}
		r := row{Kind: kindLabel(ev.Type), Class: typeClass(ev.Type), When: rowStamp(loc, ev.Time, v.ZoneIsUTC),
			Text: segments(d.Sentence(ev)), Later: d.Superseded(ev)}
		if l, ok := linkSeg(ev.Details["permalink"], "message"); ok {
			r.Links = append(r.Links, l)
		}
		if l, ok := linkSeg(ev.Details["url"], "page"); ok && ev.Type == bot.TLPage {
			r.Links = append(r.Links, l)
		}
		all = append(all, r)
		cur.Rows = cur.Rows[:len(cur.Rows)+1]
	}

	for _, r := range d.Runbooks {
		v.Runbooks = append(v.Runbooks, runRow{When: mk(r.Time), Name: r.Name, By: d.Name(r.Actor), Outcome: d.Outcome(r)})
	}
	for _, p := range d.Pages {
		pr := pageRow{When: mk(p.Time), By: d.Name(p.Actor), Service: p.Details["service"], Assignee: p.Details["assignees"]}
		if p.Text != "" {
			pr.Text = segments(p.Text)
		}
		pr.Link, _ = linkSeg(p.Details["url"], "PagerDuty")
		v.Pages = append(v.Pages, pr)
	}
	for _, a := range d.Alerts {
		// Name, summary and labels are stored Slack-escaped (QuoteRaw):
		// segments turns them back into the text the alert carried.
		r := alertRow{Name: segments(a.Name), Labels: segments(a.Labels), Fired: mk(a.FiredAt),
			Resolved: mk(a.ResolvedAt), Firing: a.ResolvedAt.IsZero()}
		if a.Summary != "" && a.Summary != a.Name {
			r.Summary = segments(a.Summary)
		}
		v.Alerts = append(v.Alerts, r)
	}
	for _, p := range d.Participants {
		v.Participants = append(v.Participants, p.Name)
	}
	v.Strip = buildStrip(d, v.ZoneIsUTC)
	return v
}

func newStamp(d *incident.Document, t time.Time, zoneIsUTC bool) stamp {
	if t.IsZero() {
		return stamp{Full: "—", Clock: "—", Zero: true}
	}
	s := rowStamp(d.Location(), t, zoneIsUTC)
	s.Full = d.Time(t)
	return s
}

// rowStamp is a timeline row's time: the full date is in the day's heading.
// The UTC column is labelled by the stylesheet, not on every row.
func rowStamp(loc *time.Location, t time.Time, zoneIsUTC bool) stamp {
	u := t.UTC()
	s := stamp{ISO: u.Format(time.RFC3339), Clock: t.In(loc).Format("15:04:05")}
	if !zoneIsUTC {
		s.UTC = u.Format("15:04:05")
	}
	return s
}

// linkSeg is a link to a web address, or false when s is not one.
func linkSeg(s, label string) (seg, bool) {
	href, ok := webURL(s)
	if !ok {
		return seg{}, false
	}
	return seg{Text: label, Href: href}, true
}

// plain is Slack-escaped text as a reader sees it, for <title>.
func plain(s string) string {
	var b strings.Builder
	for _, sg := range segments(s) {
		b.WriteString(sg.Text)
	}
	return b.String()
}

func sevClass(s bot.Severity) string {
	if s.Valid() {
		return string(s)
	}
	return "sevx"
}

func statusClass(s string) string {
	if _, ok := bot.ParseStatus(s); ok && s == strings.ToLower(s) {
		return s
	}
	return "stx"
}

// typeClass is a CSS class for an event type: known types by name, any
// other (a type added later, by another family) as "other" unless it is
// a plain word.
func typeClass(t bot.TimelineEventType) string {
	s := string(t)
	if s == "" || len(s) > 40 {
		return "t-other"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_') {
			return "t-other"
		}
	}
	return "t-" + s
}

// kindLabel names an event type in a word or two.
func kindLabel(t bot.TimelineEventType) string {
	switch t {
	case bot.TLDeclared:
		return "declared"
	case bot.TLSeverityChanged:
		return "severity"
	case bot.TLStatusChanged:
		return "status"
	case bot.TLRoleAssigned:
		return "role"
	case bot.TLPinned:
		return "message"
	case bot.TLUnpinned:
		return "unpinned"
	case bot.TLMessageEdited:
		return "edited"
	case bot.TLMessageDeleted:
		return "deleted"
	case bot.TLFollowup:
		return "follow-up"
	}
	s := []rune(strings.ReplaceAll(string(t), "_", " "))
	if len(s) > 24 {
		s = s[:24]
	}
	return string(s)
}
