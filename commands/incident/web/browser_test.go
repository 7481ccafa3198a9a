package web

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/commands/incident/web/browsertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	browsertest.Stop()
	os.Exit(code)
}

// eval runs a JavaScript expression in the page (DevTools evaluation, which
// the page's CSP does not govern) and decodes its JSON value into T.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// consoleLog collects the browser's log entries (CSP violations among them)
// from now until stop.
func consoleLog(t *testing.T, ctx context.Context) (stop func() []string) {
	t.Helper()
	lctx, cancel := context.WithCancel(ctx)
	entries := chromedp.Events(lctx, cdplog.EntryAdded)
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable log: %v", err)
	}
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range entries {
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(ev.Entry.Source)+"/"+string(ev.Entry.Level)+": "+ev.Entry.Text)
			mu.Unlock()
		}
	}()
	return func() []string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// readerZone makes the tab's browser run in zone, as a reader there would.
func readerZone(t *testing.T, ctx context.Context, zone string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
		t.Fatalf("time zone %s: %v", zone, err)
	}
}

// ourScriptOnly is the page's scripts: 1 when the only one is ours.
const ourScriptOnly = `[...document.scripts].filter(s => s.textContent.includes('resolvedOptions().timeZone')).length * 100 + document.scripts.length`

func TestBrowserIncidentPage(t *testing.T) {
	ctx := browsertest.Tab(t)
	// A reader in the incident's zone: the times stay as the server wrote
	// them (TestBrowserTimesInTheReadersZone has readers elsewhere).
	readerZone(t, ctx, "Europe/Berlin")
	e := newEnv(t, "Europe/Berlin")
	key := e.walk()
	link := e.link(key)

	stopLog := consoleLog(t, ctx)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(link))
	if err != nil {
		t.Fatalf("open %s: %v", link, err)
	}
	if resp.Status != 200 {
		t.Fatalf("status %d, want 200", resp.Status)
	}

	// The hostile title is shown as typed, and its script never ran.
	wantTitle := `INC-1: checkout <script>document.title='pwned'</script> errors`
	if got := eval[string](t, ctx, `document.title`); got != wantTitle {
		t.Errorf("document.title = %q, want %q", got, wantTitle)
	}
	if got := eval[string](t, ctx, `document.querySelector('h1').textContent`); got != `checkout <script>document.title='pwned'</script> errors` {
		t.Errorf("h1 = %q", got)
	}
	inert := eval[map[string]int](t, ctx, `({
		scripts: `+ourScriptOnly+`,
		pwned: document.querySelectorAll('pwned').length,
		imgs: document.images.length,
		bold: document.querySelectorAll('b').length,
		handlers: [...document.querySelectorAll('*')].filter(el => [...el.attributes].some(a => a.name.startsWith('on'))).length,
		badLinks: [...document.querySelectorAll('a')].filter(a => !['http:', 'https:', 'mailto:'].includes(a.protocol)).length,
	})`)
	if diff := cmp.Diff(map[string]int{"scripts": 101, "pwned": 0, "imgs": 0, "bold": 0, "handlers": 0, "badLinks": 0}, inert); diff != "" {
		t.Errorf("injected markup became live (-want +got):\n%s", diff)
	}
	body := eval[string](t, ctx, `document.body.innerText`)
	for _, want := range []string{
		`<img src=x onerror="document.body.appendChild(document.createElement('pwned'))"> <b>unclosed`,
		`<a href="javascript:alert(1)">x</a>`,
		`click me (javascript:document.title='pwned')`,
		`<b onmouseover="document.title='pwned'">Mallory</b> & "co"`,
		`rolling back; "quotes" & <ampersands>`,
		`DiskFull <b>db</b>: Disk <b>full</b> on <!channel>	alertname=DiskFull, instance=<script>document.title='pwned'</script>	2026-03-02 10:58:30 CET	2026-03-02 11:18:00 CET`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page text lacks %q, shown as typed", want)
		}
	}
	// The note's link, and the follow-up's in the timeline and in its table.
	links := eval[[]string](t, ctx, `[...document.querySelectorAll('main a')].map(a => a.href)`)
	if diff := cmp.Diff([]string{"https://grafana.example/d/1?a=1&b=2", "https://wiki.example/runbook", "https://wiki.example/runbook"}, links); diff != "" {
		t.Errorf("links in the page (-want +got):\n%s", diff)
	}

	// The timeline, in order, with its times and types.
	kinds := eval[[]string](t, ctx, `[...document.querySelectorAll('ol.tl li .k')].map(e => e.textContent)`)
	wantKinds := []string{"declared", "role", "alert firing", "role", "milestone", "role", "severity", "note", "message", "note", "update", "runbook", "status", "alert resolved", "resolved", "follow-up"}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("timeline entries (-want +got):\n%s", diff)
	}
	times := eval[[]string](t, ctx, `[...document.querySelectorAll('ol.tl li > time')].map(e => e.textContent + ' ' + e.getAttribute('datetime'))`)
	if len(times) != len(wantKinds) || times[0] != "10:58:00 2026-03-02T09:58:00Z" || times[len(times)-2] != "11:35:00 2026-03-02T10:35:00Z" {
		t.Errorf("timeline times = %v, want Berlin times with UTC datetimes, 10:58:00 to 11:35:00", times)
	}

	// Roles with tenure, milestones with durations.
	roles := eval[[][]string](t, ctx, `[...document.querySelectorAll('#h-roles ~ table tbody tr')].map(tr => [...tr.cells].map(c => c.textContent))`)
	wantRoles := [][]string{
		{"commander", "Alice Adams", "2026-03-02 10:58:00 CET", "2026-03-02 11:00:00 CET", "2m"},
		{"commander", "Bob Brown", "2026-03-02 11:00:00 CET", "2026-03-02 11:35:00 CET", "35m"},
		{"scribe", `<b onmouseover="document.title='pwned'">Mallory</b> & "co"`, "2026-03-02 11:00:00 CET", "2026-03-02 11:35:00 CET", "35m"},
	}
	if diff := cmp.Diff(wantRoles, roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	milestones := eval[[][]string](t, ctx, `[...document.querySelectorAll('#h-overview ~ table tbody tr')].map(tr => [...tr.cells].map(c => c.textContent))`)
	wantMilestones := [][]string{
		{"Declared", "2026-03-02 10:58:00 CET", "—"},
		{"Acknowledged", "2026-03-02 11:00:00 CET", "acknowledge: 2m"},
		{"First commander", "2026-03-02 10:58:00 CET", "commander: 0s"},
		{"Mitigated (monitoring)", "2026-03-02 11:15:00 CET", "mitigate: 17m"},
		{"Resolved", "2026-03-02 11:35:00 CET", "resolve: 37m"},
		{"Duration", "37m"},
	}
	if diff := cmp.Diff(wantMilestones, milestones); diff != "" {
		t.Errorf("milestones (-want +got):\n%s", diff)
	}

	followups := eval[[][]string](t, ctx, `[...document.querySelectorAll('#h-followups ~ table tbody tr')].map(tr => [...tr.cells].map(c => c.textContent))`)
	wantFollowups := [][]string{{"1", `add a <canary> & "alert" the runbook`, `<b onmouseover="document.title='pwned'">Mallory</b> & "co"`, "2026-03-20", "open", "—"}}
	if diff := cmp.Diff(wantFollowups, followups); diff != "" {
		t.Errorf("follow-ups (-want +got):\n%s", diff)
	}

	// The strip is drawn, labelled for screen readers, and styled: the
	// stylesheet's hash in the CSP matched, so the sev1 band is red.
	strip := eval[map[string]string](t, ctx, `({
		label: document.querySelector('svg.strip title').textContent,
		desc: document.querySelector('svg.strip desc').textContent,
		bands: String(document.querySelectorAll('svg.strip rect').length),
		fill: getComputedStyle(document.querySelector('svg.strip rect.sev1')).fill,
		badge: getComputedStyle(document.querySelector('.badge.sev1')).backgroundColor,
	})`)
	if strip["bands"] != "4" || strip["fill"] != "rgb(179, 38, 30)" || strip["badge"] != "rgb(179, 38, 30)" ||
		!strings.Contains(strip["desc"], "sev1 from 11:03:00") || !strings.HasPrefix(strip["label"], "INC-1 from ") {
		t.Errorf("strip = %v, want 4 styled bands with a title and description", strip)
	}

	// A screenshot of what a reader sees.
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, shot)

	if msgs := stopLog(); len(msgs) > 0 {
		t.Errorf("browser log has entries (a CSP violation or a failed request?):\n%s", strings.Join(msgs, "\n"))
	}

	// The post-mortem is one click away with the same signature.
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`nav a[href*="postmortem"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 {
		t.Fatalf("post-mortem status %d, want 200", resp.Status)
	}
	pm := eval[map[string]any](t, ctx, `({
		title: document.title,
		headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
		entries: document.querySelectorAll('ol.tl li').length,
		scripts: `+ourScriptOnly+`,
	})`)
	wantHeadings := []any{"Overview", "Description", "Resolution", "Severity history", "Status history", "Roles", "Timeline",
		"Runbooks run", "Pages", "Alerts", "Participants", "Root cause", "Contributing factors", "What went well, what did not", "Action items"}
	if pm["title"] != "INC-1 post-mortem: "+strings.TrimPrefix(wantTitle, "INC-1: ") || pm["entries"] != float64(len(wantKinds)) || pm["scripts"] != float64(101) {
		t.Errorf("post-mortem = %v", pm)
	}
	if diff := cmp.Diff(wantHeadings, pm["headings"]); diff != "" {
		t.Errorf("post-mortem sections (-want +got):\n%s", diff)
	}
}

// checkScreenshot decodes a PNG and checks that it shows a page: full size,
// mostly background, but with text and the sev1 colour on it.
func checkScreenshot(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Fatalf("screenshot is %dx%d, want at least 800x600", b.Dx(), b.Dy())
	}
	var ink, red int
	colours := map[uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r < 200 || g < 200 || bl < 200 {
				ink++
			}
			if near(r, 179) && near(g, 38) && near(bl, 30) {
				red++
			}
			if len(colours) < 1000 {
				colours[r<<16|g<<8|bl] = true
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	if ink*100 < total*2 || len(colours) < 20 || red == 0 {
		t.Errorf("screenshot looks blank: %d of %d sampled pixels inked, %d colours, %d sev1-red pixels", ink, total, len(colours), red)
	}
	if dir := os.Getenv("OPSBOT_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(dir+"/"+strings.ReplaceAll(t.Name(), "/", "_")+".png", shot, 0o644)
	}
}

func near(v, want uint32) bool { return v+6 >= want && v <= want+6 }

func TestBrowserRefusesExpiredAndTamperedLinks(t *testing.T) {
	ctx := browsertest.Tab(t)
	e := newEnv(t, "UTC")
	e.cmd("U0ALICE", "C0GENERAL", "declare sev3 disk full")
	e.cmd("U0ALICE", "C0GENERAL", "declare sev3 second one")
	link := e.link("INC-1")
	i := strings.Index(link, "sig=") + len("sig=")
	flip := map[byte]byte{'A': 'B'}[link[i]]
	if flip == 0 {
		flip = 'A'
	}
	tampered := link[:i] + string(flip) + link[i+1:]

	tests := []struct {
		name string
		url  string
		want string
	}{
		{"tampered signature", tampered, "This link is not valid"},
		{"another incident", strings.Replace(link, "/INC-1?", "/INC-2?", 1), "This link is not valid"},
		{"no signature", link[:strings.Index(link, "?")], "This link is not valid"},
		{"later expiry", strings.Replace(link, "exp=", "exp=9", 1), "This link is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRefused(t, ctx, tt.url, tt.want)
		})
	}
	t.Run("expired", func(t *testing.T) {
		e.clock.Add(7*24*time.Hour + time.Second)
		checkRefused(t, ctx, link, "This link has expired")
	})
}

func checkRefused(t *testing.T, ctx context.Context, url, want string) {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	if resp.Status != 403 {
		t.Errorf("status %d, want 403", resp.Status)
	}
	got := eval[map[string]any](t, ctx, `({h1: document.querySelector('h1').textContent, text: document.body.innerText, scripts: document.scripts.length})`)
	if got["h1"] != want || strings.Contains(got["text"].(string), "disk full") || got["scripts"] != float64(0) {
		t.Errorf("refusal page = %v, want %q and nothing of the incident", got, want)
	}
}

// TestBrowserTimesInTheReadersZone: a reader in New York sees the page's
// times in New York time (the UTC column as it was), and one on Kiritimati,
// 14 hours ahead, sees the timeline regrouped under the days there; with
// JavaScript off, the page shows the incident's zone as the server wrote it.
func TestBrowserTimesInTheReadersZone(t *testing.T) {
	e := newEnv(t, "Europe/Berlin")
	key := e.walk()
	link := e.link(key)
	open := func(t *testing.T, ctx context.Context) {
		t.Helper()
		stopLog := consoleLog(t, ctx)
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(link))
		if err != nil || resp.Status != 200 {
			t.Fatalf("open: %v %v", resp, err)
		}
		if msgs := stopLog(); len(msgs) > 0 {
			t.Errorf("browser log has entries (the CSP refused the script?):\n%s", strings.Join(msgs, "\n"))
		}
	}
	type view struct {
		Days     []string   `json:"days"`
		Rows     [][]string `json:"rows"`
		Declared string     `json:"declared"`
		Zone     []string   `json:"zone"`
		Ticks    []string   `json:"ticks"`
	}
	read := func(t *testing.T, ctx context.Context) view {
		return eval[view](t, ctx, `({
			days: [...document.querySelectorAll('ol.tl')].map(ol => ol.previousElementSibling.querySelector('time').getAttribute('datetime') + ' ' + ol.children.length),
			rows: [...document.querySelectorAll('ol.tl li')].map(li => [li.querySelector('time').textContent, li.querySelector('.utc').textContent, li.querySelector('.k').textContent]),
			declared: [...document.querySelectorAll('#h-overview ~ table tbody tr')].find(tr => tr.cells[0].textContent === 'Declared').cells[1].textContent,
			zone: [...document.querySelectorAll('.zone')].map(z => z.textContent),
			ticks: [...document.querySelectorAll('svg.strip text.tk')].map(t => t.textContent),
		})`)
	}

	t.Run("New York", func(t *testing.T) {
		ctx := browsertest.Tab(t)
		readerZone(t, ctx, "America/New_York")
		open(t, ctx)
		v := read(t, ctx)
		if diff := cmp.Diff([]string{"2026-03-02 16"}, v.Days); diff != "" {
			t.Errorf("days (-want +got):\n%s", diff)
		}
		if len(v.Rows) != 16 || v.Rows[0][0] != "04:58:00" || v.Rows[0][1] != "09:58:00" || v.Rows[0][2] != "declared" ||
			v.Rows[14][0] != "05:35:00" || v.Rows[14][2] != "resolved" {
			t.Errorf("rows %v, want New York times from 04:58:00 with UTC beside them", v.Rows)
		}
		if v.Declared != "2026-03-02 04:58:00 EST" {
			t.Errorf("declared %q, want New York time", v.Declared)
		}
		for _, z := range v.Zone {
			if z != "America/New_York (your browser's time zone)" {
				t.Errorf("zone note %q", z)
			}
		}
		if len(v.Ticks) == 0 || v.Ticks[0] != "05:00" {
			t.Errorf("strip axis %v, want New York times from 05:00", v.Ticks)
		}
	})
	t.Run("Kiritimati", func(t *testing.T) {
		ctx := browsertest.Tab(t)
		readerZone(t, ctx, "Pacific/Kiritimati")
		open(t, ctx)
		v := read(t, ctx)
		// 09:58 to 10:35 UTC is 23:58 on 2 March to 00:35 on 3 March there.
		if diff := cmp.Diff([]string{"2026-03-02 3", "2026-03-03 13"}, v.Days); diff != "" {
			t.Errorf("days (-want +got):\n%s", diff)
		}
		kinds := make([]string, len(v.Rows))
		for i, r := range v.Rows {
			kinds[i] = r[2]
		}
		if len(v.Rows) != 16 || v.Rows[0][0] != "23:58:00" || v.Rows[3][0] != "00:00:00" || kinds[0] != "declared" || kinds[15] != "follow-up" {
			t.Errorf("rows %v, want the same order, 23:58:00 to 00:35:00", v.Rows)
		}
	})
	t.Run("without JavaScript", func(t *testing.T) {
		ctx := browsertest.Tab(t)
		readerZone(t, ctx, "America/New_York")
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(link)); err != nil {
			t.Fatal(err)
		}
		v := read(t, ctx)
		if diff := cmp.Diff([]string{"2026-03-02 16"}, v.Days); diff != "" {
			t.Errorf("days (-want +got):\n%s", diff)
		}
		if len(v.Rows) != 16 || v.Rows[0][0] != "10:58:00" || v.Declared != "2026-03-02 10:58:00 CET" || v.Zone[0] != "Europe/Berlin" {
			t.Errorf("without JavaScript: %+v, want the incident's zone", v)
		}
	})
}
