package oncallfile

import (
	"context"
	"os"
	"testing"
	"time"
)

// FuzzParse: a rotation file, however malformed, is refused with an error or
// gives shifts that start before they end; never a panic or an endless loop.
// Seeds: the example files, plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"oncall.example.yaml", "testdata/berlin.yaml"} {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	from := time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range p.Schedules() {
			shifts, err := p.Shifts(ctx, s.ID, from, from.Add(72*time.Hour))
			if err != nil {
				continue
			}
			for _, sh := range shifts {
				if !sh.Start.Before(sh.End) {
					t.Fatalf("shift %+v does not start before it ends", sh)
				}
			}
		}
	})
}
