package incident

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

// Hostile text, as people (or other systems) could get it into an
// incident's record: headings, HTML, links with other schemes, table
// breakers, emphasis, control characters.
var hostile = []string{
	"# Owned\n## also owned",
	"note\r# heading after a CR",
	"<script>alert(1)</script><img src=x onerror=alert(1)>",
	"[click](javascript:alert(1)) ![img](javascript:alert(2)) <javascript:alert(3)>",
	"&lt;a href=\"javascript:alert(4)\"&gt;x&lt;/a&gt;",
	"<https://evil.example|https://good.example> and <javascript:alert(5)|safe>",
	"a | b | c\n|---|---|\n| x | y |",
	"```\ncode\n```\n~~~\nmore\n~~~\n    indented code",
	"> quote\n- item\n1. one\n2) two\n* star\n+ plus\n---\n===\n***",
	"red \x1b[31mALERT\x1b[0m bell\a nul\x00 del\x7f \u202egnp.exe",
	"[ref]: javascript:alert(6)\n[ref]",
	"ftp://files.example/x xmpp:a@b.example mailto:a@b.example www.example.com",
	"*bold* _it_ ~~strike~~ `code` \\ &amp; &#60;b&#62;",
	"<!here> <@U0BOB|bob> <#C0SECRET|secret> <!subteam^S0SRE|@sre>",
	"trailing backslash \\",
	"1. at the start",
	"- at the start",
	"#hash",
}

// hostileTables are the body rows of hostileRecord's tables: the overview
// (14), two severities, three statuses, three tenures, one runbook run.
var hostileTables = []int{14, 2, 3, 3, 1}

// templateHeadings are the headings the default template defines, after
// the H1 (which carries the title).
var templateHeadings = []string{"Overview", "Description", "Resolution", "Severity history", "Status history", "Roles",
	"Timeline", "Runbooks run", "Pages", "Alerts", "Participants", "Root cause", "Contributing factors", "What went well, what did not",
	"Action items"}

// memRecord serves one incident and its timeline, for exports without Redis.
type memRecord struct {
	inc    bot.Incident
	events []bot.TimelineEvent
}

func (m *memRecord) Create(context.Context, string, bot.Incident) (bot.Incident, bool, error) {
	return bot.Incident{}, false, fmt.Errorf("read-only")
}
func (m *memRecord) Get(_ context.Context, key string) (bot.Incident, error) {
	if key != m.inc.Key {
		return bot.Incident{}, bot.ErrIncidentNotFound
	}
	return m.inc, nil
}
func (m *memRecord) ByChannel(context.Context, string) (bot.Incident, error) {
	return bot.Incident{}, bot.ErrIncidentNotFound
}
func (m *memRecord) Update(context.Context, string, func(*bot.Incident) error) (bot.Incident, error) {
	return bot.Incident{}, fmt.Errorf("read-only")
}
func (m *memRecord) Open(context.Context) ([]bot.Incident, error)    { return nil, nil }
func (m *memRecord) Append(context.Context, bot.TimelineEvent) error { return fmt.Errorf("read-only") }
func (m *memRecord) Events(context.Context, string) ([]bot.TimelineEvent, error) {
	return m.events, nil
}

// hostileRecord builds an incident whose every text field is s (title,
// description, resolution, notes, updates, pins, a page, a runbook run) and
// whose people are named name.
func hostileRecord(title, note, name string) (*memRecord, *bottest.Chat) {
	at := t0
	ev := func(typ bot.TimelineEventType, actor, txt string, d map[string]string) bot.TimelineEvent {
		at = at.Add(time.Minute)
		return bot.TimelineEvent{ID: uuid.New(), Incident: "INC-1", Type: typ, Actor: actor, Time: at, Text: txt, Details: d}
	}
	rec := &memRecord{inc: bot.Incident{Key: "INC-1", Number: 1, Title: title, Description: note, Resolution: note,
		Severity: bot.Sev2, Status: bot.StatusResolved, Channel: "CINC1", ChannelName: "inc-1-x", Commander: "UBOB",
		DeclaredBy: "UALICE", DeclaredAt: t0, ResolvedAt: t0.Add(time.Hour), MitigatedAt: t0.Add(30 * time.Minute),
		Roles: map[bot.Role]string{"scribe": "UCAROL"}}}
	rec.events = []bot.TimelineEvent{
		ev(bot.TLDeclared, "UALICE", title, map[string]string{"severity": "sev2", "status": "investigating", "description": note}),
		ev(bot.TLRoleAssigned, "UALICE", "", map[string]string{"role": "commander", "user": "UALICE"}),
		ev(bot.TLRoleAssigned, "UALICE", "", map[string]string{"role": "commander", "user": "UBOB", "previous": "UALICE"}),
		ev(bot.TLRoleAssigned, "UBOB", "", map[string]string{"role": note, "user": "UCAROL"}),
		ev(bot.TLSeverityChanged, "UBOB", "", map[string]string{"from": "sev2", "to": note}),
		ev(bot.TLNote, "UCAROL", note, nil),
		ev(bot.TLUpdate, "UBOB", note+" <@UCAROL>", nil),
		ev(bot.TLPinned, "UCAROL", note, map[string]string{"pinned_by": "UBOB", "channel": "CINC1", "ts": "1.1",
			"permalink": "javascript:alert(7)"}),
		ev(bot.TLPinned, "UCAROL", note, map[string]string{"pinned_by": "UBOB", "channel": "CINC1", "ts": "1.2",
			"permalink": "https://example.slack.com/archives/CINC1/p1(x)<y>"}),
		ev(bot.TLMessageEdited, "UCAROL", note, map[string]string{"channel": "CINC1", "ts": "1.1"}),
		ev(bot.TLPage, "UBOB", note, map[string]string{"service": note, "assignees": name, "url": "javascript:alert(8)"}),
		ev(bot.TLPage, "UBOB", "", map[string]string{"service": "checkout", "url": "https://pd.example/i/1"}),
		ev(bot.TLRunbook, "UBOB", note, map[string]string{"runbook": note, "event": "finished", "exit_code": "0",
			"argv": note, "approver": "UALICE"}),
		ev(bot.TLStatusChanged, "UBOB", "", map[string]string{"from": "investigating", "to": "monitoring"}),
		ev(bot.TLResolved, "UBOB", note, map[string]string{"from": "monitoring"}),
	}
	chat := bottest.NewChat()
	for _, id := range []string{"UALICE", "UBOB", "UCAROL"} {
		chat.AddUser(bot.User{ID: id, Name: name, RealName: name + " " + id})
	}
	return rec, chat
}

func exportOf(t testing.TB, rec *memRecord, chat *bottest.Chat, format string) []byte {
	t.Helper()
	svc, err := New(Config{Chat: chat, Store: rec, Timeline: rec, Clock: bot.ClockFunc(func() time.Time { return t0 }),
		Settings: Settings{Timezone: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.Export(context.Background(), "INC-1", format)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRenderSafe parses md as GitHub-flavoured CommonMark and fails on raw
// HTML, a link or image with a scheme other than http(s) and mailto, a
// heading or table the template does not define, or a control character.
func checkRenderSafe(t testing.TB, md []byte, wantRows []int) {
	t.Helper()
	for _, c := range []string{"\x1b", "\a", "\x00", "\r", "\x7f", "\u202e"} {
		if bytes.Contains(md, []byte(c)) {
			t.Fatalf("export contains control character %q", c)
		}
	}
	doc := goldmark.New(goldmark.WithExtensions(extension.GFM)).Parser().Parse(text.NewReader(md))
	var headings []string
	var tables []int // rows per table
	var problems []string
	err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.HTMLBlock, *ast.RawHTML:
			problems = append(problems, fmt.Sprintf("raw HTML node %s", n.Kind()))
		case *ast.Image:
			problems = append(problems, fmt.Sprintf("image to %q", n.Destination))
		case *ast.Link:
			if !allowedScheme(string(n.Destination)) {
				problems = append(problems, fmt.Sprintf("link to %q", n.Destination))
			}
		case *ast.AutoLink:
			u := string(n.URL(md))
			if n.AutoLinkType == ast.AutoLinkEmail {
				u = "mailto:" + u
			}
			if !allowedScheme(u) {
				problems = append(problems, fmt.Sprintf("autolink to %q", u))
			}
		case *ast.Heading:
			headings = append(headings, fmt.Sprintf("%d %s", n.Level, plainText(n, md)))
		case *ast.FencedCodeBlock, *ast.CodeBlock, *ast.Blockquote, *ast.ThematicBreak:
			problems = append(problems, fmt.Sprintf("block %s the template does not write", n.Kind()))
		case *east.Table:
			rows := 0
			for c := n.FirstChild(); c != nil; c = c.NextSibling() {
				if _, ok := c.(*east.TableRow); ok {
					rows++
				}
			}
			tables = append(tables, rows)
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("export is not safe to render: %s\n---\n%s", strings.Join(problems, "; "), md)
	}
	if len(headings) == 0 || !strings.HasPrefix(headings[0], "1 INC-1:") {
		t.Fatalf("first heading = %v, want the H1 with the key\n---\n%s", headings, md)
	}
	var want []string
	for _, h := range templateHeadings {
		want = append(want, "2 "+h)
	}
	if got := strings.Join(headings[1:], "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("headings after the H1:\n%s\nwant exactly the template's:\n%s\n---\n%s", got, strings.Join(want, "\n"), md)
	}
	// Overview, severity history, status history, roles, runbooks and
	// action items (when any): as many tables as the template writes,
	// each with exactly its rows.
	if fmt.Sprint(tables) != fmt.Sprint(wantRows) {
		t.Fatalf("tables with %v body rows, want %v\n---\n%s", tables, wantRows, md)
	}
}

func allowedScheme(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "mailto":
		return true
	}
	return false
}

// plainText is the text of n's inline children.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(src))
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// TestExportSafeToRender renders, for every hostile text, an incident whose
// every field carries it, and parses the Markdown with a real CommonMark
// parser.
func TestExportSafeToRender(t *testing.T) {
	for i, s := range hostile {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rec, chat := hostileRecord(bot.OneLine(s)+" title", s, s)
			md := exportOf(t, rec, chat, FormatMarkdown)
			checkRenderSafe(t, md, hostileTables)
			// The text is still there, as text: nothing was dropped to make
			// it safe. (Control characters are the exception.)
			if plain := bot.OneLine(bot.UnescapeText(s)); len(plain) > 3 && !bytes.Contains(render(t, md), []byte(htmlText(plain[:3]))) {
				t.Errorf("rendered export lacks the start of %q", plain)
			}
			js := exportOf(t, rec, chat, FormatJSON)
			for _, c := range []string{`\u001b`, `\u0007`, `\u0000`, `\r`, `\u007f`} {
				if bytes.Contains(js, []byte(c)) {
					t.Errorf("JSON export contains control character %s", c)
				}
			}
		})
	}
}

// TestExportThroughCommands records hostile text the way people would,
// through the commands and a pinned message, and checks the uploaded file.
func TestExportThroughCommands(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.AddUser(bot.User{ID: "UCAROL", Name: "carol", RealName: "<b>Carol</b> | *C* [x](javascript:alert(1))"})
	inc := h.declare("sev2 <javascript:alert(1)|checkout> # down _now_")
	h.must("UALICE", inc.Channel, "note # Heading?\n<script>alert(1)</script>\n| a | b |")
	h.must("UALICE", inc.Channel, "role scribe <@UCAROL|carol>")
	h.chat.AddMessage(bot.ChatMessage{Ref: bot.MessageRef{Channel: inc.Channel, TS: "1800000100.000100"}, User: "UCAROL",
		Text: "see <javascript:alert(2)|the runbook> ```x```", Time: h.clock.Now()})
	if _, err := h.run(&bot.Request{Kind: bot.KindEvent, UserID: "UBOB", Event: &bot.Event{ID: "EvPin1", Type: bot.EventReactionAdded,
		Reaction: "pushpin", Item: bot.MessageRef{Channel: inc.Channel, TS: "1800000100.000100"}}}); err != nil {
		t.Fatal(err)
	}
	h.must("UALICE", inc.Channel, "resolve fixed by <https://evil.example|https://docs.example>\n## done")
	h.must("UALICE", inc.Channel, "export")
	md := h.chat.Uploads()[0].Content
	checkRenderSafe(t, md, []int{14, 1, 2, 2})
	html := string(render(t, md))
	for _, want := range []string{"checkout (javascript:alert(1))", "https://docs.example (https://evil.example)", "<b>Carol</b> | *C*"} {
		if !strings.Contains(html, htmlText(want)) {
			t.Errorf("rendered export lacks %q as text", want)
		}
	}
	// A carriage return reaches nothing: the command refuses it.
	if _, err := h.cmd("UALICE", inc.Channel, "note a\rb"); err == nil || !strings.Contains(err.Error(), "control characters") {
		t.Errorf("note with a CR: got %v, want a refusal naming control characters", err)
	}
}

func render(t testing.TB, md []byte) []byte {
	var out bytes.Buffer
	if err := goldmark.New(goldmark.WithExtensions(extension.GFM)).Convert(md, &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// htmlText is s as goldmark writes text into HTML.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// FuzzExport renders an incident whose title, texts and people's names are
// the fuzzer's, and checks the Markdown as TestExportSafeToRender does.
// Seeds: testdata/fuzz/FuzzExport.
func FuzzExport(f *testing.F) {
	for _, s := range hostile {
		f.Add(bot.OneLine(s), s, s)
	}
	f.Fuzz(func(t *testing.T, title, note, name string) {
		if len(title)+len(note)+len(name) > 4096 {
			t.Skip()
		}
		rec, chat := hostileRecord(title, note, name)
		checkRenderSafe(t, exportOf(t, rec, chat, FormatMarkdown), hostileTables)
	})
}

// TestActionItemsSafeToRender: the action-items rows render follow-up text,
// owners' names, due dates and ticket links as text, in exactly one table
// row each, and link only to http(s) tickets.
func TestActionItemsSafeToRender(t *testing.T) {
	d := &Document{tz: time.UTC, names: map[string]string{"UBOB": "<b>Bob</b> | *x*"}}
	var md strings.Builder
	md.WriteString("| # | Action | Owner | Due | State | Ticket |\n|---|---|---|---|---|---|\n")
	for i, s := range hostile {
		f := bot.Followup{Incident: "INC-1", Number: i + 1, Text: s, Owner: "UBOB", Due: bot.OneLine(s),
			Tracker: bot.TrackerLink{Number: 7, URL: "javascript:alert(1)"}}
		if i%2 == 1 {
			f.State, f.DoneBy, f.DoneAt = bot.FollowupDone, "UBOB", t0
			f.Tracker.URL = "https://github.example/o/r/issues/7?x=(y)"
		}
		md.WriteString(d.ActionItem(f) + "\n")
	}
	src := []byte(md.String())
	doc := goldmark.New(goldmark.WithExtensions(extension.GFM)).Parser().Parse(text.NewReader(src))
	var rows, cells int
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.HTMLBlock, *ast.RawHTML, *ast.Image:
			t.Errorf("action items have a %s node", n.Kind())
		case *ast.Link:
			if !strings.HasPrefix(string(n.Destination), "https://") {
				t.Errorf("action items link to %q", n.Destination)
			}
		case *east.TableRow:
			rows++
		case *east.TableCell:
			cells++
		}
		return ast.WalkContinue, nil
	})
	if rows != len(hostile) || cells != 6*(len(hostile)+1) {
		t.Errorf("%d rows and %d cells, want %d rows of 6 cells\n%s", rows, cells, len(hostile), src)
	}
}
