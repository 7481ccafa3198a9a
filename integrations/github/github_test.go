package github_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/github"
	"github.com/opsbot/opsbot/integrations/github/fakegh"
)

const repo = "acme/ops"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, fg *fakegh.Server, token, repoName string) (*github.Client, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	c, err := github.New(github.Config{Token: token, Repo: repoName, APIURL: fg.URL(), Labels: []string{"follow-up"}, Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, logs
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  github.Config
		want string
	}{
		{name: "no token", cfg: github.Config{Repo: repo}, want: "token is empty"},
		{name: "no owner", cfg: github.Config{Token: "x", Repo: "ops"}, want: "not owner/name"},
		{name: "a URL instead of a name", cfg: github.Config{Token: "x", Repo: "https://github.com/acme/ops"}, want: "not owner/name"},
		{name: "bad API URL", cfg: github.Config{Token: "x", Repo: repo, APIURL: "::"}, want: "github:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := github.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCreateReadCloseFind(t *testing.T) {
	fg := fakegh.New(t)
	fg.AddRepo(repo)
	c, _ := newClient(t, fg, fg.Token(), repo)
	ctx := ctxT(t)
	if c.Name() != "GitHub acme/ops" {
		t.Errorf("Name = %q", c.Name())
	}
	is, err := c.CreateIssue(ctx, bot.IssueRequest{Title: "INC-1: add retries", Body: "body\n\n<!-- opsbot:INC-1/1 -->",
		Marker: "<!-- opsbot:INC-1/1 -->", Labels: []string{"incident"}})
	if err != nil {
		t.Fatalf("CreateIssue: %v", err)
	}
	if is.Number != 1 || is.State != "open" || !strings.HasSuffix(is.URL, "/acme/ops/issues/1") {
		t.Errorf("created %+v", is)
	}
	stored, _ := fg.Issue(repo, 1)
	if strings.Join(stored.Labels, ",") != "follow-up,incident" {
		t.Errorf("labels = %v, want the configured and the requested", stored.Labels)
	}
	fg.SetState(repo, 1, "closed")
	got, err := c.Issue(ctx, 1)
	if err != nil || got.State != "closed" {
		t.Errorf("Issue = %+v, %v; want closed", got, err)
	}
	fg.SetState(repo, 1, "open")
	closed, err := c.CloseIssue(ctx, 1)
	if err != nil || closed.State != "closed" {
		t.Errorf("CloseIssue = %+v, %v", closed, err)
	}
	if s, _ := fg.Issue(repo, 1); s.StateReason != "completed" {
		t.Errorf("state_reason = %q, want completed", s.StateReason)
	}

	// FindIssue pages back through newer issues to the marked one.
	for i := range 150 {
		if _, err := c.CreateIssue(ctx, bot.IssueRequest{Title: fmt.Sprintf("other %d", i), Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	found, ok, err := c.FindIssue(ctx, "<!-- opsbot:INC-1/1 -->", time.Now().Add(-time.Hour))
	if err != nil || !ok || found.Number != 1 {
		t.Errorf("FindIssue = %+v, %v, %v; want #1", found, ok, err)
	}
	lists := 0
	for _, r := range fg.Requests() {
		if r.Method == "GET" && r.Path == "/repos/acme/ops/issues" {
			lists++
		}
	}
	if lists != 2 {
		t.Errorf("FindIssue read %d pages, want 2 (151 issues, 100 a page)", lists)
	}
	if _, ok, err := c.FindIssue(ctx, "<!-- opsbot:INC-9/9 -->", time.Now().Add(-time.Hour)); ok || err != nil {
		t.Errorf("FindIssue of an unknown marker: ok=%v err=%v", ok, err)
	}
}

// TestErrorsAreClassified checks every failure GitHub answers with against
// the kind the incident family acts on, and that no error or log line
// carries the token.
func TestErrorsAreClassified(t *testing.T) {
	tests := []struct {
		name       string
		token      string // "" means the right one
		repo       string
		fault      *fakegh.Fault
		title      string
		wantKind   error
		wantStatus int
		wantMsg    string
		wantRetry  time.Duration
	}{
		{name: "401 bad credentials", token: "ghp_wrong", wantKind: bot.ErrTrackerAuth, wantStatus: 401, wantMsg: "Bad credentials"},
		{name: "404 unknown repository", repo: "acme/nope", wantKind: bot.ErrTrackerNotFound, wantStatus: 404, wantMsg: "Not Found"},
		{name: "422 title too long", title: strings.Repeat("x", 300), wantKind: bot.ErrTrackerInvalid, wantStatus: 422,
			wantMsg: "Validation Failed: title is too long (maximum is 256 characters)"},
		{name: "422 missing title", title: " ", wantKind: bot.ErrTrackerInvalid, wantStatus: 422, wantMsg: "Validation Failed: missing_field title"},
		{name: "primary rate limit, 403", fault: &fakegh.Fault{Kind: fakegh.PrimaryRateLimit, RetryAfter: 10 * time.Minute},
			wantKind: bot.ErrTrackerRateLimited, wantStatus: 403, wantMsg: "API rate limit exceeded", wantRetry: 10 * time.Minute},
		{name: "primary rate limit, 429", fault: &fakegh.Fault{Kind: fakegh.PrimaryRateLimit, Status: 429, RetryAfter: 5 * time.Minute},
			wantKind: bot.ErrTrackerRateLimited, wantStatus: 429, wantMsg: "API rate limit exceeded", wantRetry: 5 * time.Minute},
		{name: "secondary rate limit, 403 with Retry-After", fault: &fakegh.Fault{Kind: fakegh.SecondaryRateLimit, RetryAfter: 60 * time.Second},
			wantKind: bot.ErrTrackerRateLimited, wantStatus: 403, wantMsg: "secondary rate limit", wantRetry: 60 * time.Second},
		{name: "secondary rate limit, 429 with Retry-After", fault: &fakegh.Fault{Kind: fakegh.SecondaryRateLimit, Status: 429, RetryAfter: 30 * time.Second},
			wantKind: bot.ErrTrackerRateLimited, wantStatus: 429, wantMsg: "secondary rate limit", wantRetry: 30 * time.Second},
		{name: "500", fault: &fakegh.Fault{Kind: fakegh.ServerError, Status: 500}, wantKind: bot.ErrTrackerUnavailable, wantStatus: 500, wantMsg: "Server Error"},
		{name: "503 with Retry-After", fault: &fakegh.Fault{Kind: fakegh.ServerError, Status: 503, RetryAfter: 20 * time.Second},
			wantKind: bot.ErrTrackerUnavailable, wantStatus: 503, wantMsg: "Service Unavailable", wantRetry: 20 * time.Second},
		{name: "created but answered 502", fault: &fakegh.Fault{Kind: fakegh.AppliedThenFailed}, wantKind: bot.ErrTrackerUnavailable, wantStatus: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fg := fakegh.New(t)
			fg.AddRepo(repo)
			token := tt.token
			if token == "" {
				token = fg.Token()
			}
			r := tt.repo
			if r == "" {
				r = repo
			}
			if tt.fault != nil {
				fg.Fail(*tt.fault)
			}
			title := tt.title
			if title == "" {
				title = "INC-1: something"
			}
			c, logs := newClient(t, fg, token, r)
			_, err := c.CreateIssue(ctxT(t), bot.IssueRequest{Title: title, Body: "b"})
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("err = %v, want kind %v", err, tt.wantKind)
			}
			var te *bot.TrackerError
			if !errors.As(err, &te) {
				t.Fatalf("err %T is not a *bot.TrackerError", err)
			}
			if te.Status != tt.wantStatus || !strings.Contains(te.Message, tt.wantMsg) {
				t.Errorf("status %d message %q, want %d and %q", te.Status, te.Message, tt.wantStatus, tt.wantMsg)
			}
			// Reset times are whole seconds on the wire.
			if d := te.RetryAfter - tt.wantRetry; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("retry after %s, want %s", te.RetryAfter, tt.wantRetry)
			}
			if !strings.Contains(err.Error(), "create issue in "+r) {
				t.Errorf("error %q does not say what was attempted", err)
			}
			for _, secret := range []string{token, fg.Token()} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains the token: %q", err)
				}
				for _, e := range logs.All() {
					if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), secret) {
						t.Errorf("log line contains the token: %v", e)
					}
				}
			}
		})
	}
}

func TestAppliedThenFailedIsFoundByMarker(t *testing.T) {
	fg := fakegh.New(t)
	fg.AddRepo(repo)
	c, _ := newClient(t, fg, fg.Token(), repo)
	ctx := ctxT(t)
	before := time.Now().Add(-time.Minute)
	fg.Fail(fakegh.Fault{Kind: fakegh.AppliedThenFailed, Method: "POST"})
	marker := "<!-- opsbot:INC-3/2 -->"
	if _, err := c.CreateIssue(ctx, bot.IssueRequest{Title: "t", Body: "b " + marker, Marker: marker}); !errors.Is(err, bot.ErrTrackerUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	is, ok, err := c.FindIssue(ctx, marker, before)
	if err != nil || !ok || is.Number != 1 {
		t.Errorf("FindIssue = %+v %v %v, want the issue the lost answer created", is, ok, err)
	}
	if n := len(fg.Issues(repo)); n != 1 {
		t.Errorf("%d issues, want 1", n)
	}
}

func TestIssueNotFound(t *testing.T) {
	fg := fakegh.New(t)
	fg.AddRepo(repo)
	c, _ := newClient(t, fg, fg.Token(), repo)
	if _, err := c.Issue(ctxT(t), 42); !errors.Is(err, bot.ErrTrackerNotFound) {
		t.Errorf("Issue(42) err = %v, want not found", err)
	}
	if _, err := c.CloseIssue(ctxT(t), 42); !errors.Is(err, bot.ErrTrackerNotFound) || !strings.Contains(err.Error(), "close issue #42 of acme/ops") {
		t.Errorf("CloseIssue(42) err = %v", err)
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	fg := fakegh.New(t, fakegh.WithLatency(2*time.Second))
	fg.AddRepo(repo)
	c, _ := newClient(t, fg, fg.Token(), repo)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Issue(ctx, 1)
	var te *bot.TrackerError
	if !errors.Is(err, bot.ErrTrackerUnavailable) || !errors.As(err, &te) || te.Message != "timed out" {
		t.Errorf("err = %v, want unavailable: timed out", err)
	}
}
