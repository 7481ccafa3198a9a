package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsbot/opsbot/bot"
)

// Error classes of Client errors, for errors.Is. An unknown silence is
// bot.ErrNotFound. They wrap bot.ErrRequestRefused and
// bot.ErrServiceUnavailable, which is what the alerts family checks.
var (
	// ErrInvalid: Alertmanager refused the request (HTTP 4xx), e.g. a
	// silence whose matchers match every alert.
	ErrInvalid error = &class{msg: "alertmanager refused the request", base: bot.ErrRequestRefused}
	// ErrUnavailable: no answer, a 5xx, or an answer that is not API v2.
	ErrUnavailable error = &class{msg: "alertmanager unavailable", base: bot.ErrServiceUnavailable}
)

// class is an error class that also matches a bot error class.
type class struct {
	msg  string
	base error
}

func (c *class) Error() string { return c.msg }
func (c *class) Unwrap() error { return c.base }

// Error is a failed API call.
type Error struct {
	// Op names the operation and entity, e.g. `expire silence "…"`.
	Op string
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Class is ErrInvalid, ErrUnavailable or bot.ErrNotFound.
	Class error
	// Detail is Alertmanager's message (or the transport error), without
	// credentials.
	Detail string
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("alertmanager: %s: %v (HTTP %d): %s", e.Op, e.Class, e.Status, e.Detail)
	}
	return fmt.Sprintf("alertmanager: %s: %v: %s", e.Op, e.Class, e.Detail)
}

// Unwrap returns the class.
func (e *Error) Unwrap() error { return e.Class }

// Reason is Alertmanager's own explanation, for people (e.g. why a silence
// was refused).
func (e *Error) Reason() string { return e.Detail }

// Config configures a Client.
type Config struct {
	// URL is Alertmanager's base URL (http://alertmanager:9093, with any
	// path prefix it is served under). User and password in it are sent as
	// basic auth and never appear in errors.
	URL string
	// HTTPClient defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	// Timeout bounds one call (default 10s).
	Timeout time.Duration
}

// Client talks to Alertmanager's API v2. It implements bot.Silencer.
type Client struct {
	base    *url.URL
	user    *url.Userinfo
	hc      *http.Client
	timeout time.Duration
}

var _ bot.Silencer = (*Client)(nil)

// New validates cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("alertmanager: url must be an http(s) URL like http://alertmanager:9093")
	}
	c := &Client{user: u.User, hc: cfg.HTTPClient, timeout: cfg.Timeout}
	u.User = nil
	u.Path = strings.TrimRight(u.Path, "/")
	c.base = u
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	return c, nil
}

// URL is the base URL, without credentials, for messages and logs.
func (c *Client) URL() string { return c.base.String() }

// postableSilence and gettableSilence are API v2's silence shapes.
type postableSilence struct {
	ID        string         `json:"id,omitempty"`
	Matchers  []matcher      `json:"matchers"`
	StartsAt  time.Time      `json:"startsAt"`
	EndsAt    time.Time      `json:"endsAt"`
	CreatedBy string         `json:"createdBy"`
	Comment   string         `json:"comment"`
	Status    *silenceStatus `json:"status,omitempty"`
	UpdatedAt *time.Time     `json:"updatedAt,omitempty"`
}

type matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

type silenceStatus struct {
	State string `json:"state"`
}

// CreateSilence creates s and returns its ID.
func (c *Client) CreateSilence(ctx context.Context, s bot.Silence) (string, error) {
	op := "create silence"
	if len(s.Matchers) == 0 {
		return "", &Error{Op: op, Class: ErrInvalid, Detail: "no matchers"}
	}
	body := postableSilence{StartsAt: s.StartsAt.UTC(), EndsAt: s.EndsAt.UTC(), CreatedBy: s.CreatedBy, Comment: s.Comment}
	for _, m := range s.Matchers {
		eq := m.IsEqual
		body.Matchers = append(body.Matchers, matcher{Name: m.Name, Value: m.Value, IsRegex: m.IsRegex, IsEqual: &eq})
	}
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := c.do(ctx, op, http.MethodPost, "/api/v2/silences", body, &out); err != nil {
		return "", err
	}
	if out.SilenceID == "" {
		return "", &Error{Op: op, Class: ErrUnavailable, Detail: "answer has no silenceID"}
	}
	return out.SilenceID, nil
}

// Silences lists every silence, expired ones included.
func (c *Client) Silences(ctx context.Context) ([]bot.Silence, error) {
	var in []postableSilence
	if err := c.do(ctx, "list silences", http.MethodGet, "/api/v2/silences", nil, &in); err != nil {
		return nil, err
	}
	out := make([]bot.Silence, 0, len(in))
	for _, s := range in {
		bs := bot.Silence{ID: s.ID, StartsAt: s.StartsAt.UTC(), EndsAt: s.EndsAt.UTC(), CreatedBy: s.CreatedBy, Comment: s.Comment}
		if s.Status != nil {
			bs.State = s.Status.State
		}
		for _, m := range s.Matchers {
			eq := m.IsEqual == nil || *m.IsEqual // absent means equal, as in the API's default
			bs.Matchers = append(bs.Matchers, bot.SilenceMatcher{Name: m.Name, Value: m.Value, IsRegex: m.IsRegex, IsEqual: eq})
		}
		out = append(out, bs)
	}
	return out, nil
}

// ExpireSilence ends a silence now. Expiring an expired silence is not an
// error; an unknown one wraps bot.ErrNotFound.
func (c *Client) ExpireSilence(ctx context.Context, id string) error {
	if id == "" || strings.ContainsAny(id, "/?#% ") {
		return &Error{Op: fmt.Sprintf("expire silence %q", id), Class: ErrInvalid, Detail: "not a silence ID"}
	}
	return c.do(ctx, fmt.Sprintf("expire silence %q", id), http.MethodDelete, "/api/v2/silence/"+url.PathEscape(id), nil, nil)
}

// HeldAlerts returns the fingerprints of the alerts Alertmanager holds now
// that have every label in labels (equality): those still firing, whether
// they notify, are silenced, inhibited or not yet processed. An alert that
// resolved is not among them. The alerts family asks it about groups whose
// alerts were muted when they resolved, which Alertmanager never reports.
func (c *Client) HeldAlerts(ctx context.Context, labels map[string]string) (map[string]bool, error) {
	q := url.Values{}
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		q.Add("filter", k+"="+strconv.Quote(labels[k]))
	}
	var in []struct {
		Fingerprint string `json:"fingerprint"`
	}
	if err := c.do(ctx, "list alerts", http.MethodGet, "/api/v2/alerts?"+q.Encode(), nil, &in); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(in))
	for _, a := range in {
		out[a.Fingerprint] = true
	}
	return out, nil
}

// StartedAt is when Alertmanager started (API v2 status "uptime"). It keeps
// no alerts across a restart: until its senders have sent them again, it
// holds fewer than fire.
func (c *Client) StartedAt(ctx context.Context) (time.Time, error) {
	var st struct {
		Uptime time.Time `json:"uptime"`
	}
	if err := c.do(ctx, "status", http.MethodGet, "/api/v2/status", nil, &st); err != nil {
		return time.Time{}, err
	}
	if st.Uptime.IsZero() {
		return time.Time{}, &Error{Op: "status", Class: ErrUnavailable, Detail: "answer has no uptime"}
	}
	return st.Uptime.UTC(), nil
}

// Ready checks that Alertmanager answers its readiness endpoint, for
// `opsbot doctor`.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, "readiness check", http.MethodGet, "/-/ready", nil, nil)
}

// do runs one call: JSON in, JSON out (into out when not nil), errors
// classified.
func (c *Client) do(ctx context.Context, op, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &Error{Op: op, Class: ErrInvalid, Detail: err.Error()}
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	p, query, _ := strings.Cut(path, "?")
	u.Path += p
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return &Error{Op: op, Class: ErrInvalid, Detail: err.Error()}
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.user != nil {
		pw, _ := c.user.Password()
		req.SetBasicAuth(c.user.Username(), pw)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &Error{Op: op, Class: ErrUnavailable, Detail: c.redact(err.Error())}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Class: ErrUnavailable, Detail: c.redact(err.Error())}
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Op: op, Status: resp.StatusCode, Class: ErrUnavailable, Detail: c.redact(apiMessage(raw))}
		switch {
		case resp.StatusCode == http.StatusNotFound:
			e.Class = bot.ErrNotFound
		case resp.StatusCode/100 == 4:
			e.Class = ErrInvalid
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Class: ErrUnavailable, Detail: "answer is not API v2 JSON: " + err.Error()}
	}
	return nil
}

// apiMessage extracts Alertmanager's error message: API v2 sends a JSON
// string (or an object with "message"), older proxies plain text.
func apiMessage(raw []byte) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clipLong(s)
	}
	var o struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(raw, &o) == nil && (o.Message != "" || o.Error != "") {
		return clipLong(o.Message + o.Error)
	}
	return clipLong(strings.TrimSpace(string(raw)))
}

func clipLong(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// redact removes the URL's password from a transport error.
func (c *Client) redact(s string) string {
	if c.user == nil {
		return s
	}
	if pw, ok := c.user.Password(); ok && pw != "" {
		s = strings.ReplaceAll(s, pw, "xxxxx")
		s = strings.ReplaceAll(s, url.QueryEscape(pw), "xxxxx")
	}
	return s
}
