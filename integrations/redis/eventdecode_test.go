package redis

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/opsbot/opsbot/bot"
)

// FuzzDecodeEvent holds decodeEvent to encoding/json: whatever
// encoding/json decodes into a TimelineEvent, decodeEvent decodes the same.
// The seeds are events as Append writes them, and the corners of the
// format (escapes, invalid UTF-8, keys in another case, nulls, unknown
// fields).
func FuzzDecodeEvent(f *testing.F) {
	at := time.Date(2026, 3, 2, 9, 58, 0, 123456789, time.UTC)
	for _, ev := range []bot.TimelineEvent{
		{ID: uuid.MustParse("0b7e4c0e-8f0a-4d55-9c56-3f0b1a2b3c4d"), Incident: "INC-1", Type: bot.TLNote, Actor: "U0ALICE", Time: at,
			Text: "checked &lt;conn pool&gt; <@U0BOB> <https://x.example/a?b=1&amp;c=2|dash> \u2028 \"q\" \\ é 🚒"},
		{Incident: "INC-2", Type: bot.TLAlertFiring, Actor: "opsbot", Time: at,
			Details: map[string]string{"group": "g", "labels": "a=<b>", "": "empty key", "nul": "\x00\x01"}, DedupeKey: "alert:g:f:1"},
		{Incident: "INC-3", Type: "a_type_added_later", Time: at.In(time.FixedZone("X", 3600))},
	} {
		b, err := json.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, raw := range []string{
		`{}`, `null`, `{"id":null,"details":null,"time":null}`, `{"TEXT":"upper","Details":{"A":"b"}}`,
		`{"text":"\ud800 lone surrogate","actor":"\u00e9"}`, "{\"text\":\"bad \xff utf8\"}", `{"unknown":[1,{"x":2}],"text":"kept"}`,
		`{"text":"a","text":"b"}`, `{"time":"2026-03-02T09:58:00+01:00"}`, `{"time":"not a time"}`, `{"id":"not-a-uuid"}`,
		`{"details":{"a":1}}`, `{"text":"x"} trailing`, `[]`, ``, `{"text":"\/escaped\/ \b\f\n\r\t"}`,
	} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var want, got bot.TimelineEvent
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			return // a corrupted entry is skipped either way, or shown: never what Append writes
		}
		if err := decodeEvent(raw, &got); err != nil {
			t.Fatalf("decodeEvent(%q): %v; encoding/json decodes it", raw, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("decodeEvent(%q) differs from encoding/json (-json +decodeEvent):\n%s", raw, diff)
		}
	})
}
