package incident

import (
	"strings"
	"testing"
)

// The scanner must find exactly what mentionRe finds.
func TestMentionScannerAgreesWithTheRegexp(t *testing.T) {
	inputs := []string{
		"", "plain", "<@U0BOB>", "hi <@U0BOB|bob> and <@W12345|x|y> <@U1>", "<@U0BOB", "<@u0bob>", "<@U0BOB|>",
		"<@U" + strings.Repeat("A", 20) + ">", "<@U" + strings.Repeat("A", 21) + ">", "<<@U0BOB>>", "<@<@U0BOB>",
		"<@U0BOB|a<b>", "<@U0B-OB>", "x<@", "<@UA>", "<@UAB>", "<@U0BOB|label with > later>",
	}
	for _, in := range inputs {
		want := mentionRe.ReplaceAllStringFunc(in, func(m string) string { return "[" + mentionRe.FindStringSubmatch(m)[1] + "]" })
		if got := replaceMentions(in, func(id string) string { return "[" + id + "]" }); got != want {
			t.Errorf("replaceMentions(%q) = %q, want %q", in, got, want)
		}
		var ids []string
		eachMention(in, func(id string) { ids = append(ids, id) })
		var wantIDs []string
		for _, m := range mentionRe.FindAllStringSubmatch(in, -1) {
			wantIDs = append(wantIDs, m[1])
		}
		if strings.Join(ids, ",") != strings.Join(wantIDs, ",") {
			t.Errorf("eachMention(%q) = %v, want %v", in, ids, wantIDs)
		}
	}
}

func FuzzMentionScanner(f *testing.F) {
	f.Add("hi <@U0BOB|bob> and <@W12345>")
	f.Add("<@U0BOB|a<b>")
	f.Fuzz(func(t *testing.T, in string) {
		want := mentionRe.ReplaceAllStringFunc(in, func(m string) string { return "[" + mentionRe.FindStringSubmatch(m)[1] + "]" })
		if got := replaceMentions(in, func(id string) string { return "[" + id + "]" }); got != want {
			t.Errorf("replaceMentions(%q) = %q, want %q", in, got, want)
		}
	})
}
