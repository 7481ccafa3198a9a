package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestNewValidates(t *testing.T) {
	const secret = "xoxp-user-token-that-must-not-leak"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "ok", cfg: Config{AppToken: "xapp-1", BotToken: "xoxb-1"}},
		{name: "ok custom url", cfg: Config{AppToken: "xapp-1", BotToken: "xoxb-1", APIURL: "http://127.0.0.1:1/api/"}},
		{name: "missing app token", cfg: Config{BotToken: "xoxb-1"}, wantErr: "SLACK_APP_TOKEN must start with xapp-"},
		{name: "bot token as app token", cfg: Config{AppToken: "xoxb-1", BotToken: "xoxb-1"}, wantErr: "SLACK_APP_TOKEN must start with xapp-"},
		{name: "user token as bot token", cfg: Config{AppToken: "xapp-1", BotToken: secret}, wantErr: "SLACK_BOT_TOKEN must start with xoxb-"},
		{name: "url without slash", cfg: Config{AppToken: "xapp-1", BotToken: "xoxb-1", APIURL: "https://slack.com/api"}, wantErr: "must end in /"},
		{name: "url not http", cfg: Config{AppToken: "xapp-1", BotToken: "xoxb-1", APIURL: "ftp://slack.com/api/"}, wantErr: "must be an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: got error %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: got error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

// recordSleeps replaces the Retry-After wait so tests see the waits without
// spending them.
func recordSleeps(waits *[]time.Duration, mu *sync.Mutex) envOption {
	return func(c *Client) {
		c.sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*waits = append(*waits, d)
			mu.Unlock()
			return ctx.Err()
		}
	}
}

func TestRateLimitedPostIsRetriedAfterRetryAfter(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	var waits []time.Duration
	var mu sync.Mutex
	c, _, _ := newClient(t, fs, recordSleeps(&waits, &mu))

	fs.RateLimitNext("chat.postMessage", 3*time.Second)
	ref, err := c.Post(context.Background(), bot.Message{Channel: general, Text: "status update"})
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{3 * time.Second}, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	calls := fs.Calls("chat.postMessage")
	if len(calls) != 2 || calls[0].Status != http.StatusTooManyRequests || calls[1].Status != http.StatusOK {
		t.Errorf("calls = %+v, want a 429 then a 200", calls)
	}
	msgs := fs.Messages(general)
	if len(msgs) != 1 || msgs[0].TS != ref.TS {
		t.Errorf("messages = %+v, want exactly one with ts %s", msgs, ref.TS)
	}
	if got := testutil.ToFloat64(c.metrics.calls.WithLabelValues("chat.postMessage", "rate_limited")); got != 1 {
		t.Errorf("rate_limited count = %v, want 1", got)
	}
	if got := testutil.ToFloat64(c.metrics.calls.WithLabelValues("chat.postMessage", "ok")); got != 1 {
		t.Errorf("ok count = %v, want 1", got)
	}
}

func TestRateLimitGivesUpAfterMaxAttempts(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	var waits []time.Duration
	var mu sync.Mutex
	c, _, _ := newClient(t, fs, recordSleeps(&waits, &mu))
	for i := 0; i < c.maxAttempts; i++ {
		fs.RateLimitNext("chat.postMessage", time.Second)
	}
	_, err := c.Post(context.Background(), bot.Message{Channel: general, Text: "x"})
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("Post: got %v, want a RateLimitedError", err)
	}
	if len(waits) != c.maxAttempts-1 {
		t.Errorf("waited %d times, want %d", len(waits), c.maxAttempts-1)
	}
	if n := len(fs.Messages(general)); n != 0 {
		t.Errorf("messages posted = %d, want 0", n)
	}
}

func TestRateLimitWaitEndsWithContext(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	c, _, _ := newClient(t, fs)
	fs.RateLimitNext("chat.postMessage", time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Post(ctx, bot.Message{Channel: general, Text: "x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Post: got %v, want context.DeadlineExceeded", err)
	}
}

func TestSlackErrorsAreWrappedAndMapped(t *testing.T) {
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice", Email: "alice@example.com"})
	general := fs.AddChannel("general")
	c, _, _ := newClient(t, fs)
	ctx := context.Background()

	tests := []struct {
		name     string
		setup    func()
		call     func() error
		wantIs   error
		wantCode string
		wantMsg  string
	}{
		{
			name:     "post to unknown channel",
			call:     func() error { _, err := c.Post(ctx, bot.Message{Channel: "C0NOPE", Text: "x"}); return err },
			wantCode: "channel_not_found",
			wantMsg:  "post message in C0NOPE: slack chat.postMessage: channel_not_found",
		},
		{
			name:     "injected failure",
			setup:    func() { fs.FailNext("conversations.setTopic", "fatal_error") },
			call:     func() error { return c.SetTopic(ctx, general, "sev1") },
			wantCode: "fatal_error",
			wantMsg:  "set topic of " + general + ": slack conversations.setTopic: fatal_error",
		},
		{
			name:     "name taken",
			call:     func() error { _, err := c.CreateChannel(ctx, "general"); return err },
			wantIs:   bot.ErrNameTaken,
			wantCode: "name_taken",
			wantMsg:  `create channel "general"`,
		},
		{
			name:     "invalid name",
			call:     func() error { _, err := c.CreateChannel(ctx, "Has Spaces"); return err },
			wantIs:   bot.ErrInvalidName,
			wantCode: "invalid_name_specials",
		},
		{
			name:     "name too long",
			call:     func() error { _, err := c.CreateChannel(ctx, strings.Repeat("a", 81)); return err },
			wantIs:   bot.ErrInvalidName,
			wantCode: "invalid_name_maxlength",
		},
		{
			name:     "invalid_name as Slack documents it",
			setup:    func() { fs.FailNext("conversations.create", "invalid_name") },
			call:     func() error { _, err := c.CreateChannel(ctx, "fine"); return err },
			wantIs:   bot.ErrInvalidName,
			wantCode: "invalid_name",
		},
		{
			name:     "unknown email",
			call:     func() error { _, err := c.UserByEmail(ctx, "nobody@example.com"); return err },
			wantIs:   bot.ErrNotFound,
			wantCode: "users_not_found",
		},
		{
			name:     "unknown user",
			call:     func() error { _, err := c.User(ctx, "U0NOBODY"); return err },
			wantIs:   bot.ErrNotFound,
			wantCode: "user_not_found",
		},
		{
			name:     "invite unknown user",
			call:     func() error { return c.Invite(ctx, general, "U0NOBODY") },
			wantCode: "user_not_found",
		},
		{
			name:     "unknown message",
			call:     func() error { _, err := c.Message(ctx, bot.MessageRef{Channel: general, TS: "1.000001"}); return err },
			wantIs:   bot.ErrNotFound,
			wantCode: "thread_not_found",
		},
		{
			name:     "modal with a stale trigger",
			call:     func() error { return c.OpenModal(ctx, "1.2.stale", bot.Modal{CallbackID: "x", Title: "X"}) },
			wantCode: "invalid_trigger_id",
			wantMsg:  `open modal "x": slack views.open: invalid_trigger_id`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			err := tt.call()
			if err == nil {
				t.Fatal("got nil error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			var se slack.SlackErrorResponse
			if !errors.As(err, &se) || se.Err != tt.wantCode {
				t.Errorf("slack error code of %v = %q, want %q", err, se.Err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestChannelLifecycle(t *testing.T) {
	fs := fakeslack.New(t)
	for _, u := range []string{alice, "U0BOB", "U0CAROL"} {
		fs.AddUser(fakeslack.User{ID: u, Name: strings.ToLower(u[2:])})
	}
	c, _, _ := newClient(t, fs)
	ctx := context.Background()

	ch, err := c.CreateChannel(ctx, "inc-1-checkout-errors")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Name != "inc-1-checkout-errors" || ch.ID == "" {
		t.Fatalf("channel = %+v", ch)
	}
	if err := c.Invite(ctx, ch.ID, alice); err != nil {
		t.Fatal(err)
	}
	// alice is in already: Slack refuses the batch, the client invites the
	// others one by one.
	if err := c.Invite(ctx, ch.ID, alice, "U0BOB", "U0CAROL", "U0BOB"); err != nil {
		t.Fatalf("Invite with a member already in: %v", err)
	}
	if err := c.Invite(ctx, ch.ID, alice); err != nil {
		t.Fatalf("Invite of a member: %v", err)
	}
	if diff := cmp.Diff([]string{fakeslack.BotUserID, alice, "U0BOB", "U0CAROL"}, fs.Members(ch.ID)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if err := c.SetTopic(ctx, ch.ID, "SEV2 | investigating | IC <@U0ALICE>"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPurpose(ctx, ch.ID, strings.Repeat("p", 300)); err != nil {
		t.Fatalf("long purpose should be cut, got %v", err)
	}
	if got := fs.Topic(ch.ID); got != "SEV2 | investigating | IC <@U0ALICE>" {
		t.Errorf("topic = %q", got)
	}
	ref, err := c.Post(ctx, bot.Message{Channel: ch.ID, Title: "INC-1", Text: "summary"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.Pin(ctx, ref); err != nil {
			t.Fatalf("Pin #%d: %v", i+1, err)
		}
	}
	if diff := cmp.Diff([]string{ref.TS}, fs.Pins(ch.ID)); diff != "" {
		t.Errorf("pins (-want +got):\n%s", diff)
	}
	if err := c.Update(ctx, ref, bot.Message{Title: "INC-1", Text: "resolved"}); err != nil {
		t.Fatal(err)
	}
	if m, _ := fs.Message(ch.ID, ref.TS); !strings.Contains(m.Rendered(), "resolved") {
		t.Errorf("updated message = %q", m.Rendered())
	}
	for i := 0; i < 2; i++ {
		if err := c.Archive(ctx, ch.ID); err != nil {
			t.Fatalf("Archive #%d: %v", i+1, err)
		}
	}
	if got, _ := fs.Channel(ch.ID); !got.Archived {
		t.Error("channel not archived")
	}
}

func TestMessageReadBack(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	c, _, _ := newClient(t, fs)
	ctx := context.Background()
	parent := fs.AddMessage(general, alice, "parent", "")
	reply := fs.AddMessage(general, "U0BOB", "a reply", parent)
	later := fs.AddMessage(general, alice, "later", "")

	tests := []struct {
		name string
		ts   string
		want bot.ChatMessage
	}{
		{name: "top level", ts: parent, want: bot.ChatMessage{Ref: bot.MessageRef{Channel: general, TS: parent}, User: alice, Text: "parent", Time: bot.ParseTS(parent)}},
		{name: "thread reply", ts: reply, want: bot.ChatMessage{Ref: bot.MessageRef{Channel: general, TS: reply}, User: "U0BOB", Text: "a reply", Time: bot.ParseTS(reply), ThreadTS: parent}},
		{name: "newest", ts: later, want: bot.ChatMessage{Ref: bot.MessageRef{Channel: general, TS: later}, User: alice, Text: "later", Time: bot.ParseTS(later)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Message(ctx, bot.MessageRef{Channel: general, TS: tt.ts})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if got.Time.IsZero() || got.Time.Location() != time.UTC {
				t.Errorf("time = %v, want UTC", got.Time)
			}
		})
	}
	link, err := c.Permalink(ctx, bot.MessageRef{Channel: general, TS: reply})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link, "/archives/"+general+"/p") || !strings.Contains(link, "thread_ts="+parent) {
		t.Errorf("permalink = %q", link)
	}
}

func TestDirectoryAndUsergroups(t *testing.T) {
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice", RealName: "Alice A", Email: "Alice@Example.com", IsRestricted: true, TZ: "Europe/Berlin"})
	fs.AddUser(fakeslack.User{ID: "U0BOB", Name: "bob"})
	group := fs.AddUsergroup("oncall-payments", "U0BOB")
	c, _, _ := newClient(t, fs)
	ctx := context.Background()

	u, err := c.UserByEmail(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := bot.User{ID: alice, TeamID: fakeslack.TeamID, Name: "alice", RealName: "Alice A", Email: "Alice@Example.com", IsRestricted: true, TZ: "Europe/Berlin"}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
	if err := c.SetUsergroupMembers(ctx, group, []string{alice, alice}); err != nil {
		t.Fatal(err)
	}
	members, err := c.UsergroupMembers(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{alice}, members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if err := c.SetUsergroupMembers(ctx, group, nil); err == nil {
		t.Error("emptying a user group: got nil error, want one")
	}
	if _, err := c.UsergroupMembers(ctx, "S0NOPE"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown group: got %v, want ErrNotFound", err)
	}
}

func TestUploadSharesFileInChannel(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	c, _, _ := newClient(t, fs)
	content := []byte("# INC-1 post-mortem\n")
	err := c.Upload(context.Background(), bot.File{Channel: general, Name: "INC-1.md", Title: "INC-1 post-mortem",
		Content: content, Comment: "Post-mortem draft"})
	if err != nil {
		t.Fatal(err)
	}
	files := fs.Files()
	if len(files) != 1 {
		t.Fatalf("files = %d, want 1", len(files))
	}
	f := files[0]
	if !bytes.Equal(f.Content, content) || f.Name != "INC-1.md" || f.Title != "INC-1 post-mortem" || f.Channel != general || !f.Shared || f.Comment != "Post-mortem draft" {
		t.Errorf("file = %+v", f)
	}
	if err := c.Upload(context.Background(), bot.File{Channel: general, Name: "empty.md"}); err == nil {
		t.Error("empty upload: got nil error, want one")
	}
}

// leakyTransport fails every request with an error quoting the request's
// credentials, as a careless proxy or library might.
type leakyTransport struct{}

func (leakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_ = r.ParseForm()
	return nil, fmt.Errorf("proxy refused %s with %q and form token %q", r.URL, r.Header.Get("Authorization"), r.PostForm.Get("token"))
}

func TestTokensNeverInErrorsOrLogs(t *testing.T) {
	const appToken = "xapp-1-A0SECRET-42-aaaaaaaaaaaaaaaa"
	const botToken = "xoxb-4242-secretbottoken"
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)

	fs := fakeslack.New(t, fakeslack.WithTokens(appToken, "xoxb-another-token"))
	general := fs.AddChannel("general")
	wrong, err := New(Config{AppToken: appToken, BotToken: botToken, APIURL: fs.APIURL(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	leaky, err := New(Config{AppToken: appToken, BotToken: botToken, APIURL: fs.APIURL(), Logger: logger,
		HTTPClient: &http.Client{Transport: leakyTransport{}}})
	if err != nil {
		t.Fatal(err)
	}
	badApp, err := New(Config{AppToken: "xapp-1-wrong-app-token", BotToken: botToken, APIURL: fs.APIURL(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	var errs []error
	_, err = wrong.Post(ctx, bot.Message{Channel: general, Text: "x"})
	errs = append(errs, err)
	_, err = leaky.Post(ctx, bot.Message{Channel: general, Text: "x"})
	errs = append(errs, err)
	_, err = leaky.User(ctx, alice)
	errs = append(errs, err)
	err = leaky.Respond(ctx, &bot.Request{Kind: bot.KindAction, UserID: alice, ChannelID: general,
		Action: &bot.Action{ID: "a"}, ResponseURL: fs.URL() + "/response/T0FAKE/1/secret"}, bot.Reply("x"))
	errs = append(errs, err)

	engine, err := bot.NewEngine(bot.EngineConfig{Router: bot.NewRouter(), Responder: badApp})
	if err != nil {
		t.Fatal(err)
	}
	go engine.Run(ctx)
	defer engine.Close(ctx)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	errs = append(errs, badApp.Listen(lctx, engine))

	for i, err := range errs {
		t.Logf("call %d: %v", i, err)
		if err == nil {
			t.Errorf("call %d: got nil error, want a failure", i)
			continue
		}
		for _, secret := range []string{appToken, botToken, "xapp-1-wrong-app-token", "secretbottoken", "/response/T0FAKE/1/secret"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("call %d: error %q contains a secret", i, err)
			}
		}
	}
	if !strings.Contains(errs[0].Error(), "invalid_auth") {
		t.Errorf("wrong token error = %q, want invalid_auth", errs[0])
	}
	for _, entry := range logs.All() {
		line := entry.Message + fmt.Sprint(entry.ContextMap())
		for _, secret := range []string{appToken, botToken, "secretbottoken"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line %q contains a secret", line)
			}
		}
	}
}

// TestWebAPICallsReuseConnections: calls made many at a time, as the
// engine's workers make them, reuse the connections of earlier calls
// instead of dialling (with TLS, in production) for each one beyond the
// second.
func TestWebAPICallsReuseConnections(t *testing.T) {
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice"})
	general := fs.AddChannel("general", alice)
	c, _, _ := newClient(t, fs)
	const waves, inFlight = 5, 32
	before := fs.HTTPConnections()
	for w := 0; w < waves; w++ {
		var wg sync.WaitGroup
		for i := 0; i < inFlight; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Post(waitCtx(t), bot.Message{Channel: general, Text: "wave"}); err != nil {
					t.Errorf("post: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	// Go's default of 2 idle connections per host dials about
	// waves × (inFlight − 2) times; a pool that keeps them dials about
	// inFlight times, a few more when a connection is still on its way
	// back to the pool as the next wave starts.
	if got := fs.HTTPConnections() - before; got >= 2*inFlight {
		t.Errorf("%d calls opened %d connections, want fewer than %d (connections reused)", waves*inFlight, got, 2*inFlight)
	}
}

// TestFindPosted: the bot finds its own message by its metadata, the
// earliest when there are several, within since and within the history it
// reads; another app's message with the same metadata is not the bot's;
// Slack's refusals and outages are told apart.
func TestFindPosted(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	c, _, _ := newClient(t, fs, func(c *Client) { c.sleep = func(context.Context, time.Duration) error { return nil } })
	ctx := context.Background()
	meta := func(episode string) *bot.MessageMetadata {
		return &bot.MessageMetadata{EventType: "alert_group_message", Payload: map[string]string{"group": "g1", "episode": episode, "attempt": "a-" + episode}}
	}
	match := bot.MessageMetadata{EventType: "alert_group_message", Payload: map[string]string{"group": "g1", "episode": "1"}}
	fs.AddBotMessage(general, fakeslack.Message{User: "U0OTHER", BotID: "B0OTHER", Text: "spoof",
		Metadata: &fakeslack.Metadata{EventType: "alert_group_message", Payload: []byte(`{"group":"g1","episode":"1"}`)}})
	first, err := c.Post(ctx, bot.Message{Channel: general, Text: "first", Metadata: meta("1")})
	if err != nil {
		t.Fatal(err)
	}
	fs.AddMessage(general, alice, "chatter", "")
	second, err := c.Post(ctx, bot.Message{Channel: general, Text: "second", Metadata: meta("1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctx, bot.Message{Channel: general, Text: "episode 2", Metadata: meta("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctx, bot.Message{Channel: general, Text: "reply", ThreadTS: first.TS, Metadata: meta("1")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		since time.Time
		match bot.MessageMetadata
		want  bot.MessageRef
	}{
		{name: "earliest of two", match: match, want: first},
		{name: "since the second", since: bot.ParseTS(second.TS), match: match, want: second},
		{name: "since after both", since: bot.ParseTS(second.TS).Add(time.Microsecond), match: match},
		{name: "other payload", match: bot.MessageMetadata{EventType: "alert_group_message", Payload: map[string]string{"group": "g2"}}},
		{name: "other event type", match: bot.MessageMetadata{EventType: "something_else"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found, err := c.FindPosted(ctx, general, tt.since, tt.match)
			if err != nil {
				t.Fatal(err)
			}
			if found != (tt.want.TS != "") || got != tt.want {
				t.Errorf("got %+v (found %v), want %+v", got, found, tt.want)
			}
		})
	}

	// Edits keep the metadata; a deleted message is not found.
	if err := c.Update(ctx, first, bot.Message{Text: "first, edited", Metadata: meta("1")}); err != nil {
		t.Fatal(err)
	}
	if m, _ := fs.Message(general, first.TS); m.Metadata == nil || !strings.Contains(string(m.Metadata.Payload), `"attempt":"a-1"`) {
		t.Errorf("metadata after the edit: %+v", m.Metadata)
	}
	for i := 0; i < 2; i++ {
		if err := c.Delete(ctx, first); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	if got, _, _ := c.FindPosted(ctx, general, time.Time{}, match); got != second {
		t.Errorf("after deleting the first: %+v, want %+v", got, second)
	}

	// More than the history it reads since: not found, in bounded calls.
	for i := 0; i < findPages*findPageSize; i++ {
		fs.AddMessage(general, alice, fmt.Sprint(i), "")
	}
	before := len(fs.Calls("conversations.history"))
	if _, found, err := c.FindPosted(ctx, general, time.Time{}, match); found || err != nil {
		t.Errorf("beyond the history read: found %v, %v", found, err)
	}
	if n := len(fs.Calls("conversations.history")) - before; n != findPages {
		t.Errorf("%d history calls, want %d", n, findPages)
	}

	fs.FailNext("conversations.history", "missing_scope")
	if _, _, err := c.FindPosted(ctx, general, time.Time{}, match); !errors.Is(err, bot.ErrRequestRefused) {
		t.Errorf("missing_scope: %v, want ErrRequestRefused", err)
	}
	for i := 0; i < 5; i++ {
		fs.RateLimitNext("conversations.history", 0)
	}
	if _, _, err := c.FindPosted(ctx, general, time.Time{}, match); !errors.Is(err, bot.ErrServiceUnavailable) || errors.Is(err, bot.ErrRequestRefused) {
		t.Errorf("rate limited throughout: %v, want ErrServiceUnavailable", err)
	}
	if n := len(fs.Calls("auth.test")); n != 1 {
		t.Errorf("%d auth.test calls, want 1 (the bot ID is kept)", n)
	}
}
