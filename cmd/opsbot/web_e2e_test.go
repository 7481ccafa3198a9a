package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/commands/incident/web"
	"github.com/opsbot/opsbot/commands/incident/web/browsertest"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

const testLinkKey = "e2e-link-key-e2e-link-key-e2e-link-key"

var linkRe = regexp.MustCompile(`https?://[^\s|>]+/incidents/INC-\d+\?exp=\d+&sig=[A-Za-z0-9_-]+`)

// TestBinaryWebView runs the real binary in Socket Mode with the web view
// on a listener of its own: /incident link in the incident's channel gives
// a signed link, and a real Chromium opens it and shows the incident from
// Redis; the metrics stay off that listener, and the key stays out of the
// logs.
func TestBinaryWebView(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tab := browsertest.Own(t)
	rs := redistest.NewServer(t)
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice", RealName: "Alice Example", Email: "alice@example.com"})
	general := fs.AddChannel("general", alice)
	httpAddr, webAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "opsbot.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("admins: [%s]\nredis: {spool_dir: %s}\nweb:\n  link_validity: 48h\n", alice, filepath.Join(dir, "spool"))), 0o600)

	cmd := exec.Command(buildBinary(t))
	cmd.Env = append(os.Environ(),
		"SLACK_APP_TOKEN="+fs.AppToken(), "SLACK_BOT_TOKEN="+fs.BotToken(), "SLACK_API_URL="+fs.APIURL(),
		"REDIS_URL="+rs.URL(), "OPSBOT_HTTP_ADDR="+httpAddr, "OPSBOT_CONFIG="+cfgFile, "OPSBOT_LOG_LEVEL=debug",
		"OPSBOT_WEB_ADDR="+webAddr, "OPSBOT_PUBLIC_URL=http://"+webAddr+"/", "OPSBOT_LINK_KEY="+testLinkKey)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ctx := testCtx(t)
	if err := fs.WaitConnections(ctx, 1); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}

	slash := func(channel, text string) {
		t.Helper()
		sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: text, UserID: alice, ChannelID: channel})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.WaitAck(ctx, sent.EnvelopeID); err != nil {
			t.Fatal(err)
		}
	}
	waitEphemeral := func(channel, text string) string {
		t.Helper()
		var found string
		if err := fs.WaitUntil(ctx, func() bool {
			for _, e := range fs.Ephemerals(channel, alice) {
				if r := e.Rendered(); strings.Contains(r, text) {
					found = r
					return true
				}
			}
			return false
		}); err != nil {
			t.Fatalf("no ephemeral containing %q: %v\n%s", text, err, logs.String())
		}
		return found
	}
	slash(general, "declare sev2 checkout &lt;script&gt;document.title='pwned'&lt;/script&gt;")
	waitEphemeral(general, "Declared INC-1")
	ch, ok := fs.ChannelByName("inc-1-checkout-script-document-title-pwned-script")
	if !ok {
		t.Fatalf("no incident channel among %v", fs.Channels())
	}
	slash(ch.ID, "note rolled back &lt;img src=x onerror=alert(1)&gt;")
	waitEphemeral(ch.ID, "Added to the INC-1 timeline")
	slash(ch.ID, "link")
	link := linkRe.FindString(waitEphemeral(ch.ID, "web page"))
	if !strings.HasPrefix(link, "http://"+webAddr+"/incidents/INC-1?") {
		t.Fatalf("link %q, want one on the web listener %s", link, webAddr)
	}

	resp, err := chromedp.Run(tab, chromedp.NavigateResponse(link))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Headers["Content-Security-Policy"] == nil {
		t.Fatalf("status %d headers %v, want 200 with a CSP", resp.Status, resp.Headers)
	}
	title, err := chromedp.Run(tab, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if want := "INC-1: checkout <script>document.title='pwned'</script>"; title != want {
		t.Errorf("title %q, want %q", title, want)
	}
	kinds, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('ol.tl li .k')].map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	// The commander's note is also the incident's acknowledgement.
	if strings.Join(kinds, ",") != "declared,role,note,milestone" {
		t.Errorf("timeline %v, want declared, role, note, milestone", kinds)
	}
	// One script, the page's own (it shows times in the reader's zone),
	// and no image: the note's markup is text.
	inert, err := chromedp.Run(tab, chromedp.Evaluate[int](
		`document.scripts.length * 10 + [...document.scripts].filter(s => s.textContent.includes('resolvedOptions().timeZone')).length + document.images.length * 100`))
	if err != nil || inert != 11 {
		t.Errorf("scripts and images on the page: %d (%v), want only the page's own script", inert, err)
	}
	// A link with its expiry moved is refused.
	tampered := strings.Replace(link, "exp=", "exp=1", 1)
	if resp, err := chromedp.Run(tab, chromedp.NavigateResponse(tampered)); err != nil || resp.Status != 403 {
		t.Errorf("tampered link: %v %v, want 403", resp, err)
	}

	// The pages have their own listener: no metrics there, no pages on
	// the metrics listener.
	for _, c := range []struct {
		url  string
		want int
	}{{"http://" + webAddr + "/metrics", 404}, {"http://" + httpAddr + "/incidents/INC-1?" + strings.SplitN(link, "?", 2)[1], 404},
		{"http://" + httpAddr + "/metrics", 200}} {
		r, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, r.StatusCode, c.want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v, want 0\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("no exit 40s after SIGTERM\n%s", logs.String())
	}
	out := logs.String()
	if strings.Contains(out, testLinkKey) || strings.Contains(out, strings.SplitN(link, "sig=", 2)[1]) {
		t.Error("the link key or a link's signature appears in the logs")
	}
	if !strings.Contains(out, `"web link given"`) || !strings.Contains(out, `"web link refused"`) {
		t.Errorf("logs lack the links given and refused:\n%s", out)
	}
}

// TestE2EWebPageButton: the pinned summary's Web page button gives the
// clicker a link, and the pages share the HTTP listener when they have none
// of their own.
func TestE2EWebPageButton(t *testing.T) {
	w := newWorld(t)
	httpAddr := freeAddr(t)
	b := w.startBot(t, botOptions{Env: map[string]string{"OPSBOT_PUBLIC_URL": "http://" + httpAddr, "OPSBOT_LINK_KEY": testLinkKey}})
	if b.App.web == nil {
		t.Fatal("web view not built with a public URL and a key")
	}
	if _, _, err := serveHTTP(testCtx(t), httpAddr, newRegistry(), nil, nil, zaptest.NewLogger(t), route{web.PathPrefix, b.App.web}); err != nil {
		t.Fatal(err)
	}
	if err := w.Slack.WaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	w.slash(t, alice, w.General, "/incident", "declare sev3 disk full")
	w.ephemeralContaining(t, w.General, alice, "Declared INC-1")
	ch, _ := w.Slack.ChannelByName("inc-1-disk-full")
	var summaryTS string
	w.waitFor(t, "the pinned summary", func() bool {
		pins := w.Slack.Pins(ch.ID)
		if len(pins) > 0 {
			summaryTS = pins[0]
		}
		return summaryTS != ""
	})
	summary, _ := w.Slack.Message(ch.ID, summaryTS)
	if !strings.Contains(string(summary.Blocks), incident.ActionWebLink) {
		t.Fatalf("summary has no Web page button: %s", summary.Blocks)
	}
	if _, err := w.Slack.SendBlockAction(fakeslack.BlockAction{UserID: bob, ChannelID: ch.ID, MessageTS: summaryTS,
		ActionID: incident.ActionWebLink, Value: "INC-1"}); err != nil {
		t.Fatal(err)
	}
	var link string
	w.waitFor(t, "a link for bob", func() bool {
		for _, e := range w.Slack.Ephemerals(ch.ID, bob) {
			if l := linkRe.FindString(e.Rendered()); l != "" {
				link = l
				return true
			}
		}
		return false
	})
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<h1>disk full</h1>") ||
		resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Errorf("GET %s: %d %v\n%s", link, resp.StatusCode, resp.Header, body)
	}
}

// TestConsoleWebLink: console mode serves the pages on localhost, and
// /incident link prints a link that opens the incident while it runs.
func TestConsoleWebLink(t *testing.T) {
	t.Chdir("../..")
	in, feed := io.Pipe()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"console"}, func(string) string { return "" }, in, &out, &errOut) }()
	fmt.Fprintln(feed, "/incident declare sev2 checkout errors")
	fmt.Fprintln(feed, "/incident note rolled back the &lt;deploy&gt;")
	fmt.Fprintln(feed, "/incident link")
	var link string
	deadline := time.Now().Add(20 * time.Second)
	for link == "" && time.Now().Before(deadline) {
		link = linkRe.FindString(out.String())
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(link, "http://127.0.0.1:") {
		feed.Close()
		t.Fatalf("no localhost link in the console output:\n%s\n%s", out.String(), errOut.String())
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "rolled back the &lt;deploy&gt;") {
		t.Errorf("GET %s: %d\n%s", link, resp.StatusCode, body)
	}
	feed.Close()
	if code := <-done; code != 0 {
		t.Errorf("console exit %d\n%s", code, errOut.String())
	}
	if _, err := http.Get(link); err == nil {
		t.Error("the pages are still served after the console ended")
	}
}
