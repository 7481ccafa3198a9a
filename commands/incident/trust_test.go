package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// trustHarness is a harness serving team T1, with a guest, a deactivated
// account, a bot, a user of another workspace and a group of leads.
func trustHarness(t *testing.T, mod func(*Config, redis.Client)) *harness {
	t.Helper()
	rdb := redistest.New(t)
	clock := bottest.NewClock(t0)
	h := newHarnessOn(t, rdb, clock, bottest.NewChat(), func(c *Config) {
		c.TeamID = "T1"
		c.Settings.Admins = []string{"UADMIN"}
		if mod != nil {
			mod(c, rdb)
		}
	})
	for id, u := range map[string]bot.User{
		"UALICE": {Name: "alice"}, "UBOB": {Name: "bob"}, "UCAROL": {Name: "carol"}, "UADMIN": {Name: "admin"},
		"UGUEST":   {Name: "gus", IsRestricted: true},
		"USINGLE":  {Name: "sue", IsUltraRestricted: true},
		"UGONE":    {Name: "gone", Deleted: true},
		"UBOT":     {Name: "deploybot", IsBot: true},
		"UFOREIGN": {Name: "fred", TeamID: "T2"},
	} {
		u.ID = id
		if u.TeamID == "" {
			u.TeamID = "T1"
		}
		h.chat.AddUser(u)
	}
	h.chat.SetGroup("SLEADS", "UCAROL")
	return h
}

// as runs "/incident text" from T1 as user in channel.
func (h *harness) as(user, channel, text string) (bot.Response, error) {
	n := h.n.Add(1)
	return h.run(&bot.Request{Kind: bot.KindCommand, Command: "/incident", Text: text, UserID: user, TeamID: "T1",
		ChannelID: channel, TriggerID: "trig-" + user + "-" + text, DedupeKey: "trig-" + user + "-" + text,
		EnvelopeID: "env-" + string(rune('a'+n%26))})
}

// snapshot is what a refused request must leave unchanged.
type snapshot struct {
	inc       bot.Incident
	events    int
	mutations int
}

func (h *harness) snap(key string) snapshot {
	return snapshot{inc: h.get(key), events: len(h.events(key)), mutations: len(h.chat.Mutations())}
}

func (h *harness) unchanged(t *testing.T, what string, before snapshot) {
	t.Helper()
	after := h.snap(before.inc.Key)
	if diff := cmp.Diff(before.inc, after.inc); diff != "" {
		t.Errorf("%s changed the incident (-before +after):\n%s", what, diff)
	}
	if after.events != before.events {
		t.Errorf("%s added %d timeline events", what, after.events-before.events)
	}
	if after.mutations != before.mutations {
		t.Errorf("%s changed the workspace: %v", what, h.chat.Mutations()[before.mutations:])
	}
}

// TestGuestsReadAndNoteOnly: a guest made scribe can follow the incident and
// add to its timeline, and nothing more, by command, button or form.
func TestGuestsReadAndNoteOnly(t *testing.T) {
	pager := &fakePager{}
	h := trustHarness(t, func(c *Config, rdb redis.Client) {
		c.Pager = pager
		c.Settings.PageServices = []string{"checkout"}
		fups, err := redis.NewFollowups(rdb)
		if err != nil {
			t.Fatal(err)
		}
		c.Followups = fups
	})
	if _, err := h.as("UALICE", "CGENERAL", "declare sev3 queue backlog"); err != nil {
		t.Fatal(err)
	}
	inc := h.get("INC-1")
	if _, err := h.as("UALICE", inc.Channel, "role scribe <@UGUEST|gus>"); err != nil {
		t.Fatalf("a guest may hold a role: %v", err)
	}
	if _, err := h.as("UALICE", inc.Channel, "followup add a queue depth alert <@UBOB|bob>"); err != nil {
		t.Fatalf("follow-up: %v", err)
	}
	for _, guest := range []string{"UGUEST", "USINGLE"} {
		for _, text := range []string{"timeline", "list", "export json", "followups", "stats 7d"} {
			if _, err := h.as(guest, inc.Channel, text); err != nil {
				t.Errorf("%s: /incident %s refused: %v", guest, text, err)
			}
		}
		if _, err := h.as(guest, inc.Channel, "note saw 502s from "+guest); err != nil {
			t.Errorf("%s: note refused: %v", guest, err)
		}
		for _, text := range []string{"declare sev1 fake outage", "commander <@" + guest + ">", "role comms <@UBOB|bob>",
			"sev sev1", "status identified", "status resolved", "update all good", "resolve done", "page checkout now",
			"followup write the runbook", "followup done 1"} {
			before := h.snap(inc.Key)
			_, err := h.as(guest, inc.Channel, text)
			if err == nil || !strings.Contains(err.Error(), "needs a full member") {
				t.Errorf("%s: /incident %s: got %v, want the guest refusal", guest, text, err)
			}
			h.unchanged(t, guest+" /incident "+text, before)
		}
		for _, id := range []string{ActionTakeCommand, ActionAssign, ActionUpdateStatus, ActionResolve, ActionFollowupDone} {
			before := h.snap(inc.Key)
			value := inc.Key
			if id == ActionFollowupDone {
				value = inc.Key + "/1"
			}
			_, err := h.run(&bot.Request{Kind: bot.KindAction, TeamID: "T1", UserID: guest, ChannelID: inc.Channel,
				TriggerID: "t-" + guest + id, Action: &bot.Action{ID: id, Value: value, Message: inc.SummaryRef}})
			if err == nil || !strings.Contains(err.Error(), "needs a full member") {
				t.Errorf("%s clicking %s: got %v, want the guest refusal", guest, id, err)
			}
			h.unchanged(t, guest+" clicking "+id, before)
		}
	}
	if len(pager.pages) != 0 {
		t.Errorf("guests paged %d times", len(pager.pages))
	}
	if n := len(h.chat.Modals()); n != 0 {
		t.Errorf("guests opened %d forms", n)
	}
	// A form opened by a full member cannot be submitted by a guest.
	if _, err := h.run(&bot.Request{Kind: bot.KindAction, TeamID: "T1", UserID: "UBOB", ChannelID: inc.Channel,
		TriggerID: "t-bob-resolve", Action: &bot.Action{ID: ActionResolve, Value: inc.Key, Message: inc.SummaryRef}}); err != nil {
		t.Fatal(err)
	}
	before := h.snap(inc.Key)
	_, err := h.run(&bot.Request{Kind: bot.KindView, TeamID: "T1", UserID: "UGUEST", View: &bot.ViewSubmission{
		CallbackID: ViewResolve, PrivateMetadata: h.chat.Modals()[0].PrivateMetadata, Values: map[string]string{inputSummary: "x"}}})
	if err == nil {
		t.Error("guest submitted the resolve form")
	}
	h.unchanged(t, "a guest submitting the resolve form", before)
}

// TestOtherAccountsRefused: another workspace's requests (by team ID, or a
// person whose account belongs to another team), deactivated accounts and
// bots change nothing; roles go only to active people of this workspace.
func TestOtherAccountsRefused(t *testing.T) {
	h := trustHarness(t, nil)
	if _, err := h.as("UALICE", "CGENERAL", "declare sev3 queue backlog"); err != nil {
		t.Fatal(err)
	}
	inc := h.get("INC-1")
	for _, tt := range []struct {
		name, team, user, text, want string
	}{
		{"other team_id, read", "T2", "UALICE", "timeline", "another Slack workspace"},
		{"other team_id, note", "T2", "UALICE", "note hi", "another Slack workspace"},
		{"other team_id, declare", "T2", "UALICE", "declare sev1 fake", "another Slack workspace"},
		{"no team_id", "", "UALICE", "sev sev1", "another Slack workspace"},
		{"account of another workspace", "T1", "UFOREIGN", "sev sev1", "another Slack workspace"},
		{"deactivated", "T1", "UGONE", "sev sev1", "Only active people"},
		{"bot", "T1", "UBOT", "resolve", "Only active people"},
		{"unknown", "T1", "UNOBODY", "sev sev1", "couldn't check your account"},
		{"role for a deactivated account", "T1", "UALICE", "role comms <@UGONE|gone>", "deactivated"},
		{"role for a bot", "T1", "UALICE", "commander <@UBOT|deploybot>", "is a bot"},
		{"role for another workspace", "T1", "UALICE", "role comms <@UFOREIGN|fred>", "another workspace"},
		{"role for nobody", "T1", "UALICE", "role comms <@UNOBODY>", "can't find that person"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.snap(inc.Key)
			_, err := h.run(&bot.Request{Kind: bot.KindCommand, Command: "/incident", Text: tt.text, UserID: tt.user,
				TeamID: tt.team, ChannelID: inc.Channel, TriggerID: "t-" + tt.name, DedupeKey: "t-" + tt.name})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a refusal containing %q", err, tt.want)
			}
			h.unchanged(t, tt.name, before)
		})
	}
	// The directory is asked once per person per 30 s, not per command.
	n := len(h.chat.CallsMatching("User UALICE"))
	for i := 0; i < 3; i++ {
		if _, err := h.as("UALICE", inc.Channel, "status identified"); err != nil && !strings.Contains(err.Error(), "already") {
			t.Fatal(err)
		}
	}
	if got := len(h.chat.CallsMatching("User UALICE")) - n; got != 0 {
		t.Errorf("users.info for UALICE asked %d more times within the cache's lifetime, want 0", got)
	}
	// Deactivating someone takes effect once the cached answer expires.
	h.chat.EditUser("UALICE", func(u *bot.User) { u.Deleted = true })
	h.clock.Add(memberCacheTTL)
	if _, err := h.as("UALICE", inc.Channel, "status monitoring"); err == nil || !strings.Contains(err.Error(), "Only active people") {
		t.Errorf("deactivated account after the cache expired: got %v, want a refusal", err)
	}
}

// TestPermissionsNarrowPageResolveSeverity: with incidents.permissions set,
// only the listed people (and admins) page, resolve or change severity, by
// command, `status resolved`, the Resolve button and its form.
func TestPermissionsNarrowPageResolveSeverity(t *testing.T) {
	pager := &fakePager{}
	var perms Permissions
	if err := yaml.Unmarshal([]byte("page: {users: [UALICE]}\nresolve: {usergroups: [SLEADS]}\nseverity: {usergroups: [SLEADS], users: [UALICE]}\n"), &perms); err != nil {
		t.Fatal(err)
	}
	h := trustHarness(t, func(c *Config, _ redis.Client) {
		c.Pager, c.Settings.PageServices, c.Settings.Permissions = pager, []string{"checkout"}, perms
	})
	if _, err := h.as("UBOB", "CGENERAL", "declare sev3 queue backlog"); err != nil {
		t.Fatal(err)
	}
	inc := h.get("INC-1")
	for _, text := range []string{"sev sev1", "page checkout", "resolve done", "status resolved"} {
		before := h.snap(inc.Key)
		_, err := h.as("UBOB", inc.Channel, text)
		if err == nil || !strings.Contains(err.Error(), "incidents.permissions.") {
			t.Errorf("bob: /incident %s: got %v, want a refusal naming incidents.permissions", text, err)
		}
		h.unchanged(t, "bob /incident "+text, before)
	}
	before := h.snap(inc.Key)
	if _, err := h.run(&bot.Request{Kind: bot.KindAction, TeamID: "T1", UserID: "UBOB", ChannelID: inc.Channel, TriggerID: "tb",
		Action: &bot.Action{ID: ActionResolve, Value: inc.Key, Message: inc.SummaryRef}}); err == nil {
		t.Error("bob opened the resolve form")
	}
	h.unchanged(t, "bob clicking Resolve", before)
	// Not narrowed: status and roles stay open to full members.
	if _, err := h.as("UBOB", inc.Channel, "status identified"); err != nil {
		t.Errorf("bob: status identified: %v", err)
	}
	if _, err := h.as("UALICE", inc.Channel, "sev sev2"); err != nil {
		t.Errorf("alice (listed) raising severity: %v", err)
	}
	if _, err := h.as("UCAROL", inc.Channel, "sev sev1"); err != nil {
		t.Errorf("carol (in SLEADS) raising severity: %v", err)
	}
	if _, err := h.as("UADMIN", inc.Channel, "page checkout db on fire"); err != nil || len(pager.pages) != 1 {
		t.Errorf("admin paging: %v (%d pages)", err, len(pager.pages))
	}
	if _, err := h.as("UCAROL", inc.Channel, "resolve fixed"); err != nil {
		t.Errorf("carol (in SLEADS) resolving: %v", err)
	}
	if got := h.get(inc.Key); got.Open() {
		t.Errorf("incident still open after carol resolved it")
	}
}

func TestPermissionsYAML(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"unknown permission", "incidents:\n  permissions:\n    archive: {users: [U1A]}\n", "line 3: incidents.permissions.archive: unknown key"},
		{"user by name", "incidents:\n  permissions:\n    page:\n      users: [U0ALICE, alice]\n", `line 4: incidents.permissions.page.users: "alice" is not a user ID`},
		{"group by handle", "incidents:\n  permissions:\n    resolve: {usergroups: [\"@sre\"]}\n", `line 3: incidents.permissions.resolve.usergroups: "@sre" is not a user group ID`},
		{"nobody", "incidents:\n  permissions:\n    severity: {}\n", "line 3: incidents.permissions.severity: lists nobody"},
		{"unknown key", "incidents:\n  permissions:\n    page: {people: [U1A]}\n", "line 3: incidents.permissions.page.people: unknown key"},
		{"not a mapping", "incidents:\n  permissions: [page]\n", "line 2: incidents.permissions: want a mapping"},
		{"bad rate", "incidents:\n  limits:\n    declarations: lots\n", `line 3: incidents.limits.declarations: "lots" is not like "5 per 10m"`},
		{"bad cap", "incidents:\n  limits:\n    timeline_events: 0\n", `line 3: incidents.limits.timeline_events: "0" is not a whole number from 10 to 1000000`},
		{"bad bytes", "incidents:\n  limits:\n    text_bytes: 2mb\n", `line 3: incidents.limits.text_bytes: "2mb" is not a whole number`},
		{"unknown limit", "incidents:\n  limits:\n    runs: 3\n", "line 3: incidents.limits.runs: unknown key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var doc struct {
				Incidents Settings `yaml:"incidents"`
			}
			err := yaml.Unmarshal([]byte(tt.yaml), &doc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	var doc struct {
		Incidents Settings `yaml:"incidents"`
	}
	good := "incidents:\n  permissions:\n    page: {users: [U0ALICE], usergroups: [S0LEADS]}\n  limits:\n    declarations: 3 per 1h\n    timeline_events: 200\n    text_bytes: 4096\n"
	if err := yaml.Unmarshal([]byte(good), &doc); err != nil {
		t.Fatal(err)
	}
	want := Limits{Declarations: Rate{Count: 3, Per: time.Hour}, TimelineEvents: 200, TextBytes: 4096}
	if diff := cmp.Diff(want, doc.Incidents.Limits); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}
	if p := doc.Incidents.Permissions.Page; p == nil || p.Users[0] != "U0ALICE" || p.Usergroups[0] != "S0LEADS" || doc.Incidents.Permissions.Resolve != nil {
		t.Errorf("permissions = %+v", doc.Incidents.Permissions)
	}
	if err := yaml.Unmarshal([]byte("incidents:\n  limits: {declarations: \"off\"}\n"), &doc); err != nil || !doc.Incidents.Limits.Declarations.Off {
		t.Errorf("declarations off: %+v, %v", doc.Incidents.Limits.Declarations, err)
	}
	d, err := (Settings{}).withDefaults()
	if err != nil || d.Limits != (Limits{Declarations: DefaultDeclarations, TimelineEvents: DefaultTimelineEvents, TextBytes: DefaultTextBytes}) {
		t.Errorf("default limits = %+v, %v", d.Limits, err)
	}
}

// TestButtonsActOnlyOnTheirSummary: a click counts only on the incident's own
// pinned summary in its own channel, whatever incident its value names.
func TestButtonsActOnlyOnTheirSummary(t *testing.T) {
	h := trustHarness(t, nil)
	for _, title := range []string{"sev3 first", "sev3 second"} {
		if _, err := h.as("UALICE", "CGENERAL", "declare "+title); err != nil {
			t.Fatal(err)
		}
	}
	one, two := h.get("INC-1"), h.get("INC-2")
	other, err := h.chat.Post(h.ctx(), bot.Message{Channel: one.Channel, Text: "another message"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		value string
		msg   bot.MessageRef
	}{
		{"another incident's value on this summary", two.Key, one.SummaryRef},
		{"this incident's value on another message", one.Key, other},
		{"this incident's value in another channel", one.Key, bot.MessageRef{Channel: "CGENERAL", TS: one.SummaryRef.TS}},
		{"an ephemeral copy (no ts)", one.Key, bot.MessageRef{Channel: one.Channel}},
		{"a value that is no incident", "INC-<!here>", one.SummaryRef},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b1, b2 := h.snap(one.Key), h.snap(two.Key)
			for _, id := range []string{ActionTakeCommand, ActionAssign, ActionUpdateStatus, ActionResolve} {
				_, err := h.run(&bot.Request{Kind: bot.KindAction, TeamID: "T1", UserID: "UBOB", ChannelID: tt.msg.Channel,
					TriggerID: "t-" + tt.name + id, Action: &bot.Action{ID: id, Value: tt.value, Message: tt.msg}})
				if err == nil {
					t.Errorf("%s accepted", id)
				} else if strings.Contains(err.Error(), "<!") {
					t.Errorf("refusal %q repeats markup", err)
				}
			}
			h.unchanged(t, tt.name, b1)
			h.unchanged(t, tt.name, b2)
			if len(h.chat.Modals()) != 0 {
				t.Errorf("a form was opened")
			}
		})
	}
	if _, err := h.run(&bot.Request{Kind: bot.KindAction, TeamID: "T1", UserID: "UBOB", ChannelID: one.Channel, TriggerID: "t-ok",
		Action: &bot.Action{ID: ActionTakeCommand, Value: one.Key, Message: one.SummaryRef}}); err != nil {
		t.Fatalf("the genuine click: %v", err)
	}
	if got := h.get(one.Key).Commander; got != "UBOB" {
		t.Errorf("commander = %s after the genuine click, want UBOB", got)
	}
}

// TestFormsActOnlyOnTheirIncident: a form's metadata is sealed with its
// incident, channel and opener; altered, replayed into another form or
// submitted by someone else, it changes nothing.
func TestFormsActOnlyOnTheirIncident(t *testing.T) {
	h := trustHarness(t, func(c *Config, rdb redis.Client) { c.Secrets = redis.NewSecrets(rdb) })
	for _, title := range []string{"sev3 first", "sev3 second"} {
		if _, err := h.as("UALICE", "CGENERAL", "declare "+title); err != nil {
			t.Fatal(err)
		}
	}
	one, two := h.get("INC-1"), h.get("INC-2")
	open := func(id string) string {
		if _, err := h.run(&bot.Request{Kind: bot.KindAction, TeamID: "T1", UserID: "UBOB", ChannelID: one.Channel, TriggerID: "t-" + id,
			Action: &bot.Action{ID: id, Value: one.Key, Message: one.SummaryRef}}); err != nil {
			t.Fatal(err)
		}
		return h.chat.Modals()[len(h.chat.Modals())-1].PrivateMetadata
	}
	resolveMD, assignMD := open(ActionResolve), open(ActionAssign)
	forged := strings.Replace(resolveMD, one.Key+"|"+one.Channel, two.Key+"|"+two.Channel, 1)
	for _, tt := range []struct {
		name, user, callback, md string
	}{
		{"plain key of another incident", "UBOB", ViewResolve, two.Key},
		{"sealed metadata edited to another incident", "UBOB", ViewResolve, forged},
		{"assign metadata replayed into the resolve form", "UBOB", ViewResolve, assignMD},
		{"submitted by someone who did not open it", "UALICE", ViewResolve, resolveMD},
		{"empty", "UBOB", ViewResolve, ""},
		{"status form with the resolve form's metadata", "UBOB", ViewStatusUpdate, resolveMD},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b1, b2 := h.snap(one.Key), h.snap(two.Key)
			_, err := h.run(&bot.Request{Kind: bot.KindView, TeamID: "T1", UserID: tt.user, View: &bot.ViewSubmission{
				CallbackID: tt.callback, PrivateMetadata: tt.md,
				Values: map[string]string{inputSummary: "forged", inputStatus: "identified", inputUpdate: "forged"}}})
			if err == nil || !strings.Contains(err.Error(), "not opened by this bot for you") {
				t.Errorf("got %v, want the form refusal", err)
			}
			h.unchanged(t, tt.name, b1)
			h.unchanged(t, tt.name, b2)
		})
	}
	// The genuine form, submitted through another replica (same secret).
	other := newHarnessOn(t, h.rdb, h.clock, h.chat, func(c *Config) {
		c.TeamID = "T1"
		c.Secrets = redis.NewSecrets(h.rdb)
	})
	if _, err := other.run(&bot.Request{Kind: bot.KindView, TeamID: "T1", UserID: "UBOB", View: &bot.ViewSubmission{
		CallbackID: ViewResolve, PrivateMetadata: resolveMD, Values: map[string]string{inputSummary: "restarted"}}}); err != nil {
		t.Fatalf("genuine form on another replica: %v", err)
	}
	if got := h.get(one.Key); got.Open() || got.Resolution != "restarted" {
		t.Errorf("INC-1 after the genuine form: %s %q", got.Status, got.Resolution)
	}
	if got := h.get(two.Key); !got.Open() {
		t.Errorf("INC-2 was resolved")
	}
}

// TestDeclarationRateLimit: one person may declare DefaultDeclarations per
// window, counted across replicas; others are not affected.
func TestDeclarationRateLimit(t *testing.T) {
	var h, other *harness
	h = trustHarness(t, func(c *Config, rdb redis.Client) { c.Limiter = redis.NewLimiter(rdb, c.Clock) })
	other = newHarnessOn(t, h.rdb, h.clock, h.chat, func(c *Config) {
		c.TeamID = "T1"
		c.Limiter = redis.NewLimiter(h.rdb, h.clock)
	})
	for i := 0; i < 5; i++ {
		on := h
		if i%2 == 1 {
			on = other // another replica counts against the same budget
		}
		if _, err := on.as("UALICE", "CGENERAL", "declare sev1 outage "+string(rune('a'+i))); err != nil {
			t.Fatalf("declaration %d: %v", i+1, err)
		}
	}
	creates := len(h.chat.CallsMatching("CreateChannel"))
	_, err := other.as("UALICE", "CGENERAL", "declare sev1 outage f")
	if err == nil || !strings.Contains(err.Error(), "You have declared 5 incidents in the last 10m") {
		t.Fatalf("6th declaration: got %v, want the rate refusal", err)
	}
	if n := len(h.chat.CallsMatching("CreateChannel")); n != creates {
		t.Errorf("refused declaration created a channel")
	}
	if open, _ := h.store.Open(h.ctx()); len(open) != 5 {
		t.Errorf("%d incidents open, want 5", len(open))
	}
	if _, err := h.as("UBOB", "CGENERAL", "declare sev3 unrelated"); err != nil {
		t.Errorf("another person's declaration: %v", err)
	}
	h.clock.Add(10*time.Minute + time.Second)
	if _, err := h.as("UALICE", "CGENERAL", "declare sev1 outage g"); err != nil {
		t.Errorf("declaration after the window: %v", err)
	}
}

// TestTimelineCaps: an incident's timeline takes at most TimelineEvents
// notes, updates and pins, and no text over TextBytes; state changes are
// still recorded past the cap.
func TestTimelineCaps(t *testing.T) {
	h := trustHarness(t, func(c *Config, rdb redis.Client) {
		c.Limiter = redis.NewLimiter(rdb, c.Clock)
		c.Settings.Limits = Limits{TimelineEvents: 10, TextBytes: 300}
		fups, err := redis.NewFollowups(rdb)
		if err != nil {
			t.Fatal(err)
		}
		c.Followups = fups
	})
	if _, err := h.as("UALICE", "CGENERAL", "declare sev3 noisy"); err != nil {
		t.Fatal(err)
	}
	inc := h.get("INC-1")
	if _, err := h.as("UALICE", inc.Channel, "note "+strings.Repeat("é", 151)); err == nil || !strings.Contains(err.Error(), "302 bytes; keep it to 300") {
		t.Errorf("over-long note: got %v, want the byte refusal", err)
	}
	for i := 0; i < 8; i++ {
		if _, err := h.as("UALICE", inc.Channel, "note n"+string(rune('a'+i))); err != nil {
			t.Fatalf("note %d: %v", i+1, err)
		}
	}
	// Follow-ups are written by people into the timeline (and may each
	// open an issue): they count too.
	if _, err := h.as("UALICE", inc.Channel, "followup add a dashboard"); err != nil {
		t.Fatalf("follow-up (9th): %v", err)
	}
	if _, err := h.as("UALICE", inc.Channel, "update still noisy"); err != nil {
		t.Fatalf("update (10th): %v", err)
	}
	before := h.snap(inc.Key)
	if _, err := h.as("UALICE", inc.Channel, "note one too many"); err == nil || !strings.Contains(err.Error(), "timeline is full") {
		t.Errorf("11th note: got %v, want the cap refusal", err)
	}
	if _, err := h.as("UALICE", inc.Channel, "update one too many"); err == nil || !strings.Contains(err.Error(), "timeline is full") {
		t.Errorf("11th update: got %v, want the cap refusal", err)
	}
	if _, err := h.as("UALICE", inc.Channel, "followup one too many"); err == nil || !strings.Contains(err.Error(), "so this follow-up was not added") {
		t.Errorf("11th, a follow-up: got %v, want the cap refusal", err)
	}
	h.unchanged(t, "notes over the cap", before)
	h.chat.AddMessage(bot.ChatMessage{Ref: bot.MessageRef{Channel: inc.Channel, TS: "1800000100.000100"}, User: "UBOB", Text: "pinned", Time: h.clock.Now()})
	if _, err := h.run(&bot.Request{Kind: bot.KindEvent, TeamID: "T1", UserID: "UBOB", Event: &bot.Event{ID: "EvCap", Type: bot.EventReactionAdded,
		Reaction: "pushpin", Item: bot.MessageRef{Channel: inc.Channel, TS: "1800000100.000100"}}}); err != nil {
		t.Fatal(err)
	}
	if len(h.events(inc.Key)) != before.events {
		t.Errorf("a pin over the cap was recorded")
	}
	if e := h.chat.Ephemerals()[len(h.chat.Ephemerals())-1]; !strings.Contains(e.Text, "timeline is full") {
		t.Errorf("pinner told %q, want the cap explained", e.Text)
	}
	if _, err := h.as("UALICE", inc.Channel, "sev sev2"); err != nil {
		t.Fatalf("severity change past the cap: %v", err)
	}
	if _, err := h.as("UALICE", inc.Channel, "resolve done"); err != nil {
		t.Fatalf("resolve past the cap: %v", err)
	}
	if got := len(h.events(inc.Key)); got != before.events+2 {
		t.Errorf("timeline has %d events, want the 2 state changes recorded past the cap (%d)", got, before.events+2)
	}
}

// TestRepeatedTextNeverPings checks every message the service builds from
// person-written text, at the service level (the end-to-end test does it
// through Slack).
func TestRepeatedTextNeverPings(t *testing.T) {
	const evil = "<!here> <!channel|channel> <!everyone> <!subteam^SSRE|@sre> <@UCAROL|carol> <#CSECRET|secret> <https://evil.example|https://good.example>"
	pager := &fakePager{}
	h := trustHarness(t, func(c *Config, _ redis.Client) { c.Pager = pager; c.Settings.PageServices = []string{"checkout"} })
	if _, err := h.as("UALICE", "CGENERAL", "declare sev2 db "+evil); err != nil {
		t.Fatal(err)
	}
	inc := h.get("INC-1")
	for _, text := range []string{"update " + evil, "note " + evil, "role comms <@UBOB|bob>", "page checkout " + evil,
		"timeline", "list", "resolve " + evil} {
		resp, err := h.as("UALICE", inc.Channel, text)
		if err != nil {
			t.Fatalf("/incident %s: %v", text, err)
		}
		assertNoPing(t, "/incident "+text+" reply", resp.Message)
	}
	var all []bot.Message
	all = append(all, h.chat.Posts()...)
	all = append(all, h.chat.Ephemerals()...)
	// Every edit of every message, not only where it ended.
	all = append(all, h.chat.AllUpdates()...)
	for _, m := range all {
		assertNoPing(t, "message in "+m.Channel, m)
	}
	for ch, s := range h.chat.Topics() {
		assertNoPing(t, "topic of "+ch, bot.Message{Text: s})
	}
	for ch, s := range h.chat.Purposes() {
		assertNoPing(t, "purpose of "+ch, bot.Message{Text: s})
	}
}

var pings = []string{"<!here", "<!channel", "<!everyone", "<!subteam", "<@UCAROL", "<#CSECRET", "<https://evil", "|https://good"}

func assertNoPing(t *testing.T, where string, m bot.Message) {
	t.Helper()
	parts := []string{m.Title, m.Text, m.Code, m.Context}
	for _, f := range m.Fields {
		parts = append(parts, f.Label, f.Value)
	}
	all := strings.Join(parts, "\n")
	for _, p := range pings {
		if strings.Contains(all, p) {
			t.Errorf("%s contains %q:\n%s", where, p, all)
		}
	}
}
