// Package github mirrors incident follow-ups to GitHub issues through the
// go-github client: it opens an issue per follow-up, reads and closes it,
// and finds an issue it may already have opened when an earlier answer was
// lost. It implements bot.Tracker and turns GitHub's failures into the
// bot.ErrTracker… kinds (with the status, GitHub's message and how long to
// wait), leaving wording and retry policy to the incident family.
//
// The token is only ever sent in the Authorization header; no error or log
// line contains it.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// DefaultAPIURL is GitHub's REST API.
const DefaultAPIURL = "https://api.github.com/"

// callTimeout bounds one GitHub call; a sync round has many and must not
// hang on one.
const callTimeout = 15 * time.Second

// findPages bounds how far back FindIssue looks (100 issues a page).
const findPages = 5

// Config says which repository to use and how to reach GitHub.
type Config struct {
	// Token is GITHUB_TOKEN: a fine-grained token with Issues read/write on
	// Repo, or a classic token with repo scope.
	Token string
	// Repo is "owner/name".
	Repo string
	// APIURL is the REST API base URL (GitHub Enterprise:
	// https://HOST/api/v3/); default DefaultAPIURL.
	APIURL string
	// Labels are put on every issue opened (e.g. "incident-follow-up").
	Labels []string
	// HTTPClient is used for the calls; default one with a 30 s timeout.
	HTTPClient *http.Client
	Logger     *zap.Logger
}

// Client is a bot.Tracker over one GitHub repository.
type Client struct {
	gh          *gh.Client
	owner, repo string
	labels      []string
	log         *zap.Logger
}

var _ bot.Tracker = (*Client)(nil)

var repoName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)

// New validates cfg and returns the client. It makes no call.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, errors.New("github: token is empty (set GITHUB_TOKEN)")
	}
	if !repoName.MatchString(cfg.Repo) {
		return nil, fmt.Errorf("github: repository %q is not owner/name", cfg.Repo)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	api := cfg.APIURL
	c, err := gh.NewClient(gh.WithHTTPClient(cfg.HTTPClient), gh.WithAuthToken(cfg.Token),
		gh.WithURLs(&api, &api), gh.WithUserAgent("opsbot"))
	if err != nil {
		// go-github's option errors name the URL, never the token.
		return nil, fmt.Errorf("github: %w", err)
	}
	owner, repo, _ := strings.Cut(cfg.Repo, "/")
	return &Client{gh: c, owner: owner, repo: repo, labels: cfg.Labels, log: cfg.Logger}, nil
}

// Name implements bot.Tracker.
func (c *Client) Name() string { return "GitHub " + c.owner + "/" + c.repo }

// CreateIssue implements bot.Tracker.
func (c *Client) CreateIssue(ctx context.Context, req bot.IssueRequest) (bot.Issue, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	body := req.Body
	labels := append(append([]string(nil), c.labels...), req.Labels...)
	is, resp, err := c.gh.Issues.Create(ctx, c.owner, c.repo, gh.CreateIssueRequest{Title: req.Title, Body: &body, Labels: labels})
	if err != nil {
		return bot.Issue{}, c.classify("create issue in", resp, err)
	}
	c.log.Info("github issue created", zap.Int("issue", is.GetNumber()), zap.String("repo", c.owner+"/"+c.repo))
	return toIssue(is), nil
}

// Issue implements bot.Tracker.
func (c *Client) Issue(ctx context.Context, number int) (bot.Issue, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	is, resp, err := c.gh.Issues.Get(ctx, c.owner, c.repo, number)
	if err != nil {
		return bot.Issue{}, c.classify(fmt.Sprintf("read issue #%d of", number), resp, err)
	}
	return toIssue(is), nil
}

// CloseIssue implements bot.Tracker.
func (c *Client) CloseIssue(ctx context.Context, number int) (bot.Issue, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	state, reason := "closed", "completed"
	is, resp, err := c.gh.Issues.Update(ctx, c.owner, c.repo, number, gh.UpdateIssueRequest{State: &state, StateReason: &reason})
	if err != nil {
		return bot.Issue{}, c.classify(fmt.Sprintf("close issue #%d of", number), resp, err)
	}
	return toIssue(is), nil
}

// FindIssue implements bot.Tracker: it reads the repository's issues newest
// first (at most findPages pages) and stops at the first created before
// since.
func (c *Client) FindIssue(ctx context.Context, marker string, since time.Time) (bot.Issue, bool, error) {
	if marker == "" {
		return bot.Issue{}, false, errors.New("find issue: empty marker")
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	opt := &gh.IssueListByRepoOptions{State: "all", Sort: "created", Direction: "desc", ListOptions: gh.ListOptions{PerPage: 100}}
	for range findPages {
		list, resp, err := c.gh.Issues.ListByRepo(ctx, c.owner, c.repo, opt)
		if err != nil {
			return bot.Issue{}, false, c.classify("list issues of", resp, err)
		}
		for _, is := range list {
			if is.CreatedAt != nil && is.CreatedAt.Before(since) {
				return bot.Issue{}, false, nil
			}
			if strings.Contains(is.GetBody(), marker) {
				return toIssue(is), true, nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.ListOptions.Page = resp.NextPage
	}
	return bot.Issue{}, false, nil
}

func toIssue(is *gh.Issue) bot.Issue {
	out := bot.Issue{Number: is.GetNumber(), URL: is.GetHTMLURL(), State: is.GetState()}
	if is.UpdatedAt != nil {
		out.UpdatedAt = is.UpdatedAt.UTC()
	}
	return out
}

// classify turns a go-github error into a *bot.TrackerError of the right
// kind. Only GitHub's own message and status go into it: go-github's error
// strings carry the request URL, which is harmless, but never headers.
func (c *Client) classify(op string, resp *gh.Response, err error) error {
	te := &bot.TrackerError{Op: op + " " + c.owner + "/" + c.repo, Kind: bot.ErrTrackerUnavailable}
	var (
		rl    *gh.RateLimitError
		abuse *gh.AbuseRateLimitError
		er    *gh.ErrorResponse
	)
	switch {
	case errors.As(err, &rl):
		te.Kind, te.Message = bot.ErrTrackerRateLimited, rl.Message
		if rl.Response != nil {
			te.Status = rl.Response.StatusCode
		}
		if wait := time.Until(rl.Rate.Reset.Time); wait > 0 {
			te.RetryAfter = wait.Round(time.Second)
		}
	case errors.As(err, &abuse):
		te.Kind, te.Message = bot.ErrTrackerRateLimited, firstSentence(abuse.Message)
		if abuse.Response != nil {
			te.Status = abuse.Response.StatusCode
		}
		if abuse.RetryAfter != nil {
			te.RetryAfter = *abuse.RetryAfter
		}
	case errors.As(err, &er) && er.Response != nil:
		te.Status = er.Response.StatusCode
		te.Message = errorMessage(er)
		switch s := te.Status; {
		case s == http.StatusUnauthorized, s == http.StatusForbidden:
			te.Kind = bot.ErrTrackerAuth
		case s == http.StatusNotFound, s == http.StatusGone:
			te.Kind = bot.ErrTrackerNotFound
		case s == http.StatusTooManyRequests:
			te.Kind = bot.ErrTrackerRateLimited
			te.RetryAfter = retryAfter(er.Response.Header.Get("Retry-After"))
		case s >= 500:
			te.Kind = bot.ErrTrackerUnavailable
			te.RetryAfter = retryAfter(er.Response.Header.Get("Retry-After"))
		case s >= 400:
			te.Kind = bot.ErrTrackerInvalid
		}
	default:
		// Network failures and timeouts: whether a create took effect is
		// unknown, which is what ErrTrackerUnavailable says.
		var ue interface{ Timeout() bool }
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ue) && ue.Timeout()) {
			te.Message = "timed out"
		} else {
			te.Message = "no answer"
		}
	}
	if resp != nil && te.Status == 0 && resp.Response != nil {
		te.Status = resp.StatusCode
	}
	c.log.Warn("github call failed", zap.String("op", te.Op), zap.Int("status", te.Status),
		zap.String("message", te.Message), zap.Duration("retry_after", te.RetryAfter))
	return te
}

// errorMessage is GitHub's message with the details of a 422's errors.
func errorMessage(er *gh.ErrorResponse) string {
	msg := er.Message
	var details []string
	for _, e := range er.Errors {
		switch {
		case e.Message != "":
			details = append(details, e.Message)
		case e.Code != "":
			details = append(details, strings.TrimSpace(e.Code+" "+e.Field))
		}
	}
	if len(details) > 0 {
		msg += ": " + strings.Join(details, "; ")
	}
	return msg
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}

// retryAfter reads a Retry-After header in seconds (GitHub never sends the
// date form).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
