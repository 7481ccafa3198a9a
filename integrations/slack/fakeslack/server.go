package fakeslack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Default identities of the fake workspace. Tests may rely on them.
const (
	DefaultAppToken = "xapp-1-A0FAKEAPP-1-fakeapptoken"
	DefaultBotToken = "xoxb-0000-fakebottoken"
	TeamID          = "T0FAKE"
	TeamDomain      = "fake"
	AppID           = "A0FAKEAPP"
	BotUserID       = "U0BOT"
	BotID           = "B0BOT"
)

// Server is a running fake Slack. All methods are safe for concurrent use.
type Server struct {
	srv          *httptest.Server
	appToken     string
	botToken     string
	pingInterval time.Duration

	mu      sync.Mutex
	changed chan struct{}
	seq     int
	lastTS  int64
	calls   []Call
	fails   map[string][]string
	limits  map[string][]time.Duration
	latency time.Duration
	// faults are what happens to the answers of the next calls of a
	// method that take effect (DropAnswerNext, HoldAnswerNext).
	faults map[string][]*answerFault
	// reqHost is the Host of the Web API request being served, so that
	// upload URLs stay on the host the client calls (slack-go sends the
	// token only there), even behind a proxy.
	reqHost string

	users      map[string]*User
	userOrder  []string
	channels   map[string]*channelState
	chanOrder  []string
	dms        map[string]string // user ID -> DM channel ID
	usergroups map[string]*Usergroup
	ugOrder    []string
	triggers   map[string]bool // issued trigger IDs -> used
	responses  map[string]responseTarget
	views      []View
	files      map[string]*File
	fileOrder  []string
	ephemerals []Ephemeral
	tickets    map[string]bool

	conns      map[*wsConn]struct{}
	rr         int
	totalConns int
	envelopes  map[string]*envelope
	acks       []Ack
	// httpConns counts the HTTP connections clients opened.
	httpConns int
	// droppedAcks counts acks over MaxAckSize.
	droppedAcks int
	// holds release the answers HoldAnswerNext holds.
	holds  []func()
	closed bool
}

// Option configures a Server.
type Option func(*Server)

// WithTokens sets the app-level (xapp-) and bot (xoxb-) tokens the fake
// accepts instead of DefaultAppToken and DefaultBotToken.
func WithTokens(appToken, botToken string) Option {
	return func(s *Server) { s.appToken, s.botToken = appToken, botToken }
}

// WithPingInterval sets how often the fake sends websocket pings (default
// 5s; slack-go's socketmode client reconnects after 30s without one).
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.pingInterval = d } }

// New starts a fake Slack for one test and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("start fake slack: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake Slack outside tests; call Close when done.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		appToken:     DefaultAppToken,
		botToken:     DefaultBotToken,
		pingInterval: 5 * time.Second,
		changed:      make(chan struct{}),
		fails:        map[string][]string{},
		limits:       map[string][]time.Duration{},
		faults:       map[string][]*answerFault{},
		users:        map[string]*User{},
		channels:     map[string]*channelState{},
		dms:          map[string]string{},
		usergroups:   map[string]*Usergroup{},
		triggers:     map[string]bool{},
		responses:    map[string]responseTarget{},
		files:        map[string]*File{},
		tickets:      map[string]bool{},
		conns:        map[*wsConn]struct{}{},
		envelopes:    map[string]*envelope{},
	}
	for _, o := range opts {
		o(s)
	}
	if !strings.HasPrefix(s.appToken, "xapp-") || !strings.HasPrefix(s.botToken, "xoxb-") {
		return nil, errors.New("fakeslack: tokens must start with xapp- and xoxb-")
	}
	s.addUserLocked(User{ID: BotUserID, Name: "opsbot", RealName: "opsbot", IsBot: true})
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.handleAPI)
	mux.HandleFunc("/upload/", s.handleUpload)
	mux.HandleFunc("/response/", s.handleResponseURL)
	mux.HandleFunc("/link/", s.handleLink)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.httpConns++
			s.mu.Unlock()
		}
	}
	s.srv.Start()
	return s, nil
}

// Close drops every websocket and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := s.connList()
	holds := s.holds
	s.mu.Unlock()
	for _, release := range holds {
		release()
	}
	for _, c := range conns {
		c.kill()
	}
	s.srv.Close()
}

// URL is the server's base URL (http://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base URL, ending in "/", for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// AppToken is the app-level token the fake accepts for apps.connections.open.
func (s *Server) AppToken() string { return s.appToken }

// BotToken is the bot token the fake accepts for Web API methods.
func (s *Server) BotToken() string { return s.botToken }

// Call is one Web API request the fake received.
type Call struct {
	Method string
	// Params are the form, query and JSON fields (JSON objects re-encoded as
	// strings), without the token.
	Params url.Values
	Time   time.Time
	// Status is the HTTP status answered; Error the Slack error code, if any.
	Status int
	Error  string
}

// Calls returns the recorded calls, in order, optionally only those of the
// given methods. Response URL posts are recorded as method "response_url".
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Call{}
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// HTTPConnections is how many HTTP connections clients have opened to the
// fake (Web API, response URLs, uploads, the websocket's upgrade), so tests
// can see whether a client reuses its connections.
func (s *Server) HTTPConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpConns
}

// FailNext makes the next call of method answer {"ok":false,"error":slackError}.
// Calls queue up: FailNext twice fails the next two calls.
func (s *Server) FailNext(method, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[method] = append(s.fails[method], slackError)
}

// RateLimitNext makes the next call of method answer HTTP 429 with a
// Retry-After header of retryAfter, rounded up to whole seconds as Slack does
// (0 is allowed and means "retry now").
func (s *Server) RateLimitNext(method string, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[method] = append(s.limits[method], retryAfter)
}

// SetLatency delays every Web API answer by d, so tests can count sequential
// round trips and benchmarks can model a real network.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// WaitUntil blocks until cond returns true or ctx ends. cond is evaluated
// after every state change (message posted, ack received, connection made,
// …), so it may call the inspection methods.
func (s *Server) WaitUntil(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fakeslack: condition not met: %w", ctx.Err())
		}
	}
}

// notifyLocked wakes every WaitUntil. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s0F%06d", prefix, s.seq)
}

// nextTSLocked returns a message timestamp: wall-clock microseconds, strictly
// increasing, in Slack's "seconds.micros" form.
func (s *Server) nextTSLocked() string {
	now := time.Now().UnixMicro()
	if now <= s.lastTS {
		now = s.lastTS + 1
	}
	s.lastTS = now
	return fmt.Sprintf("%d.%06d", now/1_000_000, now%1_000_000)
}

type obj = map[string]any

type apiFunc func(s *Server, p url.Values) (obj, string)

var methods = map[string]apiFunc{
	"auth.test":                    (*Server).authTest,
	"chat.postMessage":             (*Server).chatPostMessage,
	"chat.update":                  (*Server).chatUpdate,
	"chat.delete":                  (*Server).chatDelete,
	"chat.postEphemeral":           (*Server).chatPostEphemeral,
	"chat.getPermalink":            (*Server).chatGetPermalink,
	"conversations.create":         (*Server).conversationsCreate,
	"conversations.invite":         (*Server).conversationsInvite,
	"conversations.setTopic":       (*Server).conversationsSetTopic,
	"conversations.setPurpose":     (*Server).conversationsSetPurpose,
	"conversations.archive":        (*Server).conversationsArchive,
	"conversations.info":           (*Server).conversationsInfo,
	"conversations.history":        (*Server).conversationsHistory,
	"conversations.replies":        (*Server).conversationsReplies,
	"conversations.members":        (*Server).conversationsMembers,
	"pins.add":                     (*Server).pinsAdd,
	"users.info":                   (*Server).usersInfo,
	"users.lookupByEmail":          (*Server).usersLookupByEmail,
	"usergroups.list":              (*Server).usergroupsList,
	"usergroups.users.list":        (*Server).usergroupsUsersList,
	"usergroups.users.update":      (*Server).usergroupsUsersUpdate,
	"views.open":                   (*Server).viewsOpen,
	"files.getUploadURLExternal":   (*Server).filesGetUploadURLExternal,
	"files.completeUploadExternal": (*Server).filesCompleteUploadExternal,
	"apps.connections.open":        (*Server).appsConnectionsOpen,
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	params, token, err := parseRequest(r)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	status, body, fault := s.serve(r.Context(), method, params, token, r.Host)
	if fault != nil {
		fault.landed <- s.lastCall(method)
		if fault.hold != nil {
			select {
			case <-fault.hold:
			case <-r.Context().Done(): // the caller is gone
			}
		}
		if fault.drop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // closes the connection without an answer
		}
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", body["retry_after"].(string))
		delete(body, "retry_after")
	}
	writeJSON(w, status, body)
}

// answerFault is what becomes of the answer of a call that took effect:
// dropped (the connection closes without one) or held until released.
type answerFault struct {
	drop   bool
	hold   chan struct{}
	landed chan Call
}

// DropAnswerNext makes the next call of method that takes effect (the
// message is posted, the channel created) lose its answer: the fake closes
// the connection without one, as when the network fails after Slack acted.
// The client sees an error and cannot tell whether the call took effect.
// The channel receives the call once it took effect.
func (s *Server) DropAnswerNext(method string) <-chan Call {
	f := &answerFault{drop: true, landed: make(chan Call, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], f)
	return f.landed
}

// HoldAnswerNext makes the next call of method that takes effect wait for
// its answer until release is called (or the caller hangs up), so that a
// test can kill the caller between Slack acting and the caller learning
// it. landed receives the call once it took effect. Close releases every
// held answer.
func (s *Server) HoldAnswerNext(method string) (landed <-chan Call, release func()) {
	f := &answerFault{hold: make(chan struct{}), landed: make(chan Call, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], f)
	var once sync.Once
	s.holds = append(s.holds, func() { once.Do(func() { close(f.hold) }) })
	return f.landed, s.holds[len(s.holds)-1]
}

func (s *Server) lastCall(method string) Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.calls) - 1; i >= 0; i-- {
		if s.calls[i].Method == method {
			return s.calls[i]
		}
	}
	return Call{}
}

// serve runs one Web API call: latency, rate limit, auth, injected failure,
// then the method itself, recording the call and its outcome. A fault
// queued for the method is returned when the call took effect.
func (s *Server) serve(ctx context.Context, method string, params url.Values, token, host string) (int, obj, *answerFault) {
	s.mu.Lock()
	idx := len(s.calls)
	s.calls = append(s.calls, Call{Method: method, Params: params, Time: time.Now()})
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	finish := func(status int, code string, body obj) (int, obj, *answerFault) {
		s.calls[idx].Status, s.calls[idx].Error = status, code
		var fault *answerFault
		if q := s.faults[method]; code == "" && len(q) > 0 {
			fault, s.faults[method] = q[0], q[1:]
		}
		return status, body, fault
	}
	if q := s.limits[method]; len(q) > 0 {
		s.limits[method] = q[1:]
		secs := int64((q[0] + time.Second - 1) / time.Second)
		return finish(http.StatusTooManyRequests, "ratelimited",
			obj{"ok": false, "error": "ratelimited", "retry_after": strconv.FormatInt(secs, 10)})
	}
	if code := s.checkToken(method, token); code != "" {
		return finish(http.StatusOK, code, obj{"ok": false, "error": code})
	}
	if q := s.fails[method]; len(q) > 0 {
		s.fails[method] = q[1:]
		return finish(http.StatusOK, q[0], obj{"ok": false, "error": q[0]})
	}
	fn, ok := methods[method]
	if !ok {
		return finish(http.StatusOK, "unknown_method", obj{"ok": false, "error": "unknown_method"})
	}
	s.reqHost = host
	body, code := fn(s, params)
	if code != "" {
		if body == nil {
			body = obj{}
		}
		body["ok"], body["error"] = false, code
		return finish(http.StatusOK, code, body)
	}
	if body == nil {
		body = obj{}
	}
	body["ok"] = true
	return finish(http.StatusOK, "", body)
}

func (s *Server) checkToken(method, token string) string {
	switch {
	case token == "":
		return "not_authed"
	case method == "apps.connections.open":
		if token == s.appToken {
			return ""
		}
		if token == s.botToken {
			return "not_allowed_token_type"
		}
		return "invalid_auth"
	case token == s.botToken:
		return ""
	case token == s.appToken:
		return "not_allowed_token_type"
	}
	return "invalid_auth"
}

// parseRequest collects a Web API call's parameters the ways slack-go sends
// them (query string, form body, JSON body) and its token (bearer header or
// token field).
func parseRequest(r *http.Request) (url.Values, string, error) {
	params := url.Values{}
	for k, v := range r.URL.Query() {
		params[k] = append(params[k], v...)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Method == http.MethodGet:
	case mt == "application/json":
		raw, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			return nil, "", err
		}
		fields := map[string]json.RawMessage{}
		if len(strings.TrimSpace(string(raw))) > 0 {
			if err := json.Unmarshal(raw, &fields); err != nil {
				return nil, "", err
			}
		}
		for k, v := range fields {
			var str string
			if json.Unmarshal(v, &str) == nil {
				params.Set(k, str)
			} else {
				params.Set(k, string(v))
			}
		}
	case mt == "multipart/form-data":
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			return nil, "", err
		}
		for k, v := range r.MultipartForm.Value {
			params[k] = append(params[k], v...)
		}
	default:
		if err := r.ParseForm(); err != nil {
			return nil, "", err
		}
		for k, v := range r.PostForm {
			params[k] = append(params[k], v...)
		}
	}
	token := params.Get("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	params.Del("token")
	return params, token, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
