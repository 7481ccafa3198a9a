package web

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/weblink"
)

var wantHeaders = map[string]string{
	"Content-Security-Policy": contentSecurityPolicy,
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"Cache-Control":           "private, no-store",
	"X-Frame-Options":         "DENY",
	"Content-Type":            "text/html; charset=utf-8",
}

func checkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for k, want := range wantHeaders {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s %s: header %s = %q, want %q", resp.Request.Method, resp.Request.URL.Path, k, got, want)
		}
	}
}

// TestCSPAllowsOnlyOurStylesheetAndScript: the policy names the page's
// stylesheet and its one script by hash and allows nothing else, and the
// page carries exactly those bytes (a hash that does not match would leave
// the page unstyled, or the times unconverted, without a failing test).
func TestCSPAllowsOnlyOurStylesheetAndScript(t *testing.T) {
	for _, want := range []string{"default-src 'none'", "style-src " + hashSource(styleSheet), "script-src " + hashSource(localTimeJS),
		"base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(contentSecurityPolicy, want) {
			t.Errorf("CSP %q lacks %q", contentSecurityPolicy, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "'self'", "*", "http", "data:;"} {
		if strings.Contains(strings.ReplaceAll(contentSecurityPolicy, "img-src data:;", ""), bad) {
			t.Errorf("CSP %q allows %q", contentSecurityPolicy, bad)
		}
	}
	e := newEnv(t, "Europe/Berlin")
	key := e.walk()
	for _, page := range []string{"", "/postmortem"} {
		_, body := get(t, strings.Replace(e.link(key), "/"+key+"?", "/"+key+page+"?", 1))
		scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(body, -1)
		styles := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(body, -1)
		if len(scripts) != 1 || hashSource(scripts[0][1]) != hashSource(localTimeJS) {
			t.Errorf("page %q: %d scripts, or not the bytes the CSP allows", page, len(scripts))
		}
		if len(styles) != 1 || hashSource(styles[0][1]) != hashSource(styleSheet) {
			t.Errorf("page %q: %d stylesheets, or not the bytes the CSP allows", page, len(styles))
		}
	}
}

func TestPagesAnswerOnlySignedLinks(t *testing.T) {
	e := newEnv(t, "UTC")
	e.cmd("U0ALICE", "C0GENERAL", "declare sev3 disk full")
	e.cmd("U0ALICE", "C0GENERAL", "declare sev4 second")
	link := e.link("INC-1")
	u, _ := url.Parse(link)
	q := u.Query()
	// A link for an incident that was never there, correctly signed.
	ghostQ, _, err := e.signer.Sign(Scope, "INC-99")
	if err != nil {
		t.Fatal(err)
	}
	otherScope, _, _ := e.signer.Sign("stats", "INC-1")
	base := e.srv.URL + PathPrefix
	tamper := func(k, v string) string {
		c := url.Values{"exp": {q.Get("exp")}, "sig": {q.Get("sig")}}
		c.Set(k, v)
		return c.Encode()
	}
	tests := []struct {
		name   string
		method string
		url    string
		code   int
		want   string
	}{
		{"incident page", "GET", link, 200, "<h1>disk full</h1>"},
		{"post-mortem page", "GET", base + "INC-1/postmortem?" + q.Encode(), 200, "Root cause"},
		{"head", "HEAD", link, 200, ""},
		{"no signature", "GET", base + "INC-1", 403, "This link is not valid"},
		{"tampered signature", "GET", base + "INC-1?" + tamper("sig", strings.Repeat("A", 43)), 403, "This link is not valid"},
		{"tampered expiry", "GET", base + "INC-1?" + tamper("exp", q.Get("exp")+"0"), 403, "This link is not valid"},
		{"another incident's link", "GET", base + "INC-2?" + q.Encode(), 403, "This link is not valid"},
		{"key spelled otherwise", "GET", base + "inc-1?" + q.Encode(), 403, "This link is not valid"},
		{"another scope's link", "GET", base + "INC-1?" + otherScope.Encode(), 403, "This link is not valid"},
		{"signed for a missing incident", "GET", base + "INC-99?" + ghostQ.Encode(), 404, "No such incident"},
		{"unknown page", "GET", base + "INC-1/secrets?" + q.Encode(), 404, "Not found"},
		{"elsewhere", "GET", e.srv.URL + "/metrics", 404, "Not found"},
		{"post", "POST", link, 405, "Method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.code)
			}
			checkHeaders(t, resp)
			if !strings.Contains(body, tt.want) {
				t.Errorf("body lacks %q:\n%s", tt.want, body)
			}
			if tt.code == 403 && strings.Contains(body, "disk full") {
				t.Error("a refused link shows the incident")
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		e.clock.Add(weblink.DefaultValidity)
		resp, body := get(t, link)
		if resp.StatusCode != 403 || !strings.Contains(body, "This link has expired") || strings.Contains(body, "disk full") {
			t.Errorf("got %d:\n%s", resp.StatusCode, body)
		}
		checkHeaders(t, resp)
	})
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestStoreDownAnswers503: a valid link while Redis is down gets a plain
// "try again", not an error page with details.
func TestStoreDownAnswers503(t *testing.T) {
	srv := redistest.NewServer(t, redistest.WithAppendOnly())
	e := newEnvOn(t, "UTC", srv.Client())
	e.cmd("U0ALICE", "C0GENERAL", "declare sev3 disk full")
	link := e.link("INC-1")
	srv.Stop()
	resp, body := get(t, link)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Temporarily unavailable") {
		t.Errorf("got %d %v:\n%s", resp.StatusCode, resp.Header, body)
	}
	if strings.Contains(body, "redis") || strings.Contains(body, srv.Addr()) {
		t.Errorf("the page tells the reader about our insides:\n%s", body)
	}
	srv.Start()
	if resp, _ := get(t, link); resp.StatusCode != 200 {
		t.Errorf("after Redis is back: %d, want 200", resp.StatusCode)
	}
}

func TestIncidentLinkUsesThePublicURL(t *testing.T) {
	signer, err := weblink.New(weblink.Config{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Documents: nil, Signer: signer, PublicURL: "https://ops.example.com/opsbot/"})
	if err == nil {
		t.Fatal("New without Documents succeeded")
	}
	e := newEnv(t, "UTC")
	s, err = New(Config{Documents: e.svc, Signer: signer, PublicURL: "https://ops.example.com/opsbot/", Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	link, expires, err := s.IncidentLink(context.Background(), "inc-42")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^https://ops\.example\.com/opsbot/incidents/INC-42\?exp=\d+&sig=[A-Za-z0-9_-]{43}$`).MatchString(link) {
		t.Errorf("link %q", link)
	}
	if d := time.Until(expires); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour {
		t.Errorf("expires in %s, want 7 days", d)
	}
	if _, _, err := s.IncidentLink(context.Background(), "../../etc"); err == nil {
		t.Error("a link for a key that is not one was made")
	}
}

func TestParsePublicURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://ops.example.com":          "https://ops.example.com",
		"https://ops.example.com/":         "https://ops.example.com",
		"http://127.0.0.1:8081/opsbot/":    "http://127.0.0.1:8081/opsbot",
		"":                                 "error",
		"ops.example.com":                  "error",
		"javascript:alert(1)":              "error",
		"https://user:pw@ops.example.com":  "error",
		"https://ops.example.com/?next=1":  "error",
		"https://ops.example.com/#section": "error",
	} {
		u, err := ParsePublicURL(raw)
		got := "error"
		if err == nil {
			got = u.String()
		}
		if got != want {
			t.Errorf("ParsePublicURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		in   string
		want []seg
	}{
		{"plain words", []seg{{Text: "plain words"}}},
		{"a &lt;b&gt; &amp; c", []seg{{Text: "a <b> & c"}}},
		{"see <https://x.example/a?b=1&amp;c=2|the dash> now", []seg{{Text: "see "}, {Text: "the dash", Href: "https://x.example/a?b=1&c=2"}, {Text: " now"}}},
		{"<https://x.example>", []seg{{Text: "https://x.example", Href: "https://x.example"}}},
		{"<mailto:ops@example.com|mail us>", []seg{{Text: "mail us", Href: "mailto:ops@example.com"}}},
		{"<javascript:alert(1)|click>", []seg{{Text: "click (javascript:alert(1))"}}},
		{"<data:text/html,hi|x>", []seg{{Text: "x (data:text/html,hi)"}}},
		{"<https://good.example@evil.example|bank>", []seg{{Text: "bank (https://good.example@evil.example)"}}},
		{"<//evil.example|x>", []seg{{Text: "x (//evil.example)"}}},
		{"hi <@U0BOB|bob> and <!here> in <#C1|ops>", []seg{{Text: "hi "}, {Text: "@bob"}, {Text: " and "}, {Text: "@here"}, {Text: " in "}, {Text: "#ops"}}},
		{"run `restart &lt;x&gt;` then `", []seg{{Text: "run "}, {Text: "restart <x>", Code: true}, {Text: " then `"}}},
		{"<!date^1700000000^{date}|Nov 14>", []seg{{Text: "Nov 14"}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, segments(tt.in)); diff != "" {
			t.Errorf("segments(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// TestPostmortemPageAgreesWithTheExport: every time and duration the
// Markdown export states is on the post-mortem page, and both list the same
// timeline: they are made from one Document.
func TestPostmortemPageAgreesWithTheExport(t *testing.T) {
	e := newEnv(t, "America/New_York")
	key := e.walk()
	md, err := e.svc.Export(e.ctx(), key, "md")
	if err != nil {
		t.Fatal(err)
	}
	link := e.link(key)
	_, page := get(t, strings.Replace(link, "/"+key+"?", "/"+key+"/postmortem?", 1))
	text := html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, " "))
	text = strings.Join(strings.Fields(text), " ")

	stamps := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{3,4}`).FindAllString(string(md), -1)
	durations := regexp.MustCompile(`\| (\d+[dhms](?: \d+[hms])*) \|`).FindAllStringSubmatch(string(md), -1)
	if len(stamps) < 20 || len(durations) < 5 {
		t.Fatalf("the export has %d times and %d durations; the walk should give more", len(stamps), len(durations))
	}
	for _, s := range stamps {
		if !strings.Contains(text, s) && !strings.Contains(page, strings.Fields(s)[1]) {
			t.Errorf("the export's time %q is not on the page", s)
		}
	}
	for _, d := range durations {
		if !strings.Contains(text, " "+d[1]+" ") {
			t.Errorf("the export's duration %q is not on the page", d[1])
		}
	}
	mdEntries := strings.Count(string(md), "\n- **")
	if got := strings.Count(page, "<li class=\"t-"); got != mdEntries {
		t.Errorf("page has %d timeline entries, the export %d", got, mdEntries)
	}
	// The same sections, in the same order.
	mdHeadings := regexp.MustCompile(`(?m)^## (.+)$`).FindAllStringSubmatch(string(md), -1)
	pageHeadings := regexp.MustCompile(`<h2 id="[^"]*">([^<]+)</h2>`).FindAllStringSubmatch(page, -1)
	var want, got []string
	for _, h := range mdHeadings {
		want = append(want, h[1])
	}
	for _, h := range pageHeadings {
		got = append(got, html.UnescapeString(h[1]))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sections of the export and the page (-export +page):\n%s", diff)
	}
	// The alerts table's full times (the timeline shows only the clock).
	_, alertsMD, _ := strings.Cut(string(md), "## Alerts")
	alertsMD, _, _ = strings.Cut(alertsMD, "## ")
	alertStamps := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{3,4}`).FindAllString(alertsMD, -1)
	if len(alertStamps) != 2 {
		t.Fatalf("the export's Alerts table has %d times, want 2:\n%s", len(alertStamps), alertsMD)
	}
	_, alertsPage, _ := strings.Cut(text, " Alerts Alert Labels Fired Resolved ")
	for _, s := range alertStamps {
		if !strings.Contains(alertsPage, s) {
			t.Errorf("the export's alert time %q is not in the page's Alerts table", s)
		}
	}
}

// TestDrillsAndDetectionShow: a drill is marked as one, and an incident
// detected before it was declared shows when, as the export does.
func TestDrillsAndDetectionShow(t *testing.T) {
	e := newEnv(t, "UTC")
	e.cmd("U0ALICE", "C0GENERAL", "declare --drill sev1 region failover")
	_, body := get(t, e.link("INC-1"))
	if !strings.Contains(body, `<span class="badge drill"`) {
		t.Errorf("drill page has no drill badge:\n%s", body)
	}
	// Until the alerts family declares incidents from alert groups, the
	// detection time is set on the record as it will.
	e.cmd("U0ALICE", "C0GENERAL", "declare sev2 HighLatency &lt;checkout&gt;")
	if _, err := e.store.Update(e.ctx(), "INC-2", func(inc *bot.Incident) error {
		inc.DetectedAt = t0.Add(-4 * time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, strings.Replace(e.link("INC-2"), "/INC-2?", "/INC-2/postmortem?", 1))
	for _, want := range []string{"<h1>HighLatency &lt;checkout&gt;</h1>", "Detected", "2026-03-02 09:54:00 UTC</time> (time to detect: 4m)"} {
		if !strings.Contains(body, want) {
			t.Errorf("post-mortem lacks %q", want)
		}
	}
	if strings.Contains(body, "badge drill") {
		t.Error("a real incident is marked as a drill")
	}
}

// TestMetrics: requests are counted by page and answer, renders timed by
// page, under the names the README gives.
func TestMetrics(t *testing.T) {
	e := newEnv(t, "UTC")
	e.cmd("U0ALICE", "C0GENERAL", "declare sev3 disk full")
	reg := prometheus.NewRegistry()
	s, err := New(Config{Documents: e.svc, Signer: e.signer, PublicURL: "http://127.0.0.1/", Registerer: reg, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	link, _, err := s.IncidentLink(e.ctx(), "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	link = strings.Replace(link, "http://127.0.0.1", srv.URL, 1)
	for _, u := range []string{link, link, srv.URL + "/incidents/INC-1"} {
		get(t, u)
	}
	if got := testutil.ToFloat64(s.requests.WithLabelValues("incident", "200")); got != 2 {
		t.Errorf("opsbot_web_requests_total{page=incident,code=200} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(s.requests.WithLabelValues("incident", "403")); got != 1 {
		t.Errorf("opsbot_web_requests_total{page=incident,code=403} = %v, want 1", got)
	}
	n, err := testutil.GatherAndCount(reg, "opsbot_web_requests_total", "opsbot_web_render_seconds")
	if err != nil || n != 3 {
		t.Errorf("gathered %d series (%v), want 2 request counters and 1 render histogram", n, err)
	}
}
