package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/incident/web/browsertest"
)

// bigIncident declares an incident and gives it n more timeline events of
// every kind, spread over about ten hours, as a long sev1 would have:
// notes and updates with mentions and links, pinned messages with
// permalinks, runbook runs, pages, role changes and severity and status
// changes. It returns the incident's key.
func (e *env) bigIncident(tb testing.TB, n int) string {
	tb.Helper()
	e.cmd("U0ALICE", "C0GENERAL", "declare sev2 checkout latency in eu-west")
	key := "INC-1"
	start := e.clock.Now()
	step := 10 * time.Hour / time.Duration(n)
	sevs := []string{"sev2", "sev1", "sev2", "sev3"}
	people := []string{"U0ALICE", "U0BOB", "U0CAROL"}
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i+1) * step)
		who := people[i%len(people)]
		ev := bot.TimelineEvent{Incident: key, Actor: who, Time: at}
		switch {
		case i%2500 == 1249:
			ev.Type, ev.Details = bot.TLSeverityChanged, map[string]string{"from": sevs[(i/2500)%4], "to": sevs[(i/2500+1)%4]}
		case i%3333 == 3332:
			ev.Type, ev.Details = bot.TLStatusChanged, map[string]string{"from": "investigating", "to": []string{"identified", "monitoring", "investigating"}[(i/3333)%3]}
		case i%1000 == 999:
			ev.Type, ev.Details = bot.TLRoleAssigned, map[string]string{"role": "commander", "user": people[(i/1000)%3], "previous": people[(i/1000+2)%3]}
		case i%10 == 3:
			ev.Type, ev.Text = bot.TLUpdate, fmt.Sprintf("p99 at %d ms, error rate %d.%d%%; next update in 15 minutes", 800+i%400, i%7, i%10)
		case i%10 == 5:
			ev.Type, ev.Text = bot.TLPinned, fmt.Sprintf("saw a spike on <https://grafana.example/d/abc?from=%d|the latency dashboard> for <@U0BOB>", i)
			ev.Details = map[string]string{"permalink": fmt.Sprintf("https://example.slack.com/archives/C1/p%d", 1700000000+i), "channel": "C1", "ts": fmt.Sprint(1700000000 + i), "pinned_by": "U0CAROL"}
		case i%50 == 7:
			ev.Type, ev.Text = bot.TLRunbook, "restart-deployment"
			ev.Details = map[string]string{"runbook": "restart-deployment", "event": string(bot.AuditFinished), "exit_code": "0", "duration": "12s"}
		case i%500 == 11:
			ev.Type, ev.Text = bot.TLPage, "checkout is degraded"
			ev.Details = map[string]string{"service": "checkout", "url": "https://example.pagerduty.com/incidents/Q1", "assignees": "Dana Lead"}
		default:
			ev.Type, ev.Text = bot.TLNote, fmt.Sprintf("checked node %d of the pool: cpu %d%%, gc pauses normal; asked <@U0CAROL> to look at &lt;conn pool&gt;", i%40, 30+i%60)
		}
		e.appendEvent(ev)
	}
	e.clock.Add(10*time.Hour + time.Minute)
	e.cmd("U0BOB", e.channelOf(key), "resolve scaled the pool")
	return key
}

// reportCPU reports this process's CPU time per iteration since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkRender10k renders both pages of a 10,000-event incident from its
// Document: the server's own work once the data is read.
func BenchmarkRender10k(b *testing.B) {
	e := newEnv(b, "Europe/Berlin")
	key := e.bigIncident(b, 10000)
	doc, err := e.svc.Document(e.ctx(), key)
	if err != nil {
		b.Fatal(err)
	}
	for _, page := range []string{"incident", "postmortem"} {
		b.Run(page, func(b *testing.B) {
			var size int
			cpu := processCPU()
			for b.Loop() {
				out, err := render(page, buildView(doc), 320*len(doc.Events))
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(size)/1e6, "MB/page")
		})
	}
}

// BenchmarkPage10k is the whole request for a 10,000-event incident:
// signature, reading the incident and its timeline from Redis, names,
// rendering, over HTTP on loopback. cpu-ms/op is the process's CPU time
// (the HTTP client reading the page included); ms-to-first-byte the server
// time as the client sees it, since a page is rendered whole before its
// first byte is written.
func BenchmarkPage10k(b *testing.B) {
	e := newEnv(b, "Europe/Berlin")
	key := e.bigIncident(b, 10000)
	link := e.link(key)
	var size int
	var ttfb time.Duration
	cpu := processCPU()
	for b.Loop() {
		var sent time.Time
		var first time.Duration
		trace := &httptrace.ClientTrace{
			WroteRequest:         func(httptrace.WroteRequestInfo) { sent = time.Now() },
			GotFirstResponseByte: func() { first = time.Since(sent) },
		}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, link, nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		ttfb += first
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		size = int(n)
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(ttfb.Microseconds())/1e3/float64(b.N), "ms-to-first-byte")
	b.ReportMetric(float64(size)/1e6, "MB/page")
}

// BenchmarkBrowserLoad10k opens the page of a 10,000-event incident in
// headless Chromium and reports the time from navigation start to the end
// of the load event, as the browser measures it.
func BenchmarkBrowserLoad10k(b *testing.B) {
	ctx := browsertest.Tab(b)
	e := newEnv(b, "Europe/Berlin")
	key := e.bigIncident(b, 10000)
	link := e.link(key)
	var total float64
	n := 0
	for b.Loop() {
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(link)); err != nil {
			b.Fatal(err)
		}
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByType('navigation')[0].loadEventEnd`))
		if err != nil {
			b.Fatal(err)
		}
		total += ms
		n++
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('ol.tl li').length`))
	if err != nil || rows != 10003 {
		b.Fatalf("rendered %d timeline rows (%v), want 10003", rows, err)
	}
	b.ReportMetric(total/float64(n), "ms-to-load")
}
