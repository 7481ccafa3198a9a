package bot

import (
	"strings"
	"testing"
	"time"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "db is slow", "db is slow"},
		{"escaped literals stay", "a &lt; b &amp;&amp; c &gt; d", "a &lt; b &amp;&amp; c &gt; d"},
		{"here", "<!here> look", "@here look"},
		{"channel with label", "<!channel|channel> now", "@channel now"},
		{"everyone", "<!everyone>", "@everyone"},
		{"subteam", "ping <!subteam^S0SRE|@sre>", "ping @sre"},
		{"subteam without label", "<!subteam^S0SRE>", "@group"},
		{"user with label", "thanks <@U0BOB|bob>", "thanks @bob"},
		{"user without label", "thanks <@U0BOB>", "thanks @U0BOB"},
		{"channel link", "see <#C0OPS|ops>", "see #ops"},
		{"masked link", "<https://evil.example/x|https://good.example>", "https://good.example (https://evil.example/x)"},
		{"plain link", "<https://example.com>", "https://example.com"},
		{"mailto", "<mailto:a@b.c|mail me>", "mail me (mailto:a@b.c)"},
		{"date", "<!date^1700000000^{date}|Nov 14>", "Nov 14"},
		{"label with markup chars", "<https://x.example|a &lt;b&gt;>", "a &lt;b&gt; (https://x.example)"},
		{"stray opening bracket", "<!channel", "&lt;!channel"},
		{"stray closing bracket", "x > y", "x &gt; y"},
		{"nested", "<<!here>>", "&lt;@here&gt;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quote(tt.in); got != tt.want {
				t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestQuoteRaw(t *testing.T) {
	got := QuoteRaw(`<!channel> <@U1> <https://e|x> & done`)
	want := `&lt;!channel&gt; &lt;@U1&gt; &lt;https://e|x&gt; &amp; done`
	if got != want {
		t.Errorf("QuoteRaw = %q, want %q", got, want)
	}
}

// FuzzQuote checks the one property every caller relies on: whatever goes
// in, nothing that comes out is Slack markup.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"<!here>", "<@U1|x>", "<https://a|b>", "<<!channel>>", "&lt;!here&gt;", "<!subteam^S1|@g>", "a<b>c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Quote(s), QuoteRaw(s)} {
			if strings.ContainsAny(out, "<>") {
				t.Fatalf("output %q of %q contains a bracket", out, s)
			}
		}
	})
}

func TestFormatTime(t *testing.T) {
	at := time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata")
	}
	got := FormatTime(at, berlin)
	want := "<!date^1796144400^{date_short_pretty} {time}|2026-12-01 18:00 CET>"
	if got != want {
		t.Errorf("FormatTime = %q, want %q", got, want)
	}
	if fb := DateFallbacks("from " + got + " on"); fb != "from 2026-12-01 18:00 CET on" {
		t.Errorf("DateFallbacks = %q", fb)
	}
	if q := Quote(got); q != "2026-12-01 18:00 CET" {
		t.Errorf("Quote(date) = %q", q)
	}
}
