package incident

import (
	"bytes"
	"encoding/json"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/opsbot/opsbot/bot"
)

func TestPercentile(t *testing.T) {
	m := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Minute
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "empty", in: nil, p: 0.5, want: 0},
		{name: "one", in: m(7), p: 0.9, want: 7 * time.Minute},
		{name: "median of an even count averages the middle", in: m(1, 2, 3, 4), p: 0.5, want: 150 * time.Second},
		{name: "median of an odd count is the middle", in: m(10, 20, 50), p: 0.5, want: 20 * time.Minute},
		{name: "p90 of 1..10 interpolates", in: m(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), p: 0.9, want: 9*time.Minute + 6*time.Second},
		{name: "p90 of two", in: m(2, 6), p: 0.9, want: 5*time.Minute + 36*time.Second},
		{name: "p100 is the maximum", in: m(1, 5, 9), p: 1, want: 9 * time.Minute},
		{name: "p0 is the minimum", in: m(1, 5, 9), p: 0, want: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %.1f) = %s, want %s", tt.in, tt.p, got, tt.want)
			}
		})
	}
}

func TestParseStatsWindow(t *testing.T) {
	for _, ok := range []struct {
		in   string
		want time.Duration
	}{{"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"90D", 90 * 24 * time.Hour}} {
		if got, err := ParseStatsWindow(ok.in); err != nil || got != ok.want {
			t.Errorf("ParseStatsWindow(%q) = %s, %v; want %s", ok.in, got, err, ok.want)
		}
	}
	for _, bad := range []string{"", "14d", "1y", "30", "-7d", "7d7d", "<!here>"} {
		if _, err := ParseStatsWindow(bad); err == nil || !strings.Contains(err.Error(), "use 7d, 30d or 90d") {
			t.Errorf("ParseStatsWindow(%q) err = %v, want the allowed forms", bad, err)
		}
	}
}

func TestWeekStartInZone(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name string
		t    time.Time
		zone *time.Location
		want time.Time
	}{
		{name: "Monday noon", t: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), zone: time.UTC, want: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		{name: "Sunday night", t: time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC), zone: time.UTC, want: time.Date(2026, 2, 23, 0, 0, 0, 0, time.UTC)},
		{name: "Sunday 23:30 UTC is Monday in Berlin", t: time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC), zone: berlin,
			want: time.Date(2026, 3, 2, 0, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := weekStart(tt.t, tt.zone); !got.Equal(tt.want) {
				t.Errorf("weekStart(%s) = %s, want %s", tt.t, got, tt.want)
			}
		})
	}
}

// statsTo is the end of the hand-checked report: Monday 2026-03-02 12:00
// UTC; the 30-day window starts Saturday 2026-01-31 12:00.
var statsTo = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// ts is a time in February 2026 (UTC), or in another month with m.
func feb(day, hour, min int) time.Time { return time.Date(2026, 2, day, hour, min, 0, 0, time.UTC) }

// inc builds an incident declared at at; the durations are offsets from the
// declaration (detect is before it); zero means the milestone was not
// reached.
func statInc(key string, sev bot.Severity, at time.Time, detect, ack, mitigate, resolve time.Duration) bot.Incident {
	inc := bot.Incident{Key: key, Severity: sev, Status: bot.StatusInvestigating, DeclaredAt: at, Channel: "C" + key}
	if detect > 0 {
		inc.DetectedAt = at.Add(-detect)
	}
	if ack > 0 {
		inc.AcknowledgedAt = at.Add(ack)
	}
	if mitigate > 0 {
		inc.MitigatedAt = at.Add(mitigate)
	}
	if resolve > 0 {
		inc.ResolvedAt, inc.Status = at.Add(resolve), bot.StatusResolved
	}
	return inc
}

const (
	min_ = time.Minute
	hour = time.Hour
)

// statsFixture is the hand-checked set: what each incident tests is said
// next to it.
func statsFixture() []bot.Incident {
	drill := statInc("J", bot.Sev1, feb(12, 9, 0), 0, min_, 10*min_, 20*min_)
	drill.Drill = true
	failed := statInc("L", bot.Sev2, feb(20, 9, 0), 0, 0, 0, 0)
	failed.Channel = "" // a declaration whose channel was never created
	return []bot.Incident{
		statInc("A", bot.Sev1, feb(3, 10, 0), 10*min_, 2*min_, 30*min_, hour),
		statInc("B", bot.Sev1, feb(10, 22, 0), 0, 6*min_, 90*min_, 3*hour),
		statInc("C", bot.Sev2, feb(4, 8, 0), 5*min_, min_, 20*min_, 40*min_),
		statInc("D", bot.Sev2, feb(5, 14, 0), 0, 3*min_, 10*min_, 20*min_),
		statInc("E", bot.Sev2, feb(18, 9, 0), 0, 5*min_, 50*min_, 2*hour),
		statInc("F", bot.Sev2, feb(25, 11, 0), 0, 10*min_, 0, 0),                        // open, not mitigated
		statInc("G", bot.Sev3, feb(1, 12, 0), 0, 15*min_, 4*hour, 4*hour),               // Sunday: week of Jan 26
		statInc("H", bot.Sev3, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), 0, 0, 0, 0), // open, unacknowledged
		statInc("I", bot.Sev4, time.Date(2026, 1, 31, 13, 0, 0, 0, time.UTC), 0, hour, 24*hour, 24*hour),
		drill,  // left out, counted as a drill
		failed, // left out
		statInc("K", bot.Sev2, time.Date(2026, 1, 31, 11, 0, 0, 0, time.UTC), 0, min_, min_, min_), // before the window
		statInc("M", bot.Sev1, statsTo.Add(time.Second), 0, min_, min_, min_),                      // after the report's end
	}
}

func sp(n int, med, p90 time.Duration) Spread { return Spread{N: n, Median: med, P90: p90} }

// TestComputeStatsHandChecked compares the calculator with the table worked
// out by hand in the comments of statsFixture (linear interpolation between
// ranks: p90 of {2m, 6m} is 2m + 0.9 × 4m = 5m36s).
func TestComputeStatsHandChecked(t *testing.T) {
	st := ComputeStats(statsFixture(), statsTo.AddDate(0, 0, -30), statsTo, time.UTC)
	if st.Total != 9 || st.Drills != 1 {
		t.Errorf("total %d drills %d, want 9 and 1", st.Total, st.Drills)
	}
	want := []SeverityStats{
		{Severity: "sev1", Count: 2, Detect: sp(1, 10*min_, 10*min_), Ack: sp(2, 4*min_, 5*min_+36*time.Second),
			Mitigate: sp(2, hour, 84*min_), Resolve: sp(2, 2*hour, 2*hour+48*min_)},
		{Severity: "sev2", Count: 4, Open: 1, Detect: sp(1, 5*min_, 5*min_), Ack: sp(4, 4*min_, 8*min_+30*time.Second),
			Mitigate: sp(3, 20*min_, 44*min_), Resolve: sp(3, 40*min_, 104*min_)},
		{Severity: "sev3", Count: 2, Open: 1, Ack: sp(1, 15*min_, 15*min_), Mitigate: sp(1, 4*hour, 4*hour), Resolve: sp(1, 4*hour, 4*hour)},
		{Severity: "sev4", Count: 1, Ack: sp(1, hour, hour), Mitigate: sp(1, 24*hour, 24*hour), Resolve: sp(1, 24*hour, 24*hour)},
		{Severity: "all", Count: 9, Open: 2, Detect: sp(2, 7*min_+30*time.Second, 9*min_+30*time.Second),
			Ack: sp(8, 5*min_+30*time.Second, 28*min_+30*time.Second), Mitigate: sp(7, 50*min_, 12*hour), Resolve: sp(7, 2*hour, 12*hour)},
	}
	if diff := cmp.Diff(want, st.BySeverity); diff != "" {
		t.Errorf("by severity (-want +got):\n%s", diff)
	}
	week := func(d time.Time, counts [4]int, resolve Spread) WeekStats {
		return WeekStats{Start: d, Counts: counts, Resolve: resolve}
	}
	wantWeeks := []WeekStats{
		week(time.Date(2026, 1, 26, 0, 0, 0, 0, time.UTC), [4]int{0, 0, 1, 1}, sp(2, 14*hour, 22*hour)),
		week(feb(2, 0, 0), [4]int{1, 2, 0, 0}, sp(3, 40*min_, 56*min_)),
		week(feb(9, 0, 0), [4]int{1, 0, 0, 0}, sp(1, 3*hour, 3*hour)),
		week(feb(16, 0, 0), [4]int{0, 1, 0, 0}, sp(1, 2*hour, 2*hour)),
		week(feb(23, 0, 0), [4]int{0, 1, 0, 0}, Spread{}),
		week(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), [4]int{0, 0, 1, 0}, Spread{}),
	}
	if diff := cmp.Diff(wantWeeks, st.Weeks); diff != "" {
		t.Errorf("weeks (-want +got):\n%s", diff)
	}
}

// TestComputeStatsStepByStep adds the incidents one at a time, checking the
// overall row after each, so a wrong step shows where it goes wrong.
func TestComputeStatsStepByStep(t *testing.T) {
	from := statsTo.AddDate(0, 0, -30)
	steps := []struct {
		add                  bot.Incident
		count, open, drills  int
		resolveMed, ackMed   time.Duration
		resolveN, mitigatedN int
	}{
		{add: statInc("A", bot.Sev1, feb(3, 10, 0), 10*min_, 2*min_, 30*min_, hour), count: 1, resolveMed: hour, ackMed: 2 * min_, resolveN: 1, mitigatedN: 1},
		{add: statInc("F", bot.Sev2, feb(25, 11, 0), 0, 10*min_, 0, 0), count: 2, open: 1, resolveMed: hour, ackMed: 6 * min_, resolveN: 1, mitigatedN: 1},
		{add: statInc("B", bot.Sev1, feb(10, 22, 0), 0, 6*min_, 90*min_, 3*hour), count: 3, open: 1, resolveMed: 2 * hour, ackMed: 6 * min_, resolveN: 2, mitigatedN: 2},
		{add: func() bot.Incident {
			d := statInc("J", bot.Sev1, feb(12, 9, 0), 0, min_, min_, min_)
			d.Drill = true
			return d
		}(), count: 3, open: 1, drills: 1, resolveMed: 2 * hour, ackMed: 6 * min_, resolveN: 2, mitigatedN: 2},
		{add: statInc("K", bot.Sev2, from.Add(-time.Second), 0, min_, min_, min_), count: 3, open: 1, drills: 1, resolveMed: 2 * hour, ackMed: 6 * min_, resolveN: 2, mitigatedN: 2},
		{add: statInc("C", bot.Sev2, feb(4, 8, 0), 5*min_, min_, 20*min_, 40*min_), count: 4, open: 1, drills: 1, resolveMed: hour, ackMed: 4 * min_, resolveN: 3, mitigatedN: 3},
	}
	var incs []bot.Incident
	for i, s := range steps {
		incs = append(incs, s.add)
		all := ComputeStats(incs, from, statsTo, time.UTC)
		row := all.All()
		if row.Count != s.count || row.Open != s.open || all.Drills != s.drills || row.Resolve.Median != s.resolveMed ||
			row.Ack.Median != s.ackMed || row.Resolve.N != s.resolveN || row.Mitigate.N != s.mitigatedN {
			t.Errorf("step %d (+%s): count %d open %d drills %d resolve p50 %s (n %d) ack p50 %s mitigated %d; "+
				"want %d %d %d %s (n %d) %s %d", i+1, s.add.Key, row.Count, row.Open, all.Drills, row.Resolve.Median, row.Resolve.N,
				row.Ack.Median, row.Mitigate.N, s.count, s.open, s.drills, s.resolveMed, s.resolveN, s.ackMed, s.mitigatedN)
		}
	}
}

func TestStatsRenderings(t *testing.T) {
	st := ComputeStats(statsFixture(), statsTo.AddDate(0, 0, -30), statsTo, time.UTC)
	msg := st.Message("30d")
	if msg.Title != "Incidents, last 30 days" || !strings.Contains(msg.Text, "*9 incident(s)*, 2 still open.") ||
		!strings.Contains(msg.Text, "1 drill(s) left out") {
		t.Errorf("message = %+v", msg)
	}
	wantTable := strings.Join([]string{
		"         count  detect        acknowledge   mitigate      resolve      ",
		"                p50    p90    p50    p90    p50    p90    p50    p90   ",
		"sev1         2  10m    10m    4m     6m     1h00   1h24   2h00   2h48  ",
		"sev2         4  5m     5m     4m     9m     20m    44m    40m    1h44  ",
		"sev3         2  —             15m    15m    4h00   4h00   4h00   4h00  ",
		"sev4         1  —             1h00   1h00   1d00h  1d00h  1d00h  1d00h ",
		"all          9  8m     10m    6m     29m    50m    12h00  2h00   12h00 ",
	}, "\n")
	if diff := cmp.Diff(strings.Split(wantTable, "\n"), strings.Split(msg.Code, "\n")); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	raw, err := st.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Incidents  int `json:"incidents"`
		Drills     int `json:"drills_left_out"`
		BySeverity []struct {
			Severity string `json:"severity"`
			Resolve  struct {
				N      int    `json:"n"`
				Median *int64 `json:"median_seconds"`
				P90    *int64 `json:"p90_seconds"`
			} `json:"time_to_resolve"`
			Detect struct {
				Median *int64 `json:"median_seconds"`
			} `json:"time_to_detect"`
		} `json:"by_severity"`
		Weeks []struct {
			Start  string         `json:"start"`
			Counts map[string]int `json:"counts"`
		} `json:"weeks"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, raw)
	}
	if doc.Incidents != 9 || doc.Drills != 1 || len(doc.BySeverity) != 5 || len(doc.Weeks) != 6 {
		t.Fatalf("JSON = %s", raw)
	}
	if r := doc.BySeverity[1].Resolve; r.N != 3 || *r.Median != 2400 || *r.P90 != 6240 {
		t.Errorf("sev2 resolve = n %d median %v p90 %v, want 3, 2400, 6240", r.N, *r.Median, *r.P90)
	}
	if doc.BySeverity[2].Detect.Median != nil {
		t.Errorf("sev3 detect median = %v, want null (nothing detected)", *doc.BySeverity[2].Detect.Median)
	}
	if doc.Weeks[1].Start != "2026-02-02" || doc.Weeks[1].Counts["sev2"] != 2 {
		t.Errorf("week 2 = %+v", doc.Weeks[1])
	}
	csvOut, err := st.CSV()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csvOut)), "\n")
	if len(lines) != 6 || lines[0] != "severity,count,open,detect_n,detect_p50_seconds,detect_p90_seconds,acknowledge_n,acknowledge_p50_seconds,"+
		"acknowledge_p90_seconds,mitigate_n,mitigate_p50_seconds,mitigate_p90_seconds,resolve_n,resolve_p50_seconds,resolve_p90_seconds" {
		t.Fatalf("CSV:\n%s", csvOut)
	}
	if lines[3] != "sev3,2,1,0,,,1,900,900,1,14400,14400,1,14400,14400" {
		t.Errorf("sev3 CSV row = %q", lines[3])
	}
}

// TestChartIsAReadablePNG decodes the chart: the expected size, and real
// content (bars in each severity's colour, not a blank canvas).
func TestChartIsAReadablePNG(t *testing.T) {
	st := ComputeStats(statsFixture(), statsTo.AddDate(0, 0, -30), statsTo, time.UTC)
	raw, err := Chart(st)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != ChartWidth || b.Dy() != ChartHeight {
		t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), ChartWidth, ChartHeight)
	}
	counts := map[[3]uint32]int{}
	nonWhite := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := [3]uint32{r >> 8, g >> 8, bl >> 8}
			counts[c]++
			if c != [3]uint32{255, 255, 255} {
				nonWhite++
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	if nonWhite < total/50 {
		t.Errorf("only %d of %d sampled pixels are not white: the chart looks blank", nonWhite, total)
	}
	// Every severity has bars in the fixture.
	for i, c := range sevColors {
		if counts[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}] < 20 {
			t.Errorf("%s bars (colour %v) not found", bot.Severities[i], c)
		}
	}

	// An empty window still draws: axes and titles, no bars.
	empty, err := Chart(ComputeStats(nil, statsTo.AddDate(0, 0, -7), statsTo, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(empty)); err != nil {
		t.Errorf("empty chart is not a PNG: %v", err)
	}
}

// TestStatsCountTheHighestSeverity: an incident counts under the worst
// severity it had — a sev1 lowered to sev3 once mitigated is a sev1 in the
// report and in the time-to-resolve metric, as in its post-mortem; a
// record from before the highest severity was kept counts under its own.
func TestStatsCountTheHighestSeverity(t *testing.T) {
	h := newLearnHarness(t, false)
	a := h.declare("sev1 checkout down")
	h.must("UALICE", a.Channel, "sev sev3")
	h.must("UALICE", a.Channel, "sev sev2")
	b := h.declare("sev3 slow search")
	h.must("UALICE", b.Channel, "sev sev2")
	if got := h.get(a.Key); got.Severity != bot.Sev2 || got.HighestSeverity != bot.Sev1 || got.Highest() != bot.Sev1 {
		t.Errorf("%s: severity %s, highest %s (%s); want sev2, highest sev1", a.Key, got.Severity, got.HighestSeverity, got.Highest())
	}
	if got := h.get(b.Key); got.Highest() != bot.Sev2 {
		t.Errorf("%s: highest %s, want sev2 (raised)", b.Key, got.Highest())
	}
	h.must("UALICE", a.Channel, "resolve back to normal")

	st, err := h.svc.Stats(h.ctx(), 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range st.BySeverity {
		counts[r.Severity] = r.Count
	}
	if counts["sev1"] != 1 || counts["sev2"] != 1 || counts["sev3"] != 0 || counts["all"] != 2 {
		t.Errorf("counts by severity %v, want sev1 1 (lowered later), sev2 1 (raised), sev3 0", counts)
	}
	if n := testutil.CollectAndCount(h.svc.metrics.ttr, "opsbot_incident_time_to_resolve_seconds"); n != 1 {
		t.Fatalf("%d time-to-resolve series, want 1", n)
	}
	if got := testutil.ToFloat64(h.svc.metrics.declared.WithLabelValues("sev1")); got != 1 {
		t.Errorf("declared sev1 = %v, want 1", got)
	}
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(`
# HELP opsbot_incident_time_to_resolve_seconds Time from declaration to resolution, by the highest severity the incident had (drills excluded).
# TYPE opsbot_incident_time_to_resolve_seconds histogram
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="300"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="900"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="1800"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="3600"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="7200"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="14400"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="28800"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="86400"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="259200"} 1
opsbot_incident_time_to_resolve_seconds_bucket{severity="sev1",le="+Inf"} 1
opsbot_incident_time_to_resolve_seconds_sum{severity="sev1"} 0
opsbot_incident_time_to_resolve_seconds_count{severity="sev1"} 1
`), "opsbot_incident_time_to_resolve_seconds"); err != nil {
		t.Error(err)
	}

	// A record written before the highest severity was kept.
	legacy := statInc("L", bot.Sev3, feb(3, 10, 0), 0, min_, min_, min_)
	if got := ComputeStats([]bot.Incident{legacy}, statsTo.AddDate(0, 0, -30), statsTo, time.UTC); got.BySeverity[2].Count != 1 {
		t.Errorf("legacy sev3 record counted %+v, want under sev3", got.BySeverity)
	}
}
