package incident

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/opsbot/opsbot/bot"
)

func TestDeclareLinked(t *testing.T) {
	h := newHarness(t, nil)
	detected := t0.Add(-7 * time.Minute)
	alertMsg := bot.MessageRef{Channel: "CALERTS", TS: "1700000000.000100"}
	d := bot.LinkedDeclaration{DedupeKey: "alertgroup:g1:1", Title: "Checkout <!channel> latency > 2s", Severity: bot.Sev2,
		DeclaredBy: "UALICE", AlertGroup: "g1", AlertMessage: alertMsg, DetectedAt: detected}

	// Two replicas (or a click racing the auto-declare rule) declare at once:
	// one incident.
	var wg sync.WaitGroup
	results := make([]bot.IncidentSummary, 4)
	created := make([]bool, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[i], created[i], err = h.svc.DeclareLinked(h.ctx(), d)
			if err != nil {
				t.Errorf("DeclareLinked: %v", err)
			}
		}()
	}
	wg.Wait()
	n := 0
	for i := range results {
		if created[i] {
			n++
		}
		if results[i].Key != "INC-1" {
			t.Errorf("result %d: %+v, want INC-1", i, results[i])
		}
	}
	if n != 1 {
		t.Fatalf("%d declarations created an incident, want 1", n)
	}
	inc := h.get("INC-1")
	if inc.Title != "Checkout &lt;!channel&gt; latency &gt; 2s" || inc.Severity != bot.Sev2 || inc.Commander != "UALICE" ||
		!inc.DetectedAt.Equal(detected) || len(inc.AlertGroups) != 1 || inc.AlertGroups[0] != "g1" {
		t.Errorf("incident %+v", inc)
	}
	posts := h.chat.PostsIn(inc.Channel)
	var linked bool
	for _, p := range posts {
		if strings.Contains(p.Text, "from an alert") && strings.Contains(p.Text, "CALERTS") {
			linked = true
		}
	}
	if !linked {
		t.Errorf("no link back to the alert message in %+v", posts)
	}

	// Severity defaults to sev3; a long title is cut; an automatic
	// declaration has no commander and no commander tenure.
	auto, created1, err := h.svc.DeclareLinked(h.ctx(), bot.LinkedDeclaration{DedupeKey: "alertgroup:g2:1",
		Title: strings.Repeat("x", 400), AlertGroup: "g2", AlertMessage: alertMsg, DetectedAt: detected})
	if err != nil || !created1 {
		t.Fatalf("auto declare: %v, %v", auto, err)
	}
	inc2 := h.get(auto.Key)
	if inc2.Severity != bot.Sev3 || inc2.Commander != "" || inc2.DeclaredBy != "" || len([]rune(inc2.Title)) != TitleMax {
		t.Errorf("auto-declared incident %+v", inc2)
	}
	for _, ev := range h.events(auto.Key) {
		if ev.Type == bot.TLRoleAssigned {
			t.Errorf("commander tenure recorded for nobody: %+v", ev)
		}
	}
	if topic := h.chat.Topics()[inc2.Channel]; !strings.Contains(topic, "commander nobody yet") {
		t.Errorf("topic %q, want the commander shown as nobody yet", topic)
	}
	// The summary and the announcement say opsbot declared it, as the
	// timeline does, not "by nobody yet".
	for _, ref := range []bot.MessageRef{inc2.SummaryRef, inc2.AnnouncementRef} {
		m := h.chat.Latest(ref.TS)
		declared := m.Context
		for _, f := range m.Fields {
			if f.Label == "Declared" {
				declared = f.Value
			}
		}
		if !strings.Contains(declared, "by opsbot") {
			t.Errorf("message %s says %q, want it declared by opsbot", ref.TS, declared)
		}
	}
	if _, _, err := h.svc.DeclareLinked(h.ctx(), bot.LinkedDeclaration{Title: "x"}); err == nil {
		t.Error("no dedupe key: got nil error")
	}
}

func TestExportAlertsAndTimeToDetect(t *testing.T) {
	h := newHarness(t, nil)
	detected := t0.Add(-7 * time.Minute)
	sum, _, err := h.svc.DeclareLinked(h.ctx(), bot.LinkedDeclaration{DedupeKey: "alertgroup:g1:1", Title: "Disk full",
		Severity: bot.Sev2, DeclaredBy: "UALICE", AlertGroup: "g1", DetectedAt: detected})
	if err != nil {
		t.Fatal(err)
	}
	// The alerts family records the group's alerts like this.
	add := func(typ bot.TimelineEventType, at time.Time, fp string, details map[string]string) {
		t.Helper()
		d := map[string]string{"group": "g1", "fingerprint": fp, "alertname": "DiskFull", "labels": "alertname=DiskFull, instance=db-" + fp}
		for k, v := range details {
			d[k] = v
		}
		if err := h.tl.Append(h.ctx(), bot.TimelineEvent{ID: uuid.New(), Incident: sum.Key, Type: typ, Actor: "opsbot",
			Time: at, Text: "disk &lt;90% free", Details: d}); err != nil {
			t.Fatal(err)
		}
	}
	add(bot.TLAlertFiring, detected, "1", nil)
	add(bot.TLAlertFiring, detected.Add(time.Minute), "2", nil)
	add(bot.TLAlertResolved, t0.Add(5*time.Minute), "1", map[string]string{"starts_at": detected.Format(time.RFC3339Nano)})

	raw, err := h.svc.Export(h.ctx(), sum.Key, "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Metrics struct {
			DetectedAt      time.Time `json:"detected_at"`
			TimeToDetectSec *int64    `json:"time_to_detect_seconds"`
		} `json:"metrics"`
		Alerts []AlertRecord `json:"alerts"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Metrics.DetectedAt.Equal(detected) || doc.Metrics.TimeToDetectSec == nil || *doc.Metrics.TimeToDetectSec != 420 {
		t.Errorf("metrics %+v, want detected at %v and 420 s to detect", doc.Metrics, detected)
	}
	if len(doc.Alerts) != 2 || !doc.Alerts[0].FiredAt.Equal(detected) || !doc.Alerts[0].ResolvedAt.Equal(t0.Add(5*time.Minute)) ||
		!doc.Alerts[1].ResolvedAt.IsZero() || doc.Alerts[1].Fingerprint != "2" {
		t.Errorf("alerts %+v", doc.Alerts)
	}

	md, err := h.svc.Export(h.ctx(), sum.Key, "md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| Detected | 2026-11-22 08:53:00 UTC (time to detect: 7m) |",
		"## Alerts", "| DiskFull: disk \\<90% free | alertname=DiskFull, instance=db-1 | 2026-11-22 08:53:00 UTC | 2026-11-22 09:05:00 UTC |",
		"still firing", "alert fired: disk \\<90% free (alertname=DiskFull, instance=db-2)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	// An incident declared by hand has neither.
	h.must("UALICE", "CGENERAL", "declare sev3 by hand")
	md, err = h.svc.Export(h.ctx(), "INC-2", "md")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(md), "| Detected |") || !strings.Contains(string(md), "_No alerts are linked to this incident._") {
		t.Errorf("hand-declared export:\n%s", md)
	}
}

// TestExportAutoDeclaredByOpsbot: an incident an alert route declared on its
// own says "by opsbot" in the export and in the document the web page
// renders, as its timeline and messages do, not "by —".
func TestExportAutoDeclaredByOpsbot(t *testing.T) {
	h := newHarness(t, nil)
	sum, _, err := h.svc.DeclareLinked(h.ctx(), bot.LinkedDeclaration{DedupeKey: "alertgroup:g9:1", Title: "Disk full",
		Severity: bot.Sev2, AlertGroup: "g9", DetectedAt: t0.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	md, err := h.svc.Export(h.ctx(), sum.Key, "md")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`\| Declared \| [^|]+ by opsbot \|`).Match(md) {
		t.Errorf("markdown does not say opsbot declared it:\n%s", md)
	}
	doc, err := h.svc.Document(h.ctx(), sum.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Declarer(); got != "opsbot" {
		t.Errorf("Declarer() = %q, want opsbot", got)
	}
}
