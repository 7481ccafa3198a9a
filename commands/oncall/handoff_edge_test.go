package oncall_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/oncall"
)

// stubProvider returns whatever shifts the test set.
type stubProvider struct {
	mu     sync.Mutex
	shifts []bot.Shift
}

func (p *stubProvider) set(s ...bot.Shift) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shifts = s
}

func (p *stubProvider) Shifts(context.Context, string, time.Time, time.Time) ([]bot.Shift, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]bot.Shift(nil), p.shifts...), nil
}

func TestHandoffEdgeCases(t *testing.T) {
	anna := bot.Person{Name: "Anna", Email: "anna@example.com", ProviderID: "PA"}
	ben := bot.Person{Name: "Ben", Email: "ben@example.com", ProviderID: "PB"}
	t0 := utc("2026-06-01T08:00:00Z")
	tests := []struct {
		name       string
		before     []bot.Shift
		after      []bot.Shift
		syncAt     time.Time
		wantText   string
		wantButton bool
	}{
		{
			name:   "change missed while the bot was down for days",
			before: []bot.Shift{{Schedule: "berlin", Level: 1, Person: anna, Start: t0.Add(-72 * time.Hour), End: t0.Add(72 * time.Hour)}},
			// The provider clips to the window, so Ben's true start is unknown.
			after:      []bot.Shift{{Schedule: "berlin", Level: 1, Person: ben, Start: t0.Add(5*24*time.Hour - 24*time.Hour), End: t0.Add(9 * 24 * time.Hour)}},
			syncAt:     t0.Add(5 * 24 * time.Hour),
			wantText:   "<@UANNA> hands over to <@UBEN> for *berlin*.",
			wantButton: true,
		},
		{
			name:     "nobody on call is announced without a button",
			before:   []bot.Shift{{Schedule: "berlin", Level: 1, Person: anna, Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}},
			after:    nil,
			syncAt:   t0.Add(time.Hour + time.Minute),
			wantText: ":warning: Nobody is on call for *berlin* now.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov := &stubProvider{}
			f := newFixture(t, func(c *oncall.Config) { c.Provider = prov })
			prov.set(tc.before...)
			f.clock.Set(t0)
			if err := f.svc.SyncNow(context.Background()); err != nil {
				t.Fatalf("SyncNow: %v", err)
			}
			prov.set(tc.after...)
			for i := 0; i < 3; i++ {
				f.clock.Set(tc.syncAt.Add(time.Duration(i) * time.Minute))
				if err := f.svc.SyncNow(context.Background()); err != nil {
					t.Fatalf("SyncNow: %v", err)
				}
			}
			posts := f.chat.ChannelPosts()
			if len(posts) != 1 {
				t.Fatalf("got %d posts, want exactly one handoff", len(posts))
			}
			if !strings.Contains(posts[0].Text, tc.wantText) {
				t.Errorf("handoff text %q, want it to contain %q", posts[0].Text, tc.wantText)
			}
			if got := len(posts[0].Buttons) == 1; got != tc.wantButton {
				t.Errorf("got button %v, want %v", got, tc.wantButton)
			}
		})
	}
}

func TestHandoffRetriedAfterAFailedPost(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.clock.Set(utc("2026-03-29T06:59:00Z"))
	if err := f.svc.SyncNow(ctx); err != nil {
		t.Fatalf("SyncNow: %v", err)
	}
	f.chat.FailNext("Post", 1, errors.New("slack: chat.postMessage: internal_error"))
	f.clock.Set(utc("2026-03-29T07:00:10Z"))
	if err := f.svc.SyncNow(ctx); err == nil {
		t.Errorf("SyncNow with Slack failing: got nil error, want one")
	}
	for _, at := range []string{"2026-03-29T07:01:10Z", "2026-03-29T07:02:10Z"} {
		f.clock.Set(utc(at))
		if err := f.svc.SyncNow(ctx); err != nil {
			t.Fatalf("SyncNow at %s: %v", at, err)
		}
	}
	posts := f.chat.ChannelPosts()
	if len(posts) != 1 || !strings.Contains(posts[0].Text, "<@UBEN> hands over to <@UCLEO>") {
		t.Fatalf("got %d posts %+v, want the handoff posted once on the next round", len(posts), posts)
	}
}
