package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/incident"
)

// The timeline strip is an inline SVG drawn on the server: severity and
// status as bands over the incident's time, and marks for role changes,
// pages, runbook runs and alerts. Its geometry is computed here; the
// template writes numbers and fixed class names, and every text (titles,
// the description for screen readers) is escaped by html/template.

const (
	stripW     = 1000
	stripLeft  = 92.0
	stripRight = 990.0
	bandH      = 22.0
	rowGap     = 6.0
	// markBucket is how close (in SVG units) marks of one kind may be before
	// they are drawn as one, so a long incident draws a bounded strip.
	markBucket = 3.0
)

type strip struct {
	H         int
	HasAlerts bool
	Title     string
	Desc      string
	Rows      []stripRow
	Bands     []band
	Marks     []mark
	Ticks     []tick
	AxisY     string
	LabelY    string
}

type stripRow struct {
	Label string
	Y     string // text baseline
}

type band struct {
	X, Y, W, H string
	Class      string
	Label      string
	LabelClass string
	LX, LY     string
	Title      string
}

type mark struct {
	Class string
	D     string // path data
	Title string
}

type tick struct {
	X     string
	Label string
	// ISO is the tick's instant, for the script that shows the axis in
	// the reader's zone.
	ISO string
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// buildStrip lays out the strip for d.
func buildStrip(d *incident.Document, zoneIsUTC bool) strip {
	loc := d.Location()
	start := d.Metrics.DeclaredAt
	end := d.Metrics.ResolvedAt
	if end.IsZero() {
		end = d.GeneratedAt
	}
	for _, ev := range d.Events {
		if start.IsZero() || ev.Time.Before(start) {
			start = ev.Time
		}
		if ev.Time.After(end) {
			end = ev.Time
		}
	}
	if !end.After(start) {
		end = start.Add(time.Minute)
	}
	span := end.Sub(start)
	x := func(t time.Time) float64 {
		if t.Before(start) {
			t = start
		}
		if t.After(end) {
			t = end
		}
		return stripLeft + (stripRight-stripLeft)*float64(t.Sub(start))/float64(span)
	}
	when := func(t time.Time) string { return t.In(loc).Format("15:04:05") }
	if span > 20*time.Hour {
		when = func(t time.Time) string { return t.In(loc).Format("Jan 2 15:04") }
	}

	s := strip{}
	y := 4.0
	addRow := func(label string) float64 {
		top := y
		s.Rows = append(s.Rows, stripRow{Label: label, Y: f1(top + bandH/2 + 4)})
		y += bandH + rowGap
		return top
	}
	addBand := func(top float64, from, to time.Time, name, class, what string) {
		if to.IsZero() {
			to = end
		}
		x1, x2 := x(from), x(to)
		if x2-x1 < 0.5 {
			x2 = x1 + 0.5
		}
		b := band{X: f1(x1), Y: f1(top), W: f1(x2 - x1), H: f1(bandH), Class: class,
			Title: fmt.Sprintf("%s %s from %s to %s (%s)", what, name, when(from), when(to), d.Duration(from, to))}
		if x2-x1 > float64(8*len(name)+8) {
			b.Label, b.LX, b.LY, b.LabelClass = name, f1(x1+4), f1(top+bandH/2+4), "bl"
			if class == "b sev1" {
				b.LabelClass = "bl dk"
			}
		}
		s.Bands = append(s.Bands, b)
	}

	var desc []string
	top := addRow("Severity")
	var parts []string
	for _, p := range d.SeverityHistory {
		addBand(top, p.From, p.To, string(p.Severity), "b "+sevClass(p.Severity), "Severity")
		parts = append(parts, fmt.Sprintf("%s from %s", p.Severity, when(p.From)))
	}
	if len(parts) > 0 {
		desc = append(desc, "Severity: "+strings.Join(parts, ", ")+".")
	}
	top = addRow("Status")
	parts = parts[:0]
	for _, p := range d.StatusHistory {
		if p.Status == bot.StatusResolved {
			parts = append(parts, "resolved at "+when(p.From))
			continue
		}
		addBand(top, p.From, p.To, string(p.Status), "b "+statusClass(string(p.Status)), "Status")
		parts = append(parts, fmt.Sprintf("%s from %s", p.Status, when(p.From)))
	}
	if len(parts) > 0 {
		desc = append(desc, "Status: "+strings.Join(parts, ", ")+".")
	}

	marks := newMarkSet()
	top = addRow("Events")
	mid := top + bandH/2
	var roles, pages, runs, firing, resolved int
	var alertTop float64
	hasAlerts := false
	for _, ev := range d.Events {
		if isAlert(ev) {
			hasAlerts = true
		}
	}
	if hasAlerts {
		s.HasAlerts = true
		alertTop = addRow("Alerts")
	}
	for _, ev := range d.Events {
		// Marks stay inside the plot, clear of the row labels.
		px := min(max(x(ev.Time), stripLeft+5), stripRight-5)
		// Only marked events need their sentence (as the mark's title).
		label := func() string { return when(ev.Time) + " " + plain(d.Sentence(ev)) }
		switch {
		case ev.Type == bot.TLRoleAssigned:
			roles++
			marks.add("m role", px, fmt.Sprintf("M%s %sl5 -8h-10z", f1(px-5), f1(mid-4)), label)
		case ev.Type == bot.TLPage:
			pages++
			marks.add("m page", px, fmt.Sprintf("M%s %sl6 6-6 6-6-6z", f1(px), f1(mid-6)), label)
		case ev.Type == bot.TLRunbook && ev.Details["event"] != string(bot.AuditStarted):
			runs++
			marks.add("m run", px, fmt.Sprintf("M%s %sh8v8h-8z", f1(px-4), f1(mid-4)), label)
		case isAlert(ev):
			am := alertTop + bandH/2
			if alertResolved(ev) {
				resolved++
				marks.add("m alert-ok", px, circle(px, am), label)
			} else {
				firing++
				marks.add("m alert-firing", px, circle(px, am), label)
			}
		}
	}
	s.Marks = marks.list
	var counts []string
	for _, c := range []struct {
		n    int
		what string
	}{{roles, "role change"}, {pages, "page"}, {runs, "runbook run"}, {firing, "alert firing"}, {resolved, "alert resolved"}} {
		if c.n == 1 {
			counts = append(counts, "1 "+c.what)
		} else if c.n > 1 {
			counts = append(counts, fmt.Sprintf("%d %ss", c.n, c.what))
		}
	}
	if len(counts) > 0 {
		desc = append(desc, "Marks: "+strings.Join(counts, ", ")+".")
	}

	s.AxisY = f1(y)
	s.LabelY = f1(y + 14)
	s.H = int(y + 20)
	for _, t := range ticks(start, end, loc) {
		if px := x(t); px <= stripRight-20 {
			label := t.In(loc).Format("15:04")
			if span > 20*time.Hour {
				label = t.In(loc).Format("Jan 2 15:04")
			}
			s.Ticks = append(s.Ticks, tick{X: f1(px), Label: label, ISO: t.UTC().Format(time.RFC3339)})
		}
	}
	zone := d.Timezone
	s.Title = fmt.Sprintf("%s from %s to %s (%s)", d.Incident.Key, d.Time(start), d.Time(end), zone)
	s.Desc = strings.Join(desc, " ")
	return s
}

func circle(cx, cy float64) string {
	return fmt.Sprintf("M%s %sa4 4 0 1 0 8 0a4 4 0 1 0-8 0z", f1(cx-4), f1(cy))
}

// isAlert recognises alert events by their type, whatever the alerts family
// names them ("alert_firing", "alert_resolved", …).
func isAlert(ev bot.TimelineEvent) bool { return strings.HasPrefix(string(ev.Type), "alert") }

func alertResolved(ev bot.TimelineEvent) bool {
	return strings.Contains(string(ev.Type), "resolved") || ev.Details["status"] == "resolved"
}

// markSet keeps one mark per kind per few units of width: a mark that falls
// on one already drawn is counted in its title instead.
type markSet struct {
	list  []mark
	base  []string
	extra []int
	at    map[string]int
}

func newMarkSet() *markSet { return &markSet{at: map[string]int{}} }

func (m *markSet) add(class string, x float64, d string, label func() string) {
	k := class + "/" + strconv.Itoa(int(x/markBucket))
	if i, ok := m.at[k]; ok {
		m.extra[i]++
		m.list[i].Title = fmt.Sprintf("%s (and %d more)", m.base[i], m.extra[i])
		return
	}
	title := label()
	if r := []rune(title); len(r) > 200 {
		title = string(r[:199]) + "…"
	}
	m.at[k] = len(m.list)
	m.list = append(m.list, mark{Class: class, D: d, Title: title})
	m.base = append(m.base, title)
	m.extra = append(m.extra, 0)
}

// ticks are round times (in loc) between start and end, at most about eight.
func ticks(start, end time.Time, loc *time.Location) []time.Time {
	span := end.Sub(start)
	steps := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
		48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	l := start.In(loc)
	var t time.Time
	if step < 24*time.Hour {
		midnight := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
		t = midnight.Add(l.Sub(midnight).Truncate(step))
	} else {
		t = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	}
	var out []time.Time
	for ; !t.After(end) && len(out) < 40; t = t.Add(step) {
		if !t.Before(start) {
			out = append(out, t)
		}
	}
	return out
}
