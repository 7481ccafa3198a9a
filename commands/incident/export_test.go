package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

// walkIncident runs a small incident and returns its channel.
func walkIncident(t *testing.T, h *harness) string {
	t.Helper()
	inc := h.declare("sev3 checkout errors | eu")
	ch := inc.Channel
	h.clock.Add(2 * time.Minute)
	h.must("UALICE", ch, "commander <@UBOB|bob>")
	h.must("UBOB", ch, "role scribe <@UCAROL|carol>")
	h.clock.Add(3 * time.Minute)
	h.must("UBOB", ch, "sev sev1")
	h.chat.AddMessage(bot.ChatMessage{Ref: bot.MessageRef{Channel: ch, TS: "1800000100.000100"}, User: "UCAROL", Text: "LB shows 502s for <@UBOB>",
		Time: h.clock.Now().Add(-time.Minute)})
	if _, err := h.run(&bot.Request{Kind: bot.KindEvent, UserID: "UBOB", Event: &bot.Event{ID: "EvPin", Type: bot.EventReactionAdded,
		Reaction: "pushpin", Item: bot.MessageRef{Channel: ch, TS: "1800000100.000100"}}}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	if _, err := h.run(&bot.Request{Kind: bot.KindEvent, UserID: "UCAROL", Event: &bot.Event{ID: "EvEdit", Type: bot.EventMessageChanged,
		Item: bot.MessageRef{Channel: ch, TS: "1800000100.000100"}, ItemUser: "UCAROL", Text: "LB shows 503s", Time: h.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	h.must("UCAROL", ch, "update rolling back")
	// The runbook family records its runs like this.
	if err := h.tl.Append(h.ctx(), bot.TimelineEvent{ID: uuid.New(), Incident: "INC-1", Type: bot.TLRunbook, Actor: "UBOB",
		Time: h.clock.Now(), Text: "restart-deployment", Details: map[string]string{"runbook": "restart-deployment",
			"outcome": "succeeded", "exit_code": "0", "approved_by": "UALICE"}}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(10 * time.Minute)
	h.must("UBOB", ch, "status monitoring")
	h.clock.Add(20 * time.Minute)
	h.must("UBOB", ch, "resolve rollback of release 42")
	return ch
}

func TestExportMarkdown(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	h := newHarness(t, func(c *Config) { c.Settings.Timezone = berlin })
	ch := walkIncident(t, h)

	h.must("UBOB", ch, "export")
	if len(h.chat.Uploads()) != 1 {
		t.Fatalf("uploads = %d, want 1", len(h.chat.Uploads()))
	}
	up := h.chat.Uploads()[0]
	if up.Channel != ch || up.Name != "inc-1-postmortem.md" {
		t.Errorf("upload = %s in %s, want inc-1-postmortem.md in %s", up.Name, up.Channel, ch)
	}
	md := string(up.Content)
	// 09:00 UTC is 10:00 in Berlin in November.
	for _, want := range []string{
		"# INC-1: checkout errors \\| eu",
		"| Severity | sev1 (highest: sev1) |",
		"| Declared | 2026-11-22 10:00:00 CET by @Alice Adams |",
		"| First commander | 2026-11-22 10:00:00 CET (time to commander: 0s) |",
		"| Mitigated (monitoring) | 2026-11-22 10:16:00 CET (time to mitigate: 16m) |",
		"| Resolved | 2026-11-22 10:36:00 CET (time to resolve: 36m) |",
		"| sev3 | 2026-11-22 10:00:00 CET | 2026-11-22 10:05:00 CET | 5m | @Alice Adams |",
		"| sev1 | 2026-11-22 10:05:00 CET | 2026-11-22 10:36:00 CET | 31m | @Bob Brown |",
		"| monitoring | 2026-11-22 10:16:00 CET | 2026-11-22 10:36:00 CET | 20m | @Bob Brown |",
		"| resolved | 2026-11-22 10:36:00 CET | — | — | @Bob Brown |",
		"| commander | @Alice Adams | 2026-11-22 10:00:00 CET | 2026-11-22 10:02:00 CET | 2m |",
		"| commander | @Bob Brown | 2026-11-22 10:02:00 CET | 2026-11-22 10:36:00 CET | 34m |",
		"| scribe | @Carol Chen | 2026-11-22 10:02:00 CET | 2026-11-22 10:36:00 CET | 34m |",
		"- **2026-11-22 10:04:00 CET** @Carol Chen said: LB shows 502s for @Bob Brown (pinned by @Bob Brown) _(later edited 2026-11-22 10:06:00 CET)_ ([message](https://example.slack.com/archives/",
		"@Bob Brown changed severity sev3 → sev1",
		"| 2026-11-22 10:06:00 CET | restart-deployment | @Bob Brown | succeeded, exit 0, approved by @Alice Adams |",
		"rollback of release 42",
		"- Alice Adams (`UALICE`)",
		"## Root cause",
		"## Action items",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n---\n%s", want, md)
		}
	}
	// The pinned message (said at 10:04) sits before the severity change
	// recorded at 10:05 although it was captured later.
	if i, j := strings.Index(md, "said: LB shows"), strings.Index(md, "changed severity sev3"); i < 0 || j < 0 || i > j {
		t.Errorf("timeline not in time order: pin at %d, severity change at %d", i, j)
	}
}

func TestExportJSON(t *testing.T) {
	h := newHarness(t, nil)
	walkIncident(t, h)
	out, err := h.svc.Export(h.ctx(), "inc-1", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Incident bot.Incident        `json:"incident"`
		Metrics  map[string]any      `json:"metrics"`
		Roles    []Tenure            `json:"roles"`
		Events   []bot.TimelineEvent `json:"events"`
		Runbooks []RunbookRun        `json:"runbooks"`
		People   []Person            `json:"participants"`
		Sevs     []SeverityPeriod    `json:"severity_history"`
		Extra    map[string]any      `json:"-"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("JSON export does not parse: %v", err)
	}
	events := h.events("INC-1")
	if len(doc.Events) != len(events) {
		t.Errorf("JSON has %d events, want all %d", len(doc.Events), len(events))
	}
	if doc.Incident.Key != "INC-1" || doc.Incident.Status != bot.StatusResolved {
		t.Errorf("incident = %s %s, want INC-1 resolved", doc.Incident.Key, doc.Incident.Status)
	}
	for k, want := range map[string]float64{"time_to_commander_seconds": 0, "time_to_mitigate_seconds": 960, "time_to_resolve_seconds": 2160} {
		if got, ok := doc.Metrics[k].(float64); !ok || got != want {
			t.Errorf("metrics[%s] = %v, want %v", k, doc.Metrics[k], want)
		}
	}
	if len(doc.Roles) != 3 || len(doc.Runbooks) != 1 || len(doc.Sevs) != 2 || len(doc.People) != 3 {
		t.Errorf("roles %d runbooks %d severities %d people %d, want 3 1 2 3", len(doc.Roles), len(doc.Runbooks), len(doc.Sevs), len(doc.People))
	}
}

func TestExportErrors(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name, key, format, want string
	}{
		{name: "unknown incident", key: "INC-9", format: "md", want: "no incident INC-9"},
		{name: "not a key", key: "banana", format: "md", want: "not an incident key"},
		{name: "unknown format", key: "INC-1", format: "pdf", want: "use md or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.Export(h.ctx(), tt.key, tt.format)
			var ue *bot.UserError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.want) {
				t.Errorf("Export(%s, %s) error = %v, want a user error with %q", tt.key, tt.format, err, tt.want)
			}
		})
	}
}

func TestExportTemplateOverride(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Settings.ExportTemplate = "{{.Incident.Key}} had {{len .Events}} events; first by {{.Who .Incident.DeclaredBy}}\n"
	})
	h.declare("sev2 x")
	out, err := h.svc.Export(h.ctx(), "INC-1", "md")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "INC-1 had 2 events; first by @Alice Adams\n"; got != want {
		t.Errorf("export = %q, want %q", got, want)
	}
	if _, err := New(Config{Chat: bottest.NewChat(), Store: h.store, Timeline: h.tl,
		Settings: Settings{ExportTemplate: "{{.Broken"}}); err == nil {
		t.Error("New accepted a template that does not parse")
	}
}

// memStore and memTimeline hold one incident for the benchmark, so that it
// measures the export rather than Redis.
type memStore struct {
	bot.IncidentStore
	inc bot.Incident
}

func (m memStore) Get(context.Context, string) (bot.Incident, error) { return m.inc, nil }

type memTimeline struct{ events []bot.TimelineEvent }

func (m memTimeline) Append(context.Context, bot.TimelineEvent) error { return nil }
func (m memTimeline) Events(context.Context, string) ([]bot.TimelineEvent, error) {
	return m.events, nil
}

func benchEvents(n int) []bot.TimelineEvent {
	users := []string{"UALICE", "UBOB", "UCAROL"}
	evs := make([]bot.TimelineEvent, 0, n)
	evs = append(evs, bot.TimelineEvent{ID: uuid.New(), Incident: "INC-1", Type: bot.TLDeclared, Actor: "UALICE", Time: t0,
		Text: "checkout errors", Details: map[string]string{"severity": "sev2", "status": "investigating"}})
	for i := 1; i < n; i++ {
		ev := bot.TimelineEvent{ID: uuid.New(), Incident: "INC-1", Actor: users[i%3], Time: t0.Add(time.Duration(i) * time.Second)}
		switch i % 5 {
		case 0:
			ev.Type, ev.Text = bot.TLNote, fmt.Sprintf("note %d about <@UBOB> and the *load balancer*", i)
		case 1:
			ev.Type, ev.Text = bot.TLUpdate, fmt.Sprintf("update %d: error rate at %d%%", i, i%100)
		case 2:
			ev.Type, ev.Text = bot.TLPinned, fmt.Sprintf("pinned message %d", i)
			ev.Details = map[string]string{"channel": "C1", "ts": fmt.Sprintf("%d.000100", 1800000000+i), "pinned_by": "UBOB",
				"permalink": fmt.Sprintf("https://example.slack.com/archives/C1/p%d000100", 1800000000+i)}
		case 3:
			ev.Type, ev.Details = bot.TLRoleAssigned, map[string]string{"role": "comms", "user": users[(i+1)%3]}
		case 4:
			ev.Type, ev.Details = bot.TLRunbook, map[string]string{"runbook": "restart", "outcome": "succeeded", "exit_code": "0"}
		}
		evs = append(evs, ev)
	}
	return evs
}

// BenchmarkExport10k exports a 10,000-event timeline as Markdown and JSON.
func BenchmarkExport10k(b *testing.B) {
	chat := bottest.NewChat()
	for _, u := range []string{"UALICE", "UBOB", "UCAROL"} {
		chat.AddUser(bot.User{ID: u, RealName: strings.ToLower(u[1:])})
	}
	inc := bot.Incident{Key: "INC-1", Number: 1, Title: "checkout errors", Severity: bot.Sev2, Status: bot.StatusResolved,
		Commander: "UBOB", DeclaredBy: "UALICE", DeclaredAt: t0, ResolvedAt: t0.Add(3 * time.Hour), Channel: "C1", ChannelName: "inc-1-checkout-errors"}
	svc, err := New(Config{Chat: chat, Store: memStore{inc: inc}, Timeline: memTimeline{events: benchEvents(10_000)},
		Clock: bottest.NewClock(t0.Add(4 * time.Hour)), Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{FormatMarkdown, FormatJSON} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := svc.Export(context.Background(), "INC-1", format)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes/export")
		})
	}
}

// A refused Approve click is recorded by the runbook family with the
// clicker as approver. The post-mortem says who was refused, by name, and
// does not list it as a runbook run (let alone "approved by" the clicker).
func TestExportRefusedApprovalClick(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("sev2 queue backlog")
	for _, d := range []map[string]string{
		{"runbook": "restart", "event": "approval_requested", "decision": "approval_required", "rule": "namespace=prod"},
		{"runbook": "restart", "event": "refused", "decision": "refused", "approver": "UCAROL",
			"rule": "approval by UCAROL refused: not in approval.approvers"},
	} {
		if err := h.tl.Append(h.ctx(), bot.TimelineEvent{ID: uuid.New(), Incident: inc.Key, Type: bot.TLRunbook, Actor: "UBOB",
			Time: h.clock.Now(), Text: "runbook restart", Details: d}); err != nil {
			t.Fatal(err)
		}
	}
	h.must("UBOB", inc.Channel, "export")
	md := string(h.chat.Uploads()[len(h.chat.Uploads())-1].Content)
	if want := "@Carol Chen could not approve @Bob Brown's request to run runbook \\`restart\\` (not in approval.approvers)"; !strings.Contains(md, want) {
		t.Errorf("markdown lacks %q\n---\n%s", want, md)
	}
	if !strings.Contains(md, "_No runbooks were run._") || strings.Contains(md, "approved by") {
		t.Errorf("a refused click is listed as a run or an approval:\n%s", md)
	}
}
