package redis

import (
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// TestAlertsGroupFieldsAloneAreAChange: a notification whose alerts are
// those already stored but whose group fields differ (Alertmanager left out
// more alerts under max_alerts, the common annotations changed) changes the
// group, so that its message shows it; the same notification again does
// not.
func TestAlertsGroupFieldsAloneAreAChange(t *testing.T) {
	a := newAlerts(t, redistest.New(t), t.TempDir())
	const id = "g1"
	n := note(at0, firing("a", at0.Add(-time.Minute)), firing("b", at0.Add(-time.Minute)))
	mustRecord(t, a, id, n)
	if err := a.Rendered(testCtx(t), id, mustGroup(t, a, id).Version, at0); err != nil {
		t.Fatal(err)
	}
	v := mustGroup(t, a, id).Version

	n.TruncatedAlerts = 9500
	n.CommonAnnotations = map[string]string{"summary": "now with a summary"}
	n.ReceivedAt = at0.Add(time.Minute)
	mustRecord(t, a, id, n)
	g := mustGroup(t, a, id)
	if g.Version == v || g.TruncatedAlerts != 9500 || g.CommonAnnotations["summary"] != "now with a summary" {
		t.Errorf("version %d (was %d), truncated %d, annotations %v: the group fields were dropped", g.Version, v, g.TruncatedAlerts, g.CommonAnnotations)
	}
	if ids := due(t, a, at0.Add(time.Hour)); len(ids) != 1 {
		t.Errorf("due %v, want the group", ids)
	}

	v = g.Version
	n.ReceivedAt = at0.Add(2 * time.Minute)
	mustRecord(t, a, id, n)
	if g := mustGroup(t, a, id); g.Version != v {
		t.Errorf("the same notification again changed the version %d → %d", v, g.Version)
	}
}
