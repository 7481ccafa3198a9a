package redis

import (
	"encoding/json"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/opsbot/opsbot/bot"
)

// decodeEvent decodes one stored timeline event. Reading a long incident is
// mostly this, and encoding/json (a validating pass over every byte, then
// the decode) takes about four times as long: BenchmarkDecodeEvents10k.
// goccy/go-json decodes the same JSON in one pass; FuzzDecodeEvent holds it
// to encoding/json's result. Bytes that are not UTF-8 (never what Append
// writes: encoding/json replaces them) go to encoding/json, which turns
// them into U+FFFD where goccy/go-json would keep them.
func decodeEvent(raw string, ev *bot.TimelineEvent) error {
	if !utf8.ValidString(raw) {
		return json.Unmarshal([]byte(raw), ev)
	}
	return gojson.Unmarshal([]byte(raw), ev)
}
