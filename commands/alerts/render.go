package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsbot/opsbot/bot"
)

// Bounds that keep an alert message within Slack's limits (one text section
// holds 3,000 characters; the renderer splits longer text, but a message a
// responder can take in at a glance is the point).
const (
	maxAlertsShown = 10
	maxName        = 100
	maxSummary     = 300
	maxDescription = 600
	maxLabels      = 150
	maxAlertText   = 150
)

// message renders the group's message: what a responder needs to act.
// Every piece of text that came with the alerts goes through bot.QuoteRaw;
// only http(s) URLs become links.
func (s *Service) message(g *bot.AlertGroup, st *bot.AlertGroupState, r Route, now time.Time) bot.Message {
	firing := g.Firing > 0
	resolved := len(g.Alerts) - countFiring(g.Alerts)
	name := bot.QuoteRaw(clip(g.Name(), maxName))
	m := bot.Message{Channel: st.Channel, Metadata: postMetadata(g.ID, g.Episode, st.PostAttempt)}
	if firing {
		m.Title = ":red_circle: FIRING: " + name
		if st.Silenced(now) {
			m.Title = ":no_bell: FIRING (silenced): " + name
		}
	} else {
		m.Title = ":white_check_mark: RESOLVED: " + name
	}

	var b strings.Builder
	if firing {
		fmt.Fprintf(&b, "*%d firing*", g.Firing)
		if g.TruncatedAlerts > 0 {
			// A responder must not read 500 for 10,000.
			fmt.Fprintf(&b, " (+%d not sent by %s)", g.TruncatedAlerts, sourceName(g.Source))
		}
		if resolved > 0 {
			fmt.Fprintf(&b, ", %d resolved", resolved)
		}
		fmt.Fprintf(&b, " · since %s", s.fmt(g.EpisodeStart))
		if r.Mention != "" {
			b.WriteString(" · " + mention(r.Mention))
		}
	} else {
		fmt.Fprintf(&b, "*All %d alert%s resolved* · fired %s", len(g.Alerts), plural(len(g.Alerts)), s.fmt(g.EpisodeStart))
		if end := lastEnd(g.Alerts); !end.IsZero() {
			fmt.Fprintf(&b, ", resolved %s (after %s)", s.fmt(end), humanDuration(end.Sub(g.EpisodeStart)))
		}
	}
	b.WriteByte('\n')
	summary, description := annotation(g, "summary"), annotation(g, "description")
	if summary != "" {
		fmt.Fprintf(&b, "*Summary:* %s\n", bot.QuoteRaw(clip(oneLine(summary), maxSummary)))
	}
	if description != "" {
		fmt.Fprintf(&b, "*Description:* %s\n", bot.QuoteRaw(clip(description, maxDescription)))
	}
	b.WriteByte('\n')
	for i, a := range g.Alerts {
		if i == maxAlertsShown {
			rest := g.Alerts[i:]
			f := countFiring(rest)
			fmt.Fprintf(&b, "_…and %d more (%d firing, %d resolved)_\n", len(rest), f, len(rest)-f)
			break
		}
		b.WriteString(s.alertLine(g, a, summary))
		b.WriteByte('\n')
	}
	if g.TruncatedAlerts > 0 {
		fmt.Fprintf(&b, "_+%d more alert%s not sent by %s (its max_alerts setting)_\n", g.TruncatedAlerts, plural(g.TruncatedAlerts), sourceName(g.Source))
	}
	if links := groupLinks(g); links != "" {
		b.WriteString(links)
	}
	m.Text = strings.TrimRight(b.String(), "\n")

	status := "Resolved"
	switch {
	case firing && st.Silenced(now):
		status = "Firing, silenced"
	case firing:
		status = "Firing"
	}
	m.Fields = []bot.Field{{Label: "Status", Value: status}}
	if st.AckedBy != "" {
		m.Fields = append(m.Fields, bot.Field{Label: "Acknowledged", Value: bot.MentionUser(st.AckedBy) + " " + s.fmt(st.AckedAt)})
	}
	if st.Silenced(now) {
		m.Fields = append(m.Fields, bot.Field{Label: "Silenced", Value: "by " + bot.MentionUser(st.SilencedBy) + " until " + s.fmt(st.SilencedUntil)})
	}
	if st.Incident != "" {
		v := st.Incident
		if st.IncidentChannel != "" {
			v += " in " + bot.MentionChannel(st.IncidentChannel)
		}
		m.Fields = append(m.Fields, bot.Field{Label: "Incident", Value: v})
	}
	if !st.PagedAt.IsZero() {
		v := bot.QuoteRaw(st.PagedService) + " on-call " + s.fmt(st.PagedAt)
		if l := safeLink(st.PageURL, "PagerDuty"); l != "" {
			v += " · " + l
		}
		m.Fields = append(m.Fields, bot.Field{Label: "Paged", Value: v})
	}

	ctxLine := "Group: " + bot.QuoteRaw(clip(bot.FormatLabels(g.GroupLabels), maxLabels))
	if len(g.GroupLabels) == 0 {
		ctxLine = "Group: all alerts of receiver " + bot.QuoteRaw(clip(g.Receiver, maxName))
	}
	if l := safeLink(g.ExternalURL, sourceName(g.Source)); l != "" {
		ctxLine += " · " + l
	}
	m.Context = ctxLine

	if firing {
		m.Buttons = s.buttons(g, st, now)
	}
	return m
}

func (s *Service) buttons(g *bot.AlertGroup, st *bot.AlertGroupState, now time.Time) []bot.Button {
	v := buttonValue(g.ID, g.Episode)
	var out []bot.Button
	if st.AckedBy == "" {
		out = append(out, bot.Button{ID: ActionAck, Text: "Acknowledge", Value: v, Style: bot.ButtonPrimary})
	}
	if g.Source == bot.AlertSourceAlertmanager && s.silencer != nil && len(g.GroupLabels) > 0 {
		if st.Silenced(now) {
			out = append(out, bot.Button{ID: ActionExpire, Text: "Expire silence", Value: v})
		} else {
			out = append(out,
				bot.Button{ID: ActionSilence1h, Text: "Silence 1h", Value: v},
				bot.Button{ID: ActionSilence4h, Text: "Silence 4h", Value: v},
				bot.Button{ID: ActionSilence1d, Text: "Silence 24h", Value: v})
		}
	}
	if s.incidents != nil && st.Incident == "" {
		out = append(out, bot.Button{ID: ActionDeclare, Text: "Declare incident", Value: v, Style: bot.ButtonDanger})
	}
	return out
}

// buttonValue binds a button to one episode of one group; parseButton
// reads it back.
func buttonValue(id string, episode int) string { return id + ":" + strconv.Itoa(episode) }

func parseButton(v string) (id string, episode int, ok bool) {
	id, ep, found := strings.Cut(v, ":")
	if !found || id == "" || len(id) > 64 {
		return "", 0, false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", 0, false
		}
	}
	n, err := strconv.Atoi(ep)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return id, n, true
}

// alertLine is one alert: status, its own text, the labels that tell it
// from the others, when, and its source.
func (s *Service) alertLine(g *bot.AlertGroup, a bot.Alert, groupSummary string) string {
	var b strings.Builder
	if a.Firing() {
		b.WriteString("• :red_circle: ")
	} else {
		b.WriteString("• :white_check_mark: ")
	}
	text := a.Annotations["summary"]
	if text == "" || text == groupSummary {
		text = a.Labels["alertname"]
	}
	if text != "" {
		b.WriteString(bot.QuoteRaw(clip(oneLine(text), maxAlertText)))
	}
	if l := distinct(a.Labels, g.CommonLabels); l != "" {
		if text != "" {
			b.WriteString(" — ")
		}
		b.WriteString(bot.QuoteRaw(clip(l, maxLabels)))
	}
	if a.Firing() {
		b.WriteString(" · since " + s.fmt(a.StartsAt))
	} else {
		b.WriteString(" · resolved " + s.fmt(a.EndsAt))
	}
	if len(a.Values) > 0 {
		b.WriteString(" · " + bot.QuoteRaw(clip(formatValues(a.Values), maxLabels)))
	}
	if l := safeLink(a.GeneratorURL, "source"); l != "" {
		b.WriteString(" · " + l)
	}
	return b.String()
}

// groupLinks are the group's links: runbook, dashboard, panel, Grafana
// silence, from the first alert that has each.
func groupLinks(g *bot.AlertGroup) string {
	find := func(get func(a bot.Alert) string) string {
		for _, a := range g.Alerts {
			if v := get(a); v != "" {
				return v
			}
		}
		return ""
	}
	ann := func(keys ...string) func(a bot.Alert) string {
		return func(a bot.Alert) string {
			for _, k := range keys {
				if v := a.Annotations[k]; v != "" {
					return v
				}
			}
			return ""
		}
	}
	var links []string
	add := func(raw, label string) {
		if l := safeLink(raw, label); l != "" {
			links = append(links, l)
		}
	}
	runbook := g.CommonAnnotations["runbook_url"]
	if runbook == "" {
		runbook = find(ann("runbook_url", "runbook"))
	}
	add(runbook, "Runbook")
	add(find(func(a bot.Alert) string { return a.DashboardURL }), "Dashboard")
	if g.Source != bot.AlertSourceGrafana {
		add(find(ann("dashboard_url", "dashboard")), "Dashboard")
	}
	add(find(func(a bot.Alert) string { return a.PanelURL }), "Panel")
	add(find(func(a bot.Alert) string { return a.SilenceURL }), "Silence in Grafana")
	return strings.Join(links, " · ")
}

// safeLink renders an http(s) URL as a Slack link with the bot's own label;
// anything else (javascript:, a URL with markup characters) gives "" and is
// not shown as a link.
func safeLink(raw, label string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 2000 || strings.ContainsAny(raw, "<>|\"` \t\r\n") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return "<" + strings.ReplaceAll(raw, "&", "&amp;") + "|" + label + ">"
}

// mention pings a user group (S…) or a person (U…, W…).
func mention(id string) string {
	if strings.HasPrefix(id, "S") {
		return "<!subteam^" + id + ">"
	}
	return bot.MentionUser(id)
}

// annotation is the group's annotation: common to all alerts, else the
// first firing alert's, else the first alert's.
func annotation(g *bot.AlertGroup, key string) string {
	if v := g.CommonAnnotations[key]; v != "" {
		return v
	}
	for _, a := range g.Alerts {
		if a.Firing() && a.Annotations[key] != "" {
			return a.Annotations[key]
		}
	}
	for _, a := range g.Alerts {
		if a.Annotations[key] != "" {
			return a.Annotations[key]
		}
	}
	return ""
}

// distinct writes the labels of an alert that not all alerts share.
func distinct(labels, common map[string]string) string {
	d := map[string]string{}
	for k, v := range labels {
		if k == "alertname" || common[k] == v {
			continue
		}
		d[k] = v
	}
	return bot.FormatLabels(d)
}

func formatValues(v map[string]float64) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatFloat(v[k], 'g', 6, 64)
	}
	return strings.Join(parts, ", ")
}

func countFiring(as []bot.Alert) int {
	n := 0
	for _, a := range as {
		if a.Firing() {
			n++
		}
	}
	return n
}

func lastEnd(as []bot.Alert) time.Time {
	var t time.Time
	for _, a := range as {
		if a.EndsAt.After(t) {
			t = a.EndsAt
		}
	}
	return t
}

func sourceName(src bot.AlertSource) string {
	if src == bot.AlertSourceGrafana {
		return "Grafana"
	}
	return "Alertmanager"
}

func (s *Service) fmt(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return bot.FormatTime(t, s.set.Timezone)
}

// messageHash identifies what a message shows, to skip edits that would
// change nothing.
func messageHash(m bot.Message) string {
	b, _ := json.Marshal(m)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// clip cuts raw text to n runes with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// humanDuration prints a duration as people say it: "1h 23m", "45s".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		if m := int(d % time.Hour / time.Minute); m > 0 {
			return fmt.Sprintf("%dh %dm", int(d/time.Hour), m)
		}
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	if h := int(d % (24 * time.Hour) / time.Hour); h > 0 {
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), h)
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
