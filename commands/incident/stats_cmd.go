package incident

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

func (s *Service) statsCommand() bot.Command {
	return bot.Command{Name: "stats", Aliases: []string{"statistics"}, Usage: "stats [7d|30d|90d] [share]",
		Description: "incidents by severity and response times (median, p90) with a chart; only to you unless share",
		Examples:    []string{"/incident stats", "/incident stats 90d share"}, Handler: s.cmdStats}
}

// Stats computes the report over the window that ends now.
func (s *Service) Stats(ctx context.Context, window time.Duration) (Stats, error) {
	if s.history == nil {
		return Stats{}, errors.New("incident stats: no incident history configured")
	}
	now := s.clock.Now().UTC()
	from := now.Add(-window)
	incs, err := s.history.DeclaredSince(ctx, from)
	if err != nil {
		return Stats{}, fmt.Errorf("incident stats: %w", err)
	}
	return ComputeStats(incs, from, now, s.set.Timezone), nil
}

func (s *Service) cmdStats(ctx context.Context, req *bot.Request) (bot.Response, error) {
	window, name, share := 30*24*time.Hour, "30d", false
	seenWindow := false
	for _, a := range req.Args()[1:] {
		switch {
		case strings.EqualFold(a, "share"):
			share = true
		case !seenWindow:
			w, err := ParseStatsWindow(a)
			if err != nil {
				return bot.Response{}, bot.Userf("%s %s", err.Error(), s.usage("stats"))
			}
			window, name, seenWindow = w, strings.ToLower(a), true
		default:
			return bot.Response{}, bot.Userf("%s", s.usage("stats"))
		}
	}
	st, err := s.Stats(ctx, window)
	if err != nil {
		bot.Logger(ctx).Error("stats not computed", zap.Error(err))
		return bot.Response{}, errReadDown
	}
	msg := st.Message(name)
	png, err := Chart(st)
	if err != nil {
		bot.Logger(ctx).Error("stats chart not drawn", zap.Error(err))
		msg.Context = strings.TrimSpace(msg.Context + " The chart could not be drawn; this has been logged.")
		return bot.Response{Message: msg}, nil
	}
	// A file cannot be shown to one person only: unless shared, the chart
	// goes to the asker's direct messages with the bot.
	file := bot.File{Channel: req.UserID, Name: "incident-stats-" + name + ".png",
		Title:   fmt.Sprintf("Incidents, last %s (to %s)", windowWords(name), st.To.In(st.Zone).Format("2006-01-02")),
		Content: png, Comment: fmt.Sprintf("Chart for your `/incident stats %s`.", name)}
	if share {
		file.Channel = req.ChannelID
		file.Comment = fmt.Sprintf("%s shared `/incident stats %s`.", bot.MentionUser(req.UserID), name)
	}
	if err := s.chat.Upload(ctx, file); err != nil {
		bot.Logger(ctx).Warn("stats chart not uploaded", zap.Error(err))
		msg.Context = strings.TrimSpace(msg.Context + " The chart could not be uploaded.")
	} else if !share {
		msg.Context = strings.TrimSpace(msg.Context + " The chart is in your direct messages with me.")
	}
	if share {
		return bot.Response{Visibility: bot.InChannel, Message: msg}, nil
	}
	return bot.Response{Message: msg}, nil
}

func windowWords(name string) string {
	switch name {
	case "7d":
		return "7 days"
	case "30d":
		return "30 days"
	case "90d":
		return "90 days"
	}
	return name
}

// Message renders the report for chat: a summary line and a table.
func (st Stats) Message(window string) bot.Message {
	all := st.All()
	var b strings.Builder
	fmt.Fprintf(&b, "%s to %s: *%d incident(s)*", bot.FormatTime(st.From, st.Zone), bot.FormatTime(st.To, st.Zone), st.Total)
	if all.Open > 0 {
		fmt.Fprintf(&b, ", %d still open", all.Open)
	}
	b.WriteString(".")
	if st.Drills > 0 {
		fmt.Fprintf(&b, " %d drill(s) left out.", st.Drills)
	}
	return bot.Message{
		Title:   "Incidents, last " + windowWords(window),
		Text:    b.String(),
		Code:    st.Table(),
		Context: "Each incident counts under the highest severity it had. Times from declaration (detect: first alert to declaration); p50 = median. Acknowledged = first commander action or update.",
	}
}

// Table is the report as fixed-width text.
func (st Stats) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %5s  %-13s %-13s %-13s %-13s\n", "", "count", "detect", "acknowledge", "mitigate", "resolve")
	fmt.Fprintf(&b, "%-8s %5s  %-13s %-13s %-13s %-13s\n", "", "", "p50    p90", "p50    p90", "p50    p90", "p50    p90")
	for _, r := range st.BySeverity {
		fmt.Fprintf(&b, "%-8s %5d  %s %s %s %s\n", r.Severity, r.Count, cell(r.Detect), cell(r.Ack), cell(r.Mitigate), cell(r.Resolve))
	}
	return strings.TrimRight(b.String(), "\n")
}

func cell(s Spread) string {
	if s.N == 0 {
		return fmt.Sprintf("%-6s %-6s", "—", "")
	}
	return fmt.Sprintf("%-6s %-6s", compact(s.Median), compact(s.P90))
}

// compact writes a duration in at most six characters: 45s, 12m, 1h05,
// 2d03h.
func compact(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	d = d.Round(time.Hour)
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// spreadJSON is a Spread in seconds; null when nothing reached it.
type spreadJSON struct {
	N      int    `json:"n"`
	Median *int64 `json:"median_seconds"`
	P90    *int64 `json:"p90_seconds"`
}

func (s Spread) toJSON() spreadJSON {
	out := spreadJSON{N: s.N}
	if s.N > 0 {
		m, p := int64(s.Median/time.Second), int64(s.P90/time.Second)
		out.Median, out.P90 = &m, &p
	}
	return out
}

// JSON renders the report for scripts.
func (st Stats) JSON() ([]byte, error) {
	type row struct {
		Severity string     `json:"severity"`
		Count    int        `json:"count"`
		Open     int        `json:"open"`
		Detect   spreadJSON `json:"time_to_detect"`
		Ack      spreadJSON `json:"time_to_acknowledge"`
		Mitigate spreadJSON `json:"time_to_mitigate"`
		Resolve  spreadJSON `json:"time_to_resolve"`
	}
	type week struct {
		Start   string         `json:"start"`
		Counts  map[string]int `json:"counts"`
		Resolve spreadJSON     `json:"time_to_resolve"`
	}
	out := struct {
		From       time.Time `json:"from"`
		To         time.Time `json:"to"`
		Timezone   string    `json:"timezone"`
		Total      int       `json:"incidents"`
		Drills     int       `json:"drills_left_out"`
		BySeverity []row     `json:"by_severity"`
		Weeks      []week    `json:"weeks"`
	}{From: st.From.UTC(), To: st.To.UTC(), Timezone: st.Zone.String(), Total: st.Total, Drills: st.Drills,
		BySeverity: []row{}, Weeks: []week{}}
	for _, r := range st.BySeverity {
		out.BySeverity = append(out.BySeverity, row{Severity: r.Severity, Count: r.Count, Open: r.Open,
			Detect: r.Detect.toJSON(), Ack: r.Ack.toJSON(), Mitigate: r.Mitigate.toJSON(), Resolve: r.Resolve.toJSON()})
	}
	for _, w := range st.Weeks {
		counts := map[string]int{}
		for i, sev := range bot.Severities {
			counts[string(sev)] = w.Counts[i]
		}
		out.Weeks = append(out.Weeks, week{Start: w.Start.In(st.Zone).Format("2006-01-02"), Counts: counts, Resolve: w.Resolve.toJSON()})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode stats: %w", err)
	}
	return append(b, '\n'), nil
}

// CSV renders the per-severity table for spreadsheets: durations in seconds,
// empty when nothing reached the milestone.
func (st Stats) CSV() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{"severity", "count", "open"}
	for _, m := range []string{"detect", "acknowledge", "mitigate", "resolve"} {
		head = append(head, m+"_n", m+"_p50_seconds", m+"_p90_seconds")
	}
	_ = w.Write(head)
	for _, r := range st.BySeverity {
		rec := []string{r.Severity, strconv.Itoa(r.Count), strconv.Itoa(r.Open)}
		for _, s := range []Spread{r.Detect, r.Ack, r.Mitigate, r.Resolve} {
			if s.N == 0 {
				rec = append(rec, "0", "", "")
				continue
			}
			rec = append(rec, strconv.Itoa(s.N), strconv.FormatInt(int64(s.Median/time.Second), 10), strconv.FormatInt(int64(s.P90/time.Second), 10))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("encode stats: %w", err)
	}
	return buf.Bytes(), nil
}
