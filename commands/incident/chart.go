package incident

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/opsbot/opsbot/bot"
)

// The chart is drawn for Slack's image preview, which shows a picture at
// roughly 40% of this size in a message: large type, few lines, and the
// severities in the colours of the bot's own severity emoji.
const (
	chartWidthIn  = 8
	chartHeightIn = 6
	chartDPI      = 150
	// ChartWidth and ChartHeight are the PNG's size in pixels.
	ChartWidth  = chartWidthIn * chartDPI
	ChartHeight = chartHeightIn * chartDPI
)

var sevColors = [4]color.RGBA{
	{R: 0xd3, G: 0x2f, B: 0x2f, A: 0xff}, // sev1 red
	{R: 0xf5, G: 0x7c, B: 0x00, A: 0xff}, // sev2 orange
	{R: 0xf9, G: 0xc0, B: 0x2d, A: 0xff}, // sev3 yellow
	{R: 0x9e, G: 0x9e, B: 0x9e, A: 0xff}, // sev4 grey
}

// Chart draws the report as a PNG: incidents per week stacked by severity
// on top, time to resolve per week (median, and p90 dashed) below.
func Chart(st Stats) ([]byte, error) {
	labels := make([]string, len(st.Weeks))
	for i, w := range st.Weeks {
		labels[i] = w.Start.In(st.Zone).Format("Jan 2")
	}
	top, err := countsPlot(st, labels)
	if err != nil {
		return nil, err
	}
	bottom, err := resolvePlot(st, labels)
	if err != nil {
		return nil, err
	}
	img := vgimg.NewWith(vgimg.UseWH(chartWidthIn*vg.Inch, chartHeightIn*vg.Inch), vgimg.UseDPI(chartDPI),
		vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(8),
		PadRight: vg.Points(12), PadY: vg.Points(14)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode stats chart: %w", err)
	}
	return buf.Bytes(), nil
}

func styled(title, ylabel string, labels []string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	// Sans-serif type survives scaling down better than the default serif.
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		st.Font.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Title.Padding = vg.Points(6)
	p.Y.Label.TextStyle.Font.Size = vg.Points(12)
	p.X.Tick.Label.Font.Size = vg.Points(11)
	p.Y.Tick.Label.Font.Size = vg.Points(11)
	p.Legend.TextStyle.Font.Size = vg.Points(11)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(6)
	p.NominalX(labels...)
	if len(labels) > 8 {
		// Thirteen weeks do not fit side by side at preview size.
		p.X.Tick.Label.Rotation = math.Pi / 5
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YTop
	}
	p.Y.Min = 0
	return p
}

func countsPlot(st Stats, labels []string) (*plot.Plot, error) {
	p := styled(fmt.Sprintf("Incidents per week by severity (%d, drills left out)", st.Total), "incidents", labels)
	width := vg.Points(math.Max(8, math.Min(36, 300/float64(max(len(labels), 1)))))
	var below *plotter.BarChart
	maxTotal := 0
	for w := range st.Weeks {
		t := 0
		for _, c := range st.Weeks[w].Counts {
			t += c
		}
		maxTotal = max(maxTotal, t)
	}
	// Worst at the bottom of each stack, where the eye starts.
	for r, sev := range bot.Severities {
		vals := make(plotter.Values, len(st.Weeks))
		for w := range st.Weeks {
			vals[w] = float64(st.Weeks[w].Counts[r])
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("stats chart bars: %w", err)
		}
		bars.Color = sevColors[r]
		bars.LineStyle.Width = 0
		if below != nil {
			bars.StackOn(below)
		}
		below = bars
		p.Add(bars)
		p.Legend.Add(string(sev), bars)
	}
	p.Y.Max = math.Max(1, float64(maxTotal)*1.45) // room for the legend
	p.Y.Tick.Marker = intTicks{}
	alignWeeks(p, len(labels))
	return p, nil
}

func resolvePlot(st Stats, labels []string) (*plot.Plot, error) {
	longest := time.Duration(0)
	for _, w := range st.Weeks {
		longest = max(longest, w.Resolve.P90)
	}
	unit, unitName := time.Hour, "hours"
	if longest < 2*time.Hour {
		unit, unitName = time.Minute, "minutes"
	}
	p := styled("Time to resolve per week (median; p90 dashed)", unitName, labels)
	var med, p90 plotter.XYs
	for i, w := range st.Weeks {
		if w.Resolve.N == 0 {
			continue
		}
		med = append(med, plotter.XY{X: float64(i), Y: float64(w.Resolve.Median) / float64(unit)})
		p90 = append(p90, plotter.XY{X: float64(i), Y: float64(w.Resolve.P90) / float64(unit)})
	}
	if len(med) > 0 {
		l, pts, err := plotter.NewLinePoints(med)
		if err != nil {
			return nil, fmt.Errorf("stats chart line: %w", err)
		}
		l.Color, l.Width = color.RGBA{R: 0x15, G: 0x65, B: 0xc0, A: 0xff}, vg.Points(2.5)
		pts.Color, pts.Radius = l.Color, vg.Points(3.5)
		pts.Shape = draw.CircleGlyph{}
		q, err := plotter.NewLine(p90)
		if err != nil {
			return nil, fmt.Errorf("stats chart line: %w", err)
		}
		q.Color, q.Width, q.Dashes = color.RGBA{R: 0x64, G: 0x9b, B: 0xe0, A: 0xff}, vg.Points(1.8), []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(q, l, pts)
		p.Legend.Add("median", l, pts)
		p.Legend.Add("p90", q)
	} else {
		p.Y.Max = 1
		p.Title.Text = "Time to resolve per week: nothing resolved yet"
	}
	p.Y.Max = math.Max(p.Y.Max*1.3, 1)
	p.Y.Tick.Marker = intTicks{}
	alignWeeks(p, len(labels))
	return p, nil
}

// alignWeeks gives both plots the same x range, one unit per week, so that
// a week's bar and its point sit one above the other.
func alignWeeks(p *plot.Plot, weeks int) {
	p.X.Min, p.X.Max = -0.5, float64(weeks)-0.5
	p.X.Padding = 0
}

// intTicks labels whole numbers only, for counts.
type intTicks struct{}

func (intTicks) Ticks(min, max float64) []plot.Tick {
	step := math.Max(1, math.Ceil((max-min)/6))
	var out []plot.Tick
	for v := math.Ceil(min); v <= max; v += step {
		out = append(out, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return out
}
