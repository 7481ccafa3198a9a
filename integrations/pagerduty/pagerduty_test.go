package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

const token = "u+SeCrEtToKeN-123"

var t0 = time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)

// sleeps records the waits between retries instead of sleeping.
type sleeps struct {
	mu  sync.Mutex
	got []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.got = append(s.got, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newClient(t *testing.T, fake *fakepd.Server, mod func(*Config)) (*Client, *sleeps) {
	t.Helper()
	cfg := Config{Token: token, APIURL: fake.URL, FromEmail: "opsbot@example.com",
		Services: map[string]string{"checkout": "PSVC001"}, Logger: zaptest.NewLogger(t),
		Timeout: 2 * time.Second, MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := &sleeps{}
	c.sleep = s.sleep
	return c, s
}

// world is a small account: schedule PSCHED01 at level 1 of the checkout
// policy and at level 2 of the platform policy, alternating alice/bob every
// 12 hours, with an override by carol; PLONE used by no policy.
func world(t *testing.T) *fakepd.Server {
	f := fakepd.New(t, token)
	f.SetNow(func() time.Time { return t0 })
	for _, u := range []fakepd.User{
		{ID: "PUALICE", Name: "Alice", Email: "alice@example.com"},
		{ID: "PUBOB", Name: "Bob", Email: "bob@example.com"},
		{ID: "PUCAROL", Name: "Carol", Email: "carol@example.com"},
		{ID: "PUOPS", Name: "Ops", Email: "opsbot@example.com"},
	} {
		f.AddUser(u)
	}
	var layer []fakepd.Entry
	start := t0.Add(-7 * 24 * time.Hour)
	for i := 0; i < 200; i++ {
		who := "PUALICE"
		if i%2 == 1 {
			who = "PUBOB"
		}
		s := start.Add(time.Duration(i) * 12 * time.Hour)
		layer = append(layer, fakepd.Entry{UserID: who, Start: s, End: s.Add(12 * time.Hour)})
	}
	f.SetSchedule(fakepd.Schedule{ID: "PSCHED01", Name: "payments", TimeZone: "Europe/Berlin", Layers: [][]fakepd.Entry{layer}})
	f.AddOverride("PSCHED01", fakepd.Entry{UserID: "PUCAROL", Start: t0.Add(2 * time.Hour), End: t0.Add(4 * time.Hour)})
	f.SetSchedule(fakepd.Schedule{ID: "PLONE", Name: "lonely", Layers: [][]fakepd.Entry{{{UserID: "PUBOB", Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}}}})
	f.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP1", Name: "checkout", Rules: []fakepd.Rule{{Level: 1, ScheduleID: "PSCHED01"}}})
	f.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP2", Name: "platform", Rules: []fakepd.Rule{{Level: 1, UserID: "PUOPS"}, {Level: 2, ScheduleID: "PSCHED01"}}})
	f.AddService(fakepd.Service{ID: "PSVC001", Name: "checkout", EscalationPolicyID: "PEP1"})
	return f
}

var (
	alice = bot.Person{Name: "Alice", Email: "alice@example.com", ProviderID: "PUALICE"}
	bob   = bot.Person{Name: "Bob", Email: "bob@example.com", ProviderID: "PUBOB"}
	carol = bot.Person{Name: "Carol", Email: "carol@example.com", ProviderID: "PUCAROL"}
)

func TestShiftsLevelsAndOverrides(t *testing.T) {
	f := world(t)
	c, _ := newClient(t, f, nil)
	got, err := c.Shifts(context.Background(), "PSCHED01", t0, t0.Add(6*time.Hour))
	if err != nil {
		t.Fatalf("Shifts: %v", err)
	}
	// t0 is 09:00; alice's turn runs 09:00..21:00 (7 days of 12h turns
	// since the start), cut by carol's override 11:00..13:00.
	var want []bot.Shift
	for _, level := range []int{1, 2} {
		want = append(want,
			bot.Shift{Schedule: "PSCHED01", Level: level, Person: alice, Start: t0, End: t0.Add(2 * time.Hour)},
			bot.Shift{Schedule: "PSCHED01", Level: level, Person: carol, Start: t0.Add(2 * time.Hour), End: t0.Add(4 * time.Hour)},
			bot.Shift{Schedule: "PSCHED01", Level: level, Person: alice, Start: t0.Add(4 * time.Hour), End: t0.Add(12 * time.Hour)},
		)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shifts (-want +got):\n%s", diff)
	}
}

func TestShiftsPaginates(t *testing.T) {
	f := world(t)
	c, _ := newClient(t, f, nil)
	// 60 days of 12h turns at two levels: 120 turns a level, one of them cut
	// in three by the override, so 244 entries in pages of 100.
	got, err := c.Shifts(context.Background(), "PSCHED01", t0.Add(-7*24*time.Hour), t0.Add(53*24*time.Hour))
	if err != nil {
		t.Fatalf("Shifts: %v", err)
	}
	if want := 2 * (120 + 2); len(got) != want {
		t.Errorf("got %d shifts, want %d", len(got), want)
	}
	if got, want := f.Requests("GET /oncalls"), 3; got != want {
		t.Errorf("got %d GET /oncalls, want %d (pages of 100)", got, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Level == got[i-1].Level && got[i].Start.Before(got[i-1].End) {
			t.Fatalf("shift %d overlaps the previous one: %+v after %+v", i, got[i], got[i-1])
		}
	}
}

func TestShiftsScheduleWithoutPolicyUsesFinalSchedule(t *testing.T) {
	f := world(t)
	c, _ := newClient(t, f, nil)
	got, err := c.Shifts(context.Background(), "PLONE", t0, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatalf("Shifts: %v", err)
	}
	// final_schedule entries are clipped to the window, as PagerDuty does,
	// and carry only user references, so the e-mail comes from /users/{id}.
	want := []bot.Shift{{Schedule: "PLONE", Level: 1, Person: bob, Start: t0, End: t0.Add(time.Hour)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shifts (-want +got):\n%s", diff)
	}
	if n := f.Requests("GET /users/{id}"); n != 1 {
		t.Errorf("got %d user look-ups, want 1", n)
	}
	// The next sync (every minute) asks for the user again only after an hour.
	if _, err := c.Shifts(context.Background(), "PLONE", t0, t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("second Shifts: %v", err)
	}
	if n := f.Requests("GET /users/{id}"); n != 1 {
		t.Errorf("got %d user look-ups after a second sync, want still 1 (cached)", n)
	}
}

func TestErrorsClassifiedAndRetried(t *testing.T) {
	tests := []struct {
		name      string
		faults    []fakepd.Fault
		token     string
		wantClass error
		wantCalls int
		wantWaits []time.Duration
	}{
		{name: "429 honours Retry-After then succeeds", faults: []fakepd.Fault{{Status: 429, RetryAfter: "7"}}, wantCalls: 2, wantWaits: []time.Duration{7 * time.Second}},
		{name: "500 then success", faults: []fakepd.Fault{{Status: 500}}, wantCalls: 2},
		{name: "503 every time gives up after MaxAttempts", faults: []fakepd.Fault{{Status: 503}, {Status: 503}, {Status: 503}}, wantClass: ErrUnavailable, wantCalls: 3},
		{name: "429 every time", faults: []fakepd.Fault{{Status: 429, RetryAfter: "1"}, {Status: 429, RetryAfter: "1"}, {Status: 429, RetryAfter: "1"}}, wantClass: ErrRateLimited, wantCalls: 3, wantWaits: []time.Duration{time.Second, time.Second}},
		{name: "wrong token is not retried", token: "wrong-token", wantClass: ErrUnauthorized, wantCalls: 1},
		{name: "400 is not retried", faults: []fakepd.Fault{{Status: 400}}, wantClass: bot.ErrRejected, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			for _, fl := range tc.faults {
				f.FailNext(1, fl)
			}
			c, s := newClient(t, f, func(cfg *Config) {
				if tc.token != "" {
					cfg.Token = tc.token
				}
			})
			_, err := c.Shifts(context.Background(), "PSCHED01", t0, t0.Add(time.Hour))
			switch {
			case tc.wantClass == nil && err != nil:
				t.Fatalf("got error %v, want success", err)
			case tc.wantClass != nil && !errors.Is(err, tc.wantClass):
				t.Fatalf("got error %v, want class %v", err, tc.wantClass)
			}
			if err != nil && (strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "wrong-token")) {
				t.Errorf("error %q contains the token", err)
			}
			if got := f.Requests("GET /oncalls"); got != tc.wantCalls {
				t.Errorf("got %d calls, want %d", got, tc.wantCalls)
			}
			if tc.wantWaits != nil {
				if diff := cmp.Diff(tc.wantWaits, s.got); diff != "" {
					t.Errorf("waits (-want +got):\n%s", diff)
				}
			}
			for _, w := range s.got {
				if w <= 0 {
					t.Errorf("got a wait of %v, want a positive backoff", w)
				}
			}
		})
	}
}

func TestUnknownScheduleIsNotFound(t *testing.T) {
	f := world(t)
	c, _ := newClient(t, f, nil)
	_, err := c.Shifts(context.Background(), "PNOPE", t0, t0.Add(time.Hour))
	if !errors.Is(err, bot.ErrNotFound) || Temporary(err) {
		t.Errorf("got %v, want a permanent error wrapping bot.ErrNotFound", err)
	}
}

func TestSlowPagerDutyTimesOut(t *testing.T) {
	f := world(t)
	f.SetLatency(time.Second)
	c, _ := newClient(t, f, func(cfg *Config) { cfg.Timeout = 20 * time.Millisecond; cfg.MaxAttempts = 2 })
	_, err := c.Shifts(context.Background(), "PSCHED01", t0, t0.Add(time.Hour))
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	f := world(t)
	f.FailNext(5, fakepd.Fault{Status: 429, RetryAfter: "30"})
	c, _ := newClient(t, f, nil)
	c.sleep = bot.Sleep
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Shifts(ctx, "PSCHED01", t0, t0.Add(time.Hour))
	// The 30s wait outlasts the caller's deadline, so the call answers at
	// once with the cause instead of sleeping.
	if !errors.Is(err, ErrRateLimited) {
		t.Errorf("got %v, want ErrRateLimited", err)
	}
	if n := f.Requests("GET /oncalls"); n != 1 {
		t.Errorf("got %d calls, want 1", n)
	}
}

func TestPage(t *testing.T) {
	f := world(t)
	c, _ := newClient(t, f, nil)
	res, err := c.Page(context.Background(), bot.PageRequest{Service: "checkout", Title: "checkout errors", Details: "5xx at 30%",
		RequesterEmail: "dave@example.com", IncidentKey: "INC-7"})
	if err != nil {
		t.Fatalf("Page: %v", err)
	}
	want := bot.PageResult{ID: "PINC0001", URL: "https://example.pagerduty.com/incidents/PINC0001", Assignees: []string{"Alice"}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	incs := f.Incidents()
	if len(incs) != 1 {
		t.Fatalf("got %d incidents, want 1", len(incs))
	}
	got := incs[0]
	if got.From != "opsbot@example.com" || got.ServiceID != "PSVC001" || got.IncidentKey != "INC-7" || got.Title != "checkout errors" {
		t.Errorf("got incident %+v, want From opsbot@example.com, service PSVC001, key INC-7", got)
	}
	if !strings.Contains(got.Details, "5xx at 30%") || !strings.Contains(got.Details, "dave@example.com") {
		t.Errorf("got details %q, want the message and the requester", got.Details)
	}
}

func TestPageRefusals(t *testing.T) {
	tests := []struct {
		name      string
		req       bot.PageRequest
		from      string
		faults    []fakepd.Fault
		wantClass error
		wantCalls int
	}{
		{name: "unknown service", req: bot.PageRequest{Service: "nope", Title: "x"}, wantClass: bot.ErrNotFound, wantCalls: 0},
		{name: "duplicate key", req: bot.PageRequest{Service: "checkout", Title: "x", IncidentKey: "INC-1"}, wantClass: bot.ErrDuplicate, wantCalls: 2},
		{name: "From not a PagerDuty user", req: bot.PageRequest{Service: "checkout", Title: "x"}, from: "nobody@example.com", wantClass: ErrInvalid, wantCalls: 1},
		{name: "500 without a key is not repeated", req: bot.PageRequest{Service: "checkout", Title: "x"}, faults: []fakepd.Fault{{Status: 500}}, wantClass: bot.ErrUnavailable, wantCalls: 1},
		{name: "500 with a key is repeated", req: bot.PageRequest{Service: "checkout", Title: "x", IncidentKey: "INC-9"}, faults: []fakepd.Fault{{Status: 500}}, wantCalls: 2},
		{name: "429 without a key is repeated", req: bot.PageRequest{Service: "checkout", Title: "x"}, faults: []fakepd.Fault{{Status: 429, RetryAfter: "1"}}, wantCalls: 2},
		{name: "429 every time is a rate limit", req: bot.PageRequest{Service: "checkout", Title: "x"}, faults: []fakepd.Fault{{Status: 429}, {Status: 429}, {Status: 429}}, wantClass: bot.ErrRateLimited, wantCalls: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			c, _ := newClient(t, f, func(cfg *Config) {
				if tc.from != "" {
					cfg.FromEmail = tc.from
				}
			})
			if tc.name == "duplicate key" {
				if _, err := c.Page(context.Background(), tc.req); err != nil {
					t.Fatalf("first page: %v", err)
				}
			}
			for _, fl := range tc.faults {
				f.FailNext(1, fl)
			}
			res, err := c.Page(context.Background(), tc.req)
			var ue *bot.UserError
			if errors.As(err, &ue) {
				t.Errorf("got user error %q: the adapter must return typed errors, not chat copy", ue.Msg)
			}
			if tc.wantClass == bot.ErrDuplicate && res.ID != "PINC0001" {
				t.Errorf("duplicate page returned %+v, want the open incident PINC0001", res)
			}
			switch {
			case tc.wantClass != nil:
				if !errors.Is(err, tc.wantClass) {
					t.Errorf("got %v, want class %v", err, tc.wantClass)
				}
			case err != nil:
				t.Errorf("got %v, want success", err)
			}
			if got := f.Requests("POST /incidents"); got != tc.wantCalls {
				t.Errorf("got %d POST /incidents, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestSchedulesPaginates(t *testing.T) {
	f := world(t)
	for i := 0; i < 120; i++ {
		f.SetSchedule(fakepd.Schedule{ID: fmt.Sprintf("PX%03d", i), Name: fmt.Sprintf("x%d", i)})
	}
	c, _ := newClient(t, f, nil)
	got, err := c.Schedules(context.Background())
	if err != nil {
		t.Fatalf("Schedules: %v", err)
	}
	if len(got) != 122 || f.Requests("GET /schedules") != 2 {
		t.Errorf("got %d schedules in %d requests, want 122 in 2", len(got), f.Requests("GET /schedules"))
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no token", cfg: Config{}, want: "token is required"},
		{name: "bad url", cfg: Config{Token: token, APIURL: "ftp://x"}, want: "api url"},
		{name: "credentials in url", cfg: Config{Token: token, APIURL: "https://u:p@x"}, want: "api url"},
		{name: "services without from", cfg: Config{Token: token, Services: map[string]string{"a": "P1"}}, want: "from_email"},
		{name: "empty service id", cfg: Config{Token: token, FromEmail: "a@b", Services: map[string]string{"a": ""}}, want: `service "a"`},
		{name: "ok", cfg: Config{Token: token}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestNetworkErrorHidesToken(t *testing.T) {
	// Nothing listens here; the error must still not carry the token.
	c, err := New(Config{Token: token, APIURL: "http://127.0.0.1:1", MaxAttempts: 1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = c.Shifts(context.Background(), "P1", t0, t0.Add(time.Hour))
	if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), token) {
		t.Errorf("got %v, want ErrUnavailable without the token", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		in     string
		want   time.Duration
		wantOK bool
	}{
		{name: "seconds", in: "12", want: 12 * time.Second, wantOK: true},
		{name: "http date", in: now.Add(5 * time.Second).Format(http.TimeFormat), want: 5 * time.Second, wantOK: true},
		{name: "date in the past", in: now.Add(-time.Minute).Format(http.TimeFormat), want: 0, wantOK: true},
		{name: "empty", in: ""},
		{name: "garbage", in: "soon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestResolvePage(t *testing.T) {
	tests := []struct {
		name string
		// id is the incident to resolve; empty means the one paged.
		id string
		// before changes the fake after the page.
		before     func(f *fakepd.Server)
		from       string
		faults     []fakepd.Fault
		wantClass  error
		wantPuts   int
		wantGets   int
		wantWaits  []time.Duration
		wantStatus string
		wantBy     string
	}{
		{name: "resolved", wantPuts: 1, wantStatus: "resolved", wantBy: "opsbot@example.com"},
		{name: "acknowledged at PagerDuty is resolved", before: func(f *fakepd.Server) { f.SetIncidentStatus("PINC0001", "acknowledged") },
			wantPuts: 1, wantStatus: "resolved", wantBy: "opsbot@example.com"},
		{name: "already resolved at PagerDuty is success", before: func(f *fakepd.Server) { f.SetIncidentStatus("PINC0001", "resolved") },
			wantPuts: 1, wantGets: 1, wantStatus: "resolved"},
		{name: "unknown incident is not found", id: "PNOPE", wantClass: bot.ErrNotFound, wantPuts: 1, wantStatus: "triggered"},
		{name: "other 400 is a rejection", from: "nobody@example.com", wantClass: ErrInvalid, wantPuts: 1, wantGets: 1, wantStatus: "triggered"},
		{name: "429 honours Retry-After then resolves", faults: []fakepd.Fault{{Status: 429, RetryAfter: "7"}},
			wantPuts: 2, wantWaits: []time.Duration{7 * time.Second}, wantStatus: "resolved", wantBy: "opsbot@example.com"},
		{name: "429 every time is a rate limit", faults: []fakepd.Fault{{Status: 429, RetryAfter: "1"}, {Status: 429, RetryAfter: "1"}, {Status: 429, RetryAfter: "1"}},
			wantClass: ErrRateLimited, wantPuts: 3, wantWaits: []time.Duration{time.Second, time.Second}, wantStatus: "triggered"},
		{name: "500 is repeated: resolving twice is harmless", faults: []fakepd.Fault{{Status: 500}},
			wantPuts: 2, wantStatus: "resolved", wantBy: "opsbot@example.com"},
		{name: "503 every time is unavailable", faults: []fakepd.Fault{{Status: 503}, {Status: 503}, {Status: 503}},
			wantClass: ErrUnavailable, wantPuts: 3, wantStatus: "triggered"},
		{name: "not an ID", id: "P1/../../users", wantClass: ErrInvalid, wantStatus: "triggered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			c, s := newClient(t, f, nil)
			res, err := c.Page(context.Background(), bot.PageRequest{Service: "checkout", Title: "checkout errors", IncidentKey: "alertgroup-g1-1"})
			if err != nil {
				t.Fatalf("Page: %v", err)
			}
			if tc.before != nil {
				tc.before(f)
			}
			if tc.from != "" {
				c, s = newClient(t, f, func(cfg *Config) { cfg.FromEmail = tc.from })
			}
			for _, fl := range tc.faults {
				f.FailNextOn("PUT /incidents", 1, fl)
			}
			id := tc.id
			if id == "" {
				id = res.ID
			}
			err = c.ResolvePage(context.Background(), id)
			switch {
			case tc.wantClass == nil && err != nil:
				t.Fatalf("got error %v, want success", err)
			case tc.wantClass != nil && !errors.Is(err, tc.wantClass):
				t.Fatalf("got error %v, want class %v", err, tc.wantClass)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the token", err)
			}
			if errors.Is(tc.wantClass, bot.ErrNotFound) && Temporary(err) {
				t.Errorf("got temporary %v, want a permanent error", err)
			}
			if got := f.Requests("PUT /incidents"); got != tc.wantPuts {
				t.Errorf("got %d PUT /incidents, want %d", got, tc.wantPuts)
			}
			if got := f.Requests("GET /incidents/{id}"); got != tc.wantGets {
				t.Errorf("got %d GET /incidents/{id}, want %d", got, tc.wantGets)
			}
			if tc.wantWaits != nil {
				if diff := cmp.Diff(tc.wantWaits, s.got); diff != "" {
					t.Errorf("waits (-want +got):\n%s", diff)
				}
			}
			incs := f.Incidents()
			if len(incs) != 1 || incs[0].Status != tc.wantStatus || incs[0].ResolvedBy != tc.wantBy {
				t.Errorf("got incidents %+v, want PINC0001 %s by %q", incs, tc.wantStatus, tc.wantBy)
			}
		})
	}
}

// TestResolvePageByKey: the open incident with the key is resolved; none
// open (never created, or resolved already) is success and changes
// nothing; a failed search is an error, not "none".
func TestResolvePageByKey(t *testing.T) {
	f := world(t)
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	res, err := c.Page(ctx, bot.PageRequest{Service: "checkout", Title: "checkout errors", IncidentKey: "alertgroup-g1-1"})
	if err != nil {
		t.Fatalf("Page: %v", err)
	}
	if err := c.ResolvePageByKey(ctx, "checkout", "alertgroup-g1-2"); err != nil {
		t.Fatalf("no incident with the key: %v, want success", err)
	}
	if got := f.Requests("PUT /incidents"); got != 0 {
		t.Fatalf("%d PUT /incidents without an incident, want 0", got)
	}
	f.FailNextOn("GET /incidents", 3, fakepd.Fault{Status: http.StatusServiceUnavailable})
	if err := c.ResolvePageByKey(ctx, "checkout", "alertgroup-g1-1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("search failing: got %v, want ErrUnavailable", err)
	}
	if err := c.ResolvePageByKey(ctx, "checkout", "alertgroup-g1-1"); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if err := c.ResolvePageByKey(ctx, "checkout", "alertgroup-g1-1"); err != nil {
		t.Fatalf("resolve again: %v", err)
	}
	incs := f.Incidents()
	if len(incs) != 1 || incs[0].ID != res.ID || incs[0].Status != "resolved" || f.Requests("PUT /incidents") != 1 {
		t.Errorf("incidents %+v after %d PUT /incidents, want %s resolved once", incs, f.Requests("PUT /incidents"), res.ID)
	}
	if err := c.ResolvePageByKey(ctx, "nope", "alertgroup-g1-1"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown service: got %v, want ErrNotFound", err)
	}
}
