package redis

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// TestSpoolKindsStayApart puts the timeline's and the alert store's spool
// files of processes that are gone in one directory: each kind adopts only
// its own, and two of each kind open side by side.
func TestSpoolKindsStayApart(t *testing.T) {
	dir := t.TempDir()
	log := zaptest.NewLogger(t)
	// A process that held alert notifications and went away.
	gone, _, err := openLineSpool(dir, AlertsSpoolFile, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []string{`{"n":1}`, `{"n":2}`} {
		if err := gone.append([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if err := gone.close(); err != nil {
		t.Fatal(err)
	}

	srv := redistest.NewServer(t)
	srv.Stop()
	tl := newTimeline(t, srv.Client(), dir)
	if got := tl.Pending(); got != 0 {
		t.Fatalf("the timeline adopted %d records of another kind", got)
	}
	if n := alertSpoolBytes(t, dir); n == 0 {
		t.Fatal("the alert spool was removed by the timeline")
	}

	// Two alert spools side by side: the first adopts the orphan, the
	// second finds nothing to adopt and does not disturb the first.
	first, recs, err := openLineSpool(dir, AlertsSpoolFile, log)
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	if got := []string{string(recs[0]), string(recs[1])}; len(recs) != 2 || !cmp.Equal(got, []string{`{"n":1}`, `{"n":2}`}) {
		t.Fatalf("adopted records %q, want the two held ones in order", recs)
	}
	second, recs2, err := openLineSpool(dir, AlertsSpoolFile, log)
	if err != nil {
		t.Fatalf("a second alert spool beside a live one: %v", err)
	}
	defer second.close()
	if len(recs2) != 0 {
		t.Fatalf("the second alert spool adopted %d records of a live process", len(recs2))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "alerts*"+spoolSuffix))
	if len(files) != 2 {
		t.Fatalf("alert spool files %v, want the two live ones (the orphan deleted)", files)
	}
}
