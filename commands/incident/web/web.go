// Package web serves the read-only web view of incidents: an incident page
// (state, milestones, a timeline strip, roles, the full timeline, runbook
// runs and pages) and its post-mortem, both rendered with html/template from
// the incident family's Document, the same data the Markdown export is made
// of. There are no accounts: every page is opened through a signed link that
// names the incident and expires (see the Signer port); without a valid one
// the answer is a plain 403.
//
// The pages work without JavaScript. One small script of ours, inlined,
// shows their times in the reader's time zone; the Content-Security-Policy
// permits only it and the page's own stylesheet, each by hash.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/commands/incident"
)

// Scope is what links to an incident's pages are signed for. Another kind of
// page gets another scope, so a link to one never opens the other.
const Scope = "incident"

// PathPrefix is where the pages live: /incidents/INC-42 and
// /incidents/INC-42/postmortem.
const PathPrefix = "/incidents/"

// Documents reads an incident's post-mortem record; *incident.Service
// implements it. An unknown incident is bot.ErrIncidentNotFound.
type Documents interface {
	Document(ctx context.Context, key string) (*incident.Document, error)
}

// Signer signs and checks links; the weblink integration implements it.
type Signer interface {
	// Sign returns the query parameters that make a link to subject within
	// scope valid until expires.
	Sign(scope, subject string) (q url.Values, expires time.Time, err error)
	// Verify checks a link's query. An authentic link that is out of time
	// returns an error with an Expired() bool method saying so.
	Verify(scope, subject string, q url.Values) error
}

// Config wires a Server.
type Config struct {
	Documents Documents
	Signer    Signer
	// PublicURL is where readers reach the pages (OPSBOT_PUBLIC_URL): an
	// http(s) URL, optionally with a path prefix that a proxy strips.
	PublicURL string
	Logger    *zap.Logger
	// Registerer, when set, gets the pages' metrics.
	Registerer prometheus.Registerer
	// Timeout bounds reading an incident for one page (default 15s).
	Timeout time.Duration
}

// Server serves the pages and makes links to them.
type Server struct {
	docs    Documents
	signer  Signer
	base    *url.URL
	log     *zap.Logger
	timeout time.Duration
	mux     *http.ServeMux

	requests *prometheus.CounterVec
	render   *prometheus.HistogramVec
}

var _ incident.Linker = (*Server)(nil)

//go:embed style.css
var styleSheet string

//go:embed pages.html
var pagesHTML string

//go:embed localtime.js
var localTimeJS string

// pageTemplates are parsed once; the stylesheet is the only thing in a
// <style> element, and the CSP names it by hash.
var (
	pageTemplates = template.Must(template.New("pages").Funcs(template.FuncMap{
		"css": func() template.CSS { return template.CSS(styleSheet) },
		// The script is ours and constant: the CSP names it by hash.
		"localtime": func() template.JS { return template.JS(localTimeJS) },
		"rows":      rows,
		"plural": func(n int, what string) string {
			if n == 1 {
				return "1 " + what
			}
			return strconv.Itoa(n) + " " + what + "s"
		},
	}).Parse(pagesHTML))
	styleHash  = hashSource(styleSheet)
	scriptHash = hashSource(localTimeJS)
	// contentSecurityPolicy allows nothing but the page's own stylesheet
	// and its time zone script: no other script, no requests, no frames,
	// no forms, no <base>.
	contentSecurityPolicy = "default-src 'none'; style-src " + styleHash + "; script-src " + scriptHash +
		"; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// hashSource is a CSP hash source for an inline style or script.
func hashSource(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// New validates cfg and returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.Documents == nil || cfg.Signer == nil {
		return nil, errors.New("web: Documents and Signer are required")
	}
	base, err := ParsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s := &Server{docs: cfg.Documents, signer: cfg.Signer, base: base, log: cfg.Logger, timeout: cfg.Timeout}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.timeout <= 0 {
		s.timeout = 15 * time.Second
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsbot_web_requests_total",
		Help: "Web page requests by page and HTTP status code.",
	}, []string{"page", "code"})
	s.render = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "opsbot_web_render_seconds",
		Help:    "Time to read an incident and render a page, by page.",
		Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
	}, []string{"page"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.requests); err != nil {
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
		if err := cfg.Registerer.Register(s.render); err != nil {
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET "+PathPrefix+"{key}", func(w http.ResponseWriter, r *http.Request) {
		s.page(w, r, "incident")
	})
	s.mux.HandleFunc("GET "+PathPrefix+"{key}/postmortem", func(w http.ResponseWriter, r *http.Request) {
		s.page(w, r, "postmortem")
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, "other", http.StatusNotFound, "Not found", "There is no page here.")
	})
	return s, nil
}

// ParsePublicURL checks the public base URL of the pages: absolute http or
// https, no query, fragment or credentials. A trailing slash is dropped.
func ParsePublicURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("public URL is not set (OPSBOT_PUBLIC_URL)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("public URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("public URL %q: want an absolute http or https URL like https://opsbot.example.com", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("public URL %q: no query, fragment or credentials, please", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// IncidentLink implements incident.Linker: a signed URL to incident key's
// page.
func (s *Server) IncidentLink(_ context.Context, key string) (string, time.Time, error) {
	k, err := bot.ParseIncidentKey(key)
	if err != nil {
		return "", time.Time{}, err
	}
	q, expires, err := s.signer.Sign(Scope, k)
	if err != nil {
		return "", time.Time{}, err
	}
	u := *s.base
	u.Path += PathPrefix + k
	u.RawQuery = q.Encode()
	return u.String(), expires, nil
}

// ServeHTTP serves the pages with their security headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	// The URL is a credential and the page private: no shared cache keeps
	// it, and no browser cache outlives the tab.
	h.Set("Cache-Control", "private, no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		s.refuse(w, r, "other", http.StatusMethodNotAllowed, "Method not allowed", "These pages can only be read.")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// expired is what Signer.Verify's errors say about links out of time.
type expired interface{ Expired() bool }

func (s *Server) page(w http.ResponseWriter, r *http.Request, page string) {
	start := time.Now()
	key := r.PathValue("key")
	q := r.URL.Query()
	// The signature is checked before anything else: without one, nobody
	// learns whether an incident exists.
	if err := s.signer.Verify(Scope, key, q); err != nil {
		var ex expired
		if errors.As(err, &ex) && ex.Expired() {
			s.log.Info("web link refused: expired", zap.String("incident", short(key)), zap.String("page", page), zap.Error(err))
			s.refuse(w, r, page, http.StatusForbidden, "This link has expired",
				"The link you followed was valid once, but its time is up.")
			return
		}
		s.log.Info("web link refused", zap.String("incident", short(key)), zap.String("page", page), zap.Error(err))
		s.refuse(w, r, page, http.StatusForbidden, "This link is not valid",
			"The link you followed is incomplete or has been changed, so it does not open anything.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	doc, err := s.docs.Document(ctx, key)
	if errors.Is(err, bot.ErrIncidentNotFound) {
		s.refuse(w, r, page, http.StatusNotFound, "No such incident", "The incident this link was made for is not there any more.")
		return
	}
	if err != nil {
		s.log.Error("web page: incident not read", zap.String("incident", key), zap.String("page", page), zap.Error(err))
		w.Header().Set("Retry-After", "30")
		s.refuse(w, r, page, http.StatusServiceUnavailable, "Temporarily unavailable",
			"The incident store cannot be reached right now. Please try again in a minute.")
		return
	}
	v := buildView(doc)
	link := url.Values{}
	for _, p := range []string{"exp", "sig"} {
		link.Set(p, q.Get(p))
	}
	v.IncidentHref = "../" + doc.Incident.Key + "?" + link.Encode()
	v.PostmortemHref = doc.Incident.Key + "/postmortem?" + link.Encode()
	v.PageTitle = doc.Incident.Key + ": " + v.RawTitle
	if page == "postmortem" {
		v.Postmortem = true
		v.PageTitle = doc.Incident.Key + " post-mortem: " + v.RawTitle
	}
	body, err := render(page, v, 320*len(doc.Events))
	if err != nil {
		s.log.Error("web page not rendered", zap.String("incident", key), zap.String("page", page), zap.Error(err))
		s.refuse(w, r, page, http.StatusInternalServerError, "Something went wrong", "The page could not be rendered; it has been logged.")
		return
	}
	s.render.WithLabelValues(page).Observe(time.Since(start).Seconds())
	s.write(w, page, http.StatusOK, body)
}

// render executes one page into memory, so that a failure midway never
// sends half a page.
func render(name string, data any, sizeHint int) ([]byte, error) {
	var buf bytes.Buffer
	// A long timeline is most of the page; growing the buffer by doubling
	// would copy it several times.
	buf.Grow(64<<10 + sizeHint)
	if err := pageTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// refused is the data of the plain error page.
type refused struct {
	PageTitle, Heading, Message string
}

func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, page string, code int, heading, msg string) {
	body, err := render("refused", refused{PageTitle: heading + " — opsbot", Heading: heading, Message: msg}, 0)
	if err != nil {
		body = []byte(heading)
	}
	s.write(w, page, code, body)
}

func (s *Server) write(w http.ResponseWriter, page string, code int, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
	s.requests.WithLabelValues(page, strconv.Itoa(code)).Inc()
}

// short bounds what a log line repeats of a path someone else wrote.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
