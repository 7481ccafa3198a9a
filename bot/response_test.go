package bot

import (
	"testing"
	"time"
)

func TestParseTS(t *testing.T) {
	tests := []struct {
		name string
		ts   string
		want time.Time
	}{
		{name: "microseconds", ts: "1700000000.000100", want: time.Unix(1700000000, 100_000).UTC()},
		{name: "short fraction", ts: "1700000000.5", want: time.Unix(1700000000, 500_000_000).UTC()},
		{name: "long fraction", ts: "1700000000.0001009", want: time.Unix(1700000000, 100_000).UTC()},
		{name: "no fraction", ts: "1700000000", want: time.Unix(1700000000, 0).UTC()},
		{name: "garbage", ts: "abc", want: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseTS(tt.ts)
			if !got.Equal(tt.want) {
				t.Errorf("ParseTS(%q) = %v, want %v", tt.ts, got, tt.want)
			}
			if !got.IsZero() && got.Location() != time.UTC {
				t.Errorf("ParseTS(%q) in %v, want UTC", tt.ts, got.Location())
			}
		})
	}
}
