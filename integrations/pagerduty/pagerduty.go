// Package pagerduty connects opsbot to PagerDuty's REST API through the
// go-pagerduty client: it is the on-call provider behind /oncall and handoffs
// (bot.OnCallProvider), the maker of the overrides behind cover requests and
// `/oncall override`, and the pager behind `/incident page` and alert
// escalations (bot.Pager), which resolves the incidents of escalations when
// their alert group resolves (bot.PageResolver).
//
// Every call takes the caller's context, has its own deadline, and is retried
// with backoff on 429 (after Retry-After) and 5xx while the context allows.
// Errors name the operation and entity, are classified (ErrUnauthorized,
// ErrRateLimited, ErrUnavailable, ErrInvalid, bot.ErrNotFound; each class
// also matches the provider-neutral bot.Err* value the command families
// phrase) and never contain the token. The adapter writes no chat copy.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// DefaultAPIURL is PagerDuty's REST API.
const DefaultAPIURL = "https://api.pagerduty.com"

// Config configures a Client.
type Config struct {
	// Token is a PagerDuty REST API token; read it from PAGERDUTY_TOKEN, never
	// from a file in the repository.
	Token string
	// APIURL is the REST API base URL (default DefaultAPIURL); tests point it
	// at fakepd.
	APIURL string
	// HTTPClient defaults to a client with sane timeouts.
	HTTPClient *http.Client
	// FromEmail is the PagerDuty user e-mail sent as the From header of the
	// incidents opsbot creates and resolves; required when Services is not
	// empty.
	FromEmail string
	// Services maps names usable in `/incident page NAME` to service IDs.
	Services map[string]string
	Logger   *zap.Logger
	// Clock dates cached look-ups (default bot.SystemClock).
	Clock bot.Clock
	// Timeout bounds one HTTP attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts bounds tries of one call, the first included (default 4).
	MaxAttempts int
	// MinBackoff is the first wait before a retry when PagerDuty sends no
	// Retry-After; it doubles each time up to MaxBackoff (defaults 500ms, 30s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// Client is a PagerDuty on-call provider and pager. Safe for concurrent use.
type Client struct {
	api      *pd.Client
	cfg      Config
	token    string
	log      *zap.Logger
	sleep    func(ctx context.Context, d time.Duration) error
	services []string // names, sorted, for messages
	// people caches users fetched by ID: the final-schedule path names only
	// IDs, and a sync every minute must not cost a GET per person each time
	// (PagerDuty allows 960 requests a minute per token).
	people *bot.TTLCache[bot.Person]
	// byEmail caches users found by e-mail for overrides, misses included
	// (for less time) so a Slack user without a PagerDuty account does not
	// cost a search on every click.
	byEmail *bot.TTLCache[bot.Person]
}

// How long fetched users are trusted, and how many are kept.
const (
	personTTL     = time.Hour
	personMissTTL = 5 * time.Minute
	peopleCached  = 10_000
)

var (
	_ bot.OnCallProvider = (*Client)(nil)
	_ bot.Pager          = (*Client)(nil)
	_ bot.PageResolver   = (*Client)(nil)
)

// Error classes, for errors.Is.
var (
	// ErrUnauthorized: the token is missing, wrong or lacks rights (401/403).
	ErrUnauthorized = fmt.Errorf("pagerduty refused the credentials: %w", bot.ErrUnauthorized)
	// ErrRateLimited: 429 still returned after the retries allowed.
	ErrRateLimited = fmt.Errorf("pagerduty rate limit: %w", bot.ErrRateLimited)
	// ErrUnavailable: 5xx, timeouts, network failures, unreadable answers.
	ErrUnavailable = fmt.Errorf("pagerduty unavailable: %w", bot.ErrUnavailable)
	// ErrInvalid: PagerDuty rejected the request as invalid (other 4xx).
	ErrInvalid = fmt.Errorf("pagerduty rejected the request: %w", bot.ErrRejected)
)

// Error is a failed PagerDuty call.
type Error struct {
	// Op names the operation and entity, e.g. `list on-calls of schedule "P1"`.
	Op string
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Class is one of the Err* values above, or bot.ErrNotFound.
	Class error
	// Detail is PagerDuty's message, with the token removed.
	Detail string
}

// Error says what failed, how PagerDuty classified it and its message.
func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("pagerduty: %s: %v (HTTP %d): %s", e.Op, e.Class, e.Status, e.Detail)
	}
	return fmt.Sprintf("pagerduty: %s: %v: %s", e.Op, e.Class, e.Detail)
}

// Unwrap returns the class, so errors.Is(err, ErrRateLimited) works.
func (e *Error) Unwrap() error { return e.Class }

// Temporary reports whether trying again later may succeed.
func Temporary(err error) bool {
	return errors.Is(err, ErrRateLimited) || errors.Is(err, ErrUnavailable)
}

// New validates cfg and returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("pagerduty: token is required (PAGERDUTY_TOKEN)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	u, err := url.Parse(cfg.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("pagerduty: api url %q: want http(s)://host[/path] without credentials", cfg.APIURL)
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	var names []string
	for name, id := range cfg.Services {
		if strings.TrimSpace(name) == "" || strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("pagerduty: service %q: name and ID are required", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if len(cfg.Services) > 0 && !strings.Contains(cfg.FromEmail, "@") {
		return nil, errors.New("pagerduty: from_email is required to page services (the From header of created incidents)")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = bot.SystemClock
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	c := &Client{cfg: cfg, token: cfg.Token, log: cfg.Logger.With(zap.String("integration", "pagerduty")), sleep: bot.Sleep, services: names,
		people: bot.NewTTLCache[bot.Person](peopleCached, cfg.Clock), byEmail: bot.NewTTLCache[bot.Person](peopleCached, cfg.Clock)}
	c.api = pd.NewClient(cfg.Token, pd.WithAPIEndpoint(cfg.APIURL))
	c.api.HTTPClient = retryAfterRecorder{cfg.HTTPClient}
	return c, nil
}

// retryAfterRecorder passes requests through and notes a 429's Retry-After
// in the attempt's context, because go-pagerduty drops response headers
// from the errors it returns.
type retryAfterRecorder struct{ c *http.Client }

type hintKey struct{}

type hint struct {
	mu         sync.Mutex
	retryAfter time.Duration
}

func (r retryAfterRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.c.Do(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		if h, ok := req.Context().Value(hintKey{}).(*hint); ok {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				h.mu.Lock()
				h.retryAfter = d
				h.mu.Unlock()
			}
		}
	}
	return resp, err
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// call runs fn with retries. retryAll says the call may be repeated after a
// 5xx or a network failure (reads, and creates protected by a dedupe key); a
// 429 is always safe to repeat because PagerDuty did nothing.
func (c *Client) call(ctx context.Context, op string, retryAll bool, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		h := &hint{}
		actx, cancel := context.WithTimeout(context.WithValue(ctx, hintKey{}, h), c.cfg.Timeout)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("pagerduty: %s: %w", op, ctx.Err())
		}
		perr := c.classify(op, err)
		retry := errors.Is(perr, ErrRateLimited) || (retryAll && errors.Is(perr, ErrUnavailable))
		if !retry || attempt >= c.cfg.MaxAttempts {
			return perr
		}
		h.mu.Lock()
		wait := h.retryAfter
		h.mu.Unlock()
		if wait == 0 {
			wait = c.backoff(attempt)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// Waiting would outlast the caller; answer now with the cause.
			return perr
		}
		c.log.Warn("pagerduty call failed; retrying", zap.String("op", op), zap.Int("attempt", attempt),
			zap.Duration("wait", wait), zap.Error(perr))
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("pagerduty: %s: %w (while waiting to retry after: %v)", op, err, perr)
		}
	}
}

// backoff is exponential with full jitter on its upper half, so replicas that
// failed together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.MinBackoff << (attempt - 1)
	if d > c.cfg.MaxBackoff || d <= 0 {
		d = c.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func (c *Client) classify(op string, err error) error {
	e := &Error{Op: op, Class: ErrUnavailable, Detail: c.redact(err.Error())}
	var api pd.APIError
	if errors.As(err, &api) {
		e.Status = api.StatusCode
		switch {
		case api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden:
			e.Class = ErrUnauthorized
		case api.NotFound():
			e.Class = bot.ErrNotFound
		case api.RateLimited():
			e.Class = ErrRateLimited
		case api.StatusCode >= 500:
			e.Class = ErrUnavailable
		default:
			e.Class = ErrInvalid
		}
		if api.APIError.Valid && len(api.APIError.ErrorObject.Errors) > 0 {
			e.Detail = c.redact(strings.Join(api.APIError.ErrorObject.Errors, "; "))
		}
	}
	return e
}

// redact removes the token from text that may echo request details.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

func parseTS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// maxPages bounds pagination so that a server always answering more=true
// cannot keep a sync busy forever.
const maxPages = 50

// Shifts implements bot.OnCallProvider. Levels come from the escalation
// policies that use the schedule (GET /oncalls). A schedule no policy uses
// has no levels there, so its final schedule (overrides included) is read
// instead and reported as level 1.
func (c *Client) Shifts(ctx context.Context, scheduleID string, from, to time.Time) ([]bot.Shift, error) {
	op := fmt.Sprintf("list on-calls of schedule %q", scheduleID)
	var calls []pd.OnCall
	var offset uint
	for pages := 0; ; pages++ {
		if pages == maxPages {
			return nil, &Error{Op: op, Class: ErrUnavailable, Detail: fmt.Sprintf("more than %d pages", maxPages)}
		}
		var resp *pd.ListOnCallsResponse
		err := c.call(ctx, op, true, func(ctx context.Context) error {
			var err error
			resp, err = c.api.ListOnCallsWithContext(ctx, pd.ListOnCallOptions{
				Limit: 100, Offset: offset, ScheduleIDs: []string{scheduleID}, Includes: []string{"users"},
				Since: from.UTC().Format(time.RFC3339), Until: to.UTC().Format(time.RFC3339),
			})
			return err
		})
		if err != nil {
			return nil, err
		}
		calls = append(calls, resp.OnCalls...)
		if !resp.More || len(resp.OnCalls) == 0 {
			break
		}
		offset += uint(len(resp.OnCalls))
	}
	if len(calls) == 0 {
		return c.finalSchedule(ctx, scheduleID, from, to)
	}
	seen := map[string]bool{}
	var out []bot.Shift
	for _, oc := range calls {
		start, err := parseTS(oc.Start)
		if err != nil {
			return nil, &Error{Op: op, Class: ErrUnavailable, Detail: err.Error()}
		}
		end, err := parseTS(oc.End)
		if err != nil {
			return nil, &Error{Op: op, Class: ErrUnavailable, Detail: err.Error()}
		}
		p, err := c.person(ctx, oc.User)
		if err != nil {
			return nil, err
		}
		s := bot.Shift{Schedule: scheduleID, Level: int(oc.EscalationLevel), Person: p, Start: start, End: end}
		// The same shift appears once per escalation policy using the schedule.
		key := fmt.Sprintf("%d|%s|%d|%d", s.Level, p.Key(), start.Unix(), end.Unix())
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, s)
	}
	bot.SortShifts(out)
	return out, nil
}

func (c *Client) finalSchedule(ctx context.Context, scheduleID string, from, to time.Time) ([]bot.Shift, error) {
	op := fmt.Sprintf("get schedule %q", scheduleID)
	var sc *pd.Schedule
	err := c.call(ctx, op, true, func(ctx context.Context) error {
		var err error
		sc, err = c.api.GetScheduleWithContext(ctx, scheduleID, pd.GetScheduleOptions{
			TimeZone: "UTC", Since: from.UTC().Format(time.RFC3339), Until: to.UTC().Format(time.RFC3339),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []bot.Shift
	for _, e := range sc.FinalSchedule.RenderedScheduleEntries {
		start, err := parseTS(e.Start)
		if err != nil {
			return nil, &Error{Op: op, Class: ErrUnavailable, Detail: err.Error()}
		}
		end, err := parseTS(e.End)
		if err != nil {
			return nil, &Error{Op: op, Class: ErrUnavailable, Detail: err.Error()}
		}
		p, err := c.person(ctx, pd.User{APIObject: e.User})
		if err != nil {
			return nil, err
		}
		out = append(out, bot.Shift{Schedule: scheduleID, Level: 1, Person: p, Start: start, End: end})
	}
	bot.SortShifts(out)
	return out, nil
}

// person completes a user reference with name and e-mail, fetching the user
// when the answer did not include them.
func (c *Client) person(ctx context.Context, u pd.User) (bot.Person, error) {
	if u.Email != "" {
		return bot.Person{Name: firstNonEmpty(u.Name, u.Summary), Email: u.Email, ProviderID: u.ID}, nil
	}
	if u.ID == "" {
		return bot.Person{Name: firstNonEmpty(u.Summary, "unknown")}, nil
	}
	return c.people.GetOrLoad(ctx, u.ID, func(ctx context.Context) (bot.Person, time.Duration, error) {
		var full *pd.User
		err := c.call(ctx, fmt.Sprintf("get user %q", u.ID), true, func(ctx context.Context) error {
			var err error
			full, err = c.api.GetUserWithContext(ctx, u.ID, pd.GetUserOptions{})
			return err
		})
		if err != nil {
			return bot.Person{}, 0, err
		}
		return bot.Person{Name: firstNonEmpty(full.Name, u.Summary), Email: full.Email, ProviderID: u.ID}, personTTL, nil
	})
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Schedules lists every schedule in the account (ID and name), for checking
// the configured schedule IDs.
func (c *Client) Schedules(ctx context.Context) ([]bot.ScheduleConfig, error) {
	var out []bot.ScheduleConfig
	var offset uint
	for pages := 0; pages < maxPages; pages++ {
		var resp *pd.ListSchedulesResponse
		err := c.call(ctx, "list schedules", true, func(ctx context.Context) error {
			var err error
			resp, err = c.api.ListSchedulesWithContext(ctx, pd.ListSchedulesOptions{Limit: 100, Offset: offset})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range resp.Schedules {
			out = append(out, bot.ScheduleConfig{ID: s.ID, Name: firstNonEmpty(s.Name, s.Summary)})
		}
		if !resp.More || len(resp.Schedules) == 0 {
			return out, nil
		}
		offset += uint(len(resp.Schedules))
	}
	return nil, &Error{Op: "list schedules", Class: ErrUnavailable, Detail: fmt.Sprintf("more than %d pages", maxPages)}
}

// Page implements bot.Pager: it creates a PagerDuty incident on the named
// service, as FromEmail, so people without a PagerDuty licence can page.
func (c *Client) Page(ctx context.Context, req bot.PageRequest) (bot.PageResult, error) {
	serviceID, ok := c.cfg.Services[req.Service]
	if !ok {
		return bot.PageResult{}, fmt.Errorf("pagerduty: page service %q (configured: %s): %w",
			req.Service, strings.Join(c.services, ", "), bot.ErrNotFound)
	}
	title := strings.TrimSpace(req.Title)
	if title == "" {
		title = "Paged from Slack"
	}
	details := strings.TrimSpace(req.Details)
	if req.RequesterEmail != "" {
		details = strings.TrimSpace(details + "\n\nPaged from Slack by " + req.RequesterEmail + " through opsbot.")
	}
	opts := &pd.CreateIncidentOptions{
		Title:       title,
		Service:     &pd.APIReference{ID: serviceID, Type: "service_reference"},
		IncidentKey: req.IncidentKey,
	}
	if details != "" {
		opts.Body = &pd.APIDetails{Type: "incident_body", Details: details}
	}
	op := fmt.Sprintf("create incident on service %q", req.Service)
	var inc *pd.Incident
	// Without a dedupe key a repeated create could page twice, so only a
	// 429 (nothing created) is retried then.
	err := c.call(ctx, op, req.IncidentKey != "", func(ctx context.Context) error {
		var err error
		inc, err = c.api.CreateIncidentWithContext(ctx, c.cfg.FromEmail, opts)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrInvalid) && req.IncidentKey != "" {
			// PagerDuty refuses a second open incident with the same key with
			// a plain 400; asking for it by key tells that case from others
			// without reading its prose.
			if open, ok := c.openIncidentByKey(ctx, serviceID, req.IncidentKey); ok {
				res := pageResult(open)
				return res, fmt.Errorf("%s: open incident %s has key %q: %w", op, open.ID, req.IncidentKey, bot.ErrDuplicate)
			}
		}
		if errors.Is(err, ErrRateLimited) {
			c.log.Warn("page refused by rate limit", zap.String("service", req.Service), zap.Error(err))
		}
		return bot.PageResult{}, err
	}
	res := pageResult(inc)
	c.log.Info("paged", zap.String("service", req.Service), zap.String("pd_incident", inc.ID),
		zap.String("incident", req.IncidentKey))
	return res, nil
}

func pageResult(inc *pd.Incident) bot.PageResult {
	res := bot.PageResult{ID: inc.ID, URL: inc.HTMLURL}
	for _, a := range inc.Assignments {
		res.Assignees = append(res.Assignees, firstNonEmpty(a.Assignee.Summary, a.Assignee.ID))
	}
	return res
}

// openIncidentByKey finds the open incident of a service with an incident
// key; ok is false when there is none or the search fails.
func (c *Client) openIncidentByKey(ctx context.Context, serviceID, key string) (*pd.Incident, bool) {
	inc, err := c.findOpenIncident(ctx, serviceID, key)
	return inc, err == nil && inc != nil
}

// findOpenIncident finds the open incident of a service with an incident
// key: nil when there is none.
func (c *Client) findOpenIncident(ctx context.Context, serviceID, key string) (*pd.Incident, error) {
	var resp *pd.ListIncidentsResponse
	err := c.call(ctx, fmt.Sprintf("find incident with key %q", key), true, func(ctx context.Context) error {
		var err error
		resp, err = c.api.ListIncidentsWithContext(ctx, pd.ListIncidentsOptions{
			IncidentKey: key, ServiceIDs: []string{serviceID}, Statuses: []string{"triggered", "acknowledged"}, Limit: 1,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Incidents) == 0 {
		return nil, nil
	}
	return &resp.Incidents[0], nil
}

// ResolvePageByKey resolves the open incident that Page created on the
// named service with incidentKey, if there is one: how a page is resolved
// whose answer was lost, so that its ID was never known. None open (none
// was created, or it is resolved) is success.
func (c *Client) ResolvePageByKey(ctx context.Context, service, incidentKey string) error {
	serviceID, ok := c.cfg.Services[service]
	if !ok {
		return fmt.Errorf("pagerduty: resolve the incident keyed %q on service %q (configured: %s): %w",
			incidentKey, service, strings.Join(c.services, ", "), bot.ErrNotFound)
	}
	inc, err := c.findOpenIncident(ctx, serviceID, incidentKey)
	if err != nil {
		return err
	}
	if inc == nil {
		c.log.Info("no open incident to resolve", zap.String("service", service), zap.String("incident", incidentKey))
		return nil
	}
	return c.ResolvePage(ctx, inc.ID)
}

// ResolvePage implements bot.PageResolver: it resolves an incident (PUT
// /incidents) as FromEmail, the user who created it. Resolving is
// idempotent, so 5xx and network failures are retried like 429s.
func (c *Client) ResolvePage(ctx context.Context, id string) error {
	op := fmt.Sprintf("resolve incident %q", id)
	switch {
	case !validID(id):
		// The ID goes into a URL path.
		return &Error{Op: op, Class: ErrInvalid, Detail: "not a PagerDuty ID"}
	case c.cfg.FromEmail == "":
		return &Error{Op: op, Class: ErrInvalid, Detail: "from_email is required to resolve incidents (the From header)"}
	}
	err := c.call(ctx, op, true, func(ctx context.Context) error {
		_, err := c.api.ManageIncidentsWithContext(ctx, c.cfg.FromEmail, []pd.ManageIncidentsOptions{{ID: id, Status: "resolved"}})
		return err
	})
	if errors.Is(err, ErrInvalid) {
		// PagerDuty refuses to resolve a resolved incident with a plain
		// 400; the incident's status tells that case from others without
		// reading its prose.
		if status, ok := c.incidentStatus(ctx, id); ok && status == "resolved" {
			c.log.Info("incident already resolved at PagerDuty", zap.String("pd_incident", id))
			return nil
		}
	}
	if err != nil {
		return err
	}
	c.log.Info("incident resolved", zap.String("pd_incident", id))
	return nil
}

// incidentStatus reads an incident's status; ok is false when the read
// fails.
func (c *Client) incidentStatus(ctx context.Context, id string) (string, bool) {
	var inc *pd.Incident
	err := c.call(ctx, fmt.Sprintf("get incident %q", id), true, func(ctx context.Context) error {
		var err error
		inc, err = c.api.GetIncidentWithContext(ctx, id)
		return err
	})
	if err != nil {
		return "", false
	}
	return inc.Status, true
}

// validID reports whether id looks like a PagerDuty object ID (letters and
// digits).
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
