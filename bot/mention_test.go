package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseUser(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"<@U0123ABC|alice>", "U0123ABC", ""},
		{"<@U0123ABC>", "U0123ABC", ""},
		{"<@W0123ABC|enterprise>", "W0123ABC", ""},
		{"<@U0BOB|alice>", "U0BOB", ""}, // the label is not identity
		{"@alice", "", "real mention"},
		{"alice", "", "mention of a person"},
		{"<#C0123|ops>", "", "not a person"},
		{"<!subteam^S0123|@sre>", "", "not a person"},
		{"<!here>", "", "not a person"},
		{"<@u0123abc>", "", "mention of a person"},       // IDs are upper case
		{"<@U0123;rm -rf />", "", "mention of a person"}, // forged
		{"<@U0123ABC|x>\n<@U0EVIL>", "", "mention of a person"},
		{"<@U" + strings.Repeat("A", 5000) + ">", "", "mention of a person"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 30)], func(t *testing.T) {
			got, err := ParseUser(tt.in)
			if tt.wantErr != "" {
				var ue *UserError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseUser(%q) error = %v, want a UserError containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseUser(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzParseUser: whatever arrives, the result is either an error meant for
// the user or a well-formed user ID; never a panic, never anything else.
// Seeds are in testdata/fuzz/FuzzParseUser.
func FuzzParseUser(f *testing.F) {
	f.Add("<@U0123ABC|alice>")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseUser(s)
		if err != nil {
			var ue *UserError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseUser(%q): error %v is not a UserError", s, err)
			}
			return
		}
		if !IsUserID(id) {
			t.Fatalf("ParseUser(%q) = %q, not a user ID", s, id)
		}
	})
}

// FuzzRoute: any command text routes to some handler that answers without
// panicking.
func FuzzRoute(f *testing.F) {
	f.Add("/incident", "declare sev2 checkout")
	r := NewRouter()
	r.Family(&Family{Name: "/incident", Commands: []Command{{Name: "declare", Usage: "declare", Handler: func(_ context.Context, req *Request) (Response, error) {
		return Reply(req.Text), nil
	}}}})
	f.Fuzz(func(t *testing.T, command, text string) {
		req := &Request{Kind: KindCommand, Command: command, Text: text}
		h, route := r.Route(req)
		if h == nil || route == "" {
			t.Fatalf("no handler for %q %q", command, text)
		}
		if _, err := h(context.Background(), req); err != nil {
			t.Fatalf("handler error %v", err)
		}
	})
}

func TestSlackTextHelpers(t *testing.T) {
	tests := []struct {
		name, in, escaped, plain string
	}{
		{"channel ping", "db down <!channel>", "db down &lt;!channel&gt;", "db down @channel"},
		{"here with label", "<!here|here> look", "&lt;!here|here&gt; look", "@here look"},
		{"group", "ping <!subteam^S0SRE|@sre>", "ping &lt;!subteam^S0SRE|@sre&gt;", "ping @sre"},
		{"masked link shows its target", "see <https://evil.example|https://good.example>", "see &lt;https://evil.example|https://good.example&gt;", "see https://good.example (https://evil.example)"},
		{"user mention", "<@U0BOB|bob> sees 500s", "&lt;@U0BOB|bob&gt; sees 500s", "@bob sees 500s"},
		{"entities", "a &amp; b &gt; c", "a &amp;amp; b &amp;gt; c", "a & b > c"},
		{"escaped broadcast stays text", "&lt;!channel&gt;", "&amp;lt;!channel&amp;gt;", "<!channel>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EscapeText(tt.in); got != tt.escaped {
				t.Errorf("EscapeText(%q) = %q, want %q", tt.in, got, tt.escaped)
			}
			if got := UnescapeText(tt.in); got != tt.plain {
				t.Errorf("UnescapeText(%q) = %q, want %q", tt.in, got, tt.plain)
			}
		})
	}
}
