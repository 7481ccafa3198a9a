package oncall_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/oncall"
)

// MapAhead finds, before their shift, the on-call people without a Slack
// user (Dora's override starts six hours after the clock), and changes
// nothing in Slack.
func TestMapAheadReportsUnmappedBeforeTheirShift(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()

	people, err := f.svc.MapAhead(ctx, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []oncall.Scheduled{
		{Person: bot.Person{Name: "Anna", Email: "anna@example.com", ProviderID: "anna@example.com"}, Schedules: []string{"berlin"}},
		{Person: bot.Person{Name: "Cleo", Email: "cleo@example.com", ProviderID: "cleo@example.com"}, Schedules: []string{"berlin"}},
		{Person: bot.Person{Name: "Lead", Email: "lead@example.com", ProviderID: "lead@example.com"}, Schedules: []string{"berlin"}},
	}
	if diff := cmp.Diff(want, people); diff != "" {
		t.Errorf("the next two hours (-want +got):\n%s", diff)
	}
	if got := f.svc.Unmapped(); len(got) != 0 {
		t.Errorf("Unmapped = %v, want none yet", got)
	}

	people, err = f.svc.MapAhead(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dora := bot.Person{Name: "Dora", Email: "dora@example.com", ProviderID: "dora@example.com"}
	// Ben's day starts 25 hours after the clock.
	var names []string
	for _, p := range people {
		names = append(names, p.Person.Name)
	}
	if diff := cmp.Diff([]string{"Anna", "Cleo", "Dora", "Lead"}, names); diff != "" {
		t.Errorf("the next day (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bot.Person{dora}, f.svc.Unmapped()); diff != "" {
		t.Errorf("Unmapped (-want +got):\n%s", diff)
	}
	if posts, sets := f.chat.ChannelPosts(), f.chat.CallsMatching("SetUsergroupMembers"); len(posts) != 0 || len(sets) != 0 {
		t.Errorf("posted %d messages and set %d user groups, want none", len(posts), len(sets))
	}
}

// A schedule that cannot be read is an error naming it; the others are
// still mapped.
func TestMapAheadGoesOnWhenAScheduleFails(t *testing.T) {
	prov := &flaky{OnCallProvider: fileProvider(t)}
	f := newFixture(t, func(c *oncall.Config) {
		c.Provider = prov
		c.Settings.Schedules = append(c.Settings.Schedules, bot.ScheduleConfig{ID: "nope", Name: "nope"})
	})
	people, err := f.svc.MapAhead(context.Background(), 2*time.Hour)
	if err == nil || !strings.Contains(err.Error(), `read schedule "nope"`) {
		t.Errorf("got %v, want an error naming schedule nope", err)
	}
	if len(people) != 3 {
		t.Errorf("got %d people, want the berlin schedule's 3", len(people))
	}
}
