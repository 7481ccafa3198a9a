package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// hostileRows are timeline rows full of what html/template escapes: quotes,
// ampersands, pluses, brackets, NUL, and links with every URL character.
func hostileRows() []row {
	texts := []string{
		`<script>alert('x')</script> & "quotes" + 'single' <b>bold</b> a=b ` + "\x00nul \u2028 ⏎ 😀",
		`"><img src=x onerror=alert(1)>`,
		`javascript:alert(1)`,
	}
	urls := []string{
		"https://grafana.example/d/1?a=1&b=2+3#frag",
		"https://x.example/a(b)c/%41;x=1,2*3!",
		"mailto:ops@example.com?subject=hi%20there",
		"https://x.example/é/ü?q=ä b",
		"javascript:alert(1)",
	}
	// Links are made as the view makes them: only from web addresses.
	var out []row
	for i, t := range texts {
		r := row{Kind: "note " + t, Class: "t-note", When: stamp{ISO: "2026-03-02T10:00:00Z", Clock: "11:00:00", UTC: "10:00:00 UTC"},
			Text: []seg{{Text: t}, {Text: t, Code: true}}, Later: t}
		if l, ok := linkSeg(urls[i%len(urls)], t); ok {
			r.Text = append(r.Text, l)
		}
		for _, u := range urls {
			if l, ok := linkSeg(u, t); ok {
				r.Links = append(r.Links, l)
			}
		}
		if i == 1 {
			r.When.UTC = ""
		}
		out = append(out, r)
	}
	return out
}

// TestRowsWriteWhatTheTemplateWould holds the fast timeline writer to the
// "rows" template, byte for byte, on hostile rows and on a real incident
// with hostile text everywhere.
func TestRowsWriteWhatTheTemplateWould(t *testing.T) {
	e := newEnv(t, "Europe/Berlin")
	key := e.walk()
	doc, err := e.svc.Document(e.ctx(), key)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]row{"hostile rows": hostileRows()}
	for _, d := range buildView(doc).Days {
		cases["incident "+d.ISO] = d.Rows
	}
	for _, s := range []string{"plain", "a<b", "`code` and `more", "<https://x.example/a'b|it's> <mailto:a@b.example>", "&lt;&amp;&gt;+"} {
		cases["segments of "+s] = []row{{Text: segments(s), When: newStamp(doc, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false)}}
	}
	for name, rs := range cases {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			if err := pageTemplates.ExecuteTemplate(&want, "rows", rs); err != nil {
				t.Fatal(err)
			}
			if got := string(rows(rs)); got != want.String() {
				t.Errorf("rows differ from the template:\n got: %s\nwant: %s", got, want.String())
			}
		})
	}
}

func FuzzRowsMatchTemplate(f *testing.F) {
	for _, r := range hostileRows() {
		f.Add(r.Text[0].Text, "https://x.example/a?b=c&d=e+f")
	}
	f.Add("x", "javascript:alert(1)")
	f.Fuzz(func(t *testing.T, text, href string) {
		segs := segments(bot.EscapeText(text) + " <" + href + "|" + text + ">")
		rs := []row{{Class: typeClass(bot.TimelineEventType(text)), Kind: kindLabel(bot.TimelineEventType(text)), Text: segs, Later: text}}
		var want bytes.Buffer
		if err := pageTemplates.ExecuteTemplate(&want, "rows", rs); err != nil {
			t.Fatal(err)
		}
		if got := string(rows(rs)); got != want.String() && strings.ToValidUTF8(text, "") == text {
			t.Errorf("rows differ from the template for %q, %q:\n got: %s\nwant: %s", text, href, got, want.String())
		}
	})
}
