package alerts

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// MaxBody is the largest notification the intake reads (1 MiB). Alertmanager
// sends every alert of a group in one notification: set max_alerts on the
// webhook receiver so a big group stays under it.
const MaxBody = 1 << 20

// Webhook paths, on the bot's HTTP server.
const (
	PathAlertmanager = "/hooks/alertmanager"
	PathGrafana      = "/hooks/grafana"
)

// notConfigured is the answer of the hooks while OPSBOT_ALERTS_TOKEN is
// unset.
const notConfigured = "alert intake is not configured"

// NotConfigured answers every hook request 404 "alert intake is not
// configured": what the HTTP server mounts when the alerts family is not
// set up at all.
var NotConfigured http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	answer(w, http.StatusNotFound, notConfigured)
})

// Intake is the http.Handler of the alert webhooks: POST /hooks/alertmanager
// and POST /hooks/grafana. It authenticates the sender (bearer token,
// compared in constant time, never logged), checks the content type and
// size, decodes and validates the notification, and answers 200 only once
// the notification is recorded durably. Refused requests get a short reason
// and change nothing; 503 means it could not be recorded and the sender
// should retry (Alertmanager does).
func (s *Service) Intake() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PathAlertmanager, s.hook(bot.AlertSourceAlertmanager))
	mux.Handle(PathGrafana, s.hook(bot.AlertSourceGrafana))
	return mux
}

func (s *Service) hook(src bot.AlertSource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code, msg := s.receive(src, r)
		s.metrics.webhooks.WithLabelValues(string(src), strconv.Itoa(code)).Inc()
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="opsbot"`)
		}
		if code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		answer(w, code, msg)
	}
}

// receive handles one webhook request and returns the HTTP answer.
func (s *Service) receive(src bot.AlertSource, r *http.Request) (int, string) {
	log := s.log.With(zap.String("source", string(src)), zap.String("remote", r.RemoteAddr))
	decode := s.decoders[src]
	switch {
	case s.token == "" || decode == nil:
		return http.StatusNotFound, notConfigured
	case r.Method != http.MethodPost:
		return http.StatusMethodNotAllowed, "use POST"
	case !s.authorized(r.Header.Get("Authorization")):
		log.Info("alert webhook refused: missing or wrong bearer token")
		return http.StatusUnauthorized, "missing or wrong bearer token"
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		log.Info("alert webhook refused: content type", zap.String("content_type", clip(r.Header.Get("Content-Type"), 100)))
		return http.StatusUnsupportedMediaType, "Content-Type must be application/json"
	}
	tooLarge := "body over 1 MiB; set max_alerts on the webhook receiver to keep notifications smaller"
	if r.ContentLength > MaxBody {
		log.Info("alert webhook refused: too large", zap.Int64("bytes", r.ContentLength))
		return http.StatusRequestEntityTooLarge, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		log.Info("alert webhook body not read", zap.Error(err))
		return http.StatusBadRequest, "body could not be read"
	}
	if len(body) > MaxBody {
		log.Info("alert webhook refused: too large", zap.Int("bytes_read", len(body)))
		return http.StatusRequestEntityTooLarge, tooLarge
	}
	now := s.clock.Now()
	n, err := decode(body, now)
	if err != nil {
		log.Info("alert webhook refused: invalid notification", zap.String("reason", err.Error()))
		return http.StatusBadRequest, "invalid notification: " + err.Error()
	}
	id := GroupID(n)
	log = log.With(zap.String("alert_group", id))
	if n.ClockAhead > 0 {
		log.Warn("alert sender's clock is ahead of ours; its future times were taken as the time of receipt", zap.Duration("ahead", n.ClockAhead))
	}
	s.keepFirstStarts(r.Context(), id, &n, now, log)
	if err := s.store.Record(r.Context(), id, n); err != nil {
		log.Error("alert notification not recorded; the sender will retry", zap.Error(err))
		return http.StatusServiceUnavailable, "the notification could not be recorded; retry"
	}
	for _, a := range n.Alerts {
		s.metrics.received.WithLabelValues(string(src), string(a.Status)).Inc()
	}
	log.Debug("alert notification recorded", zap.String("status", string(n.Status)), zap.Int("alerts", len(n.Alerts)))
	s.kick()
	if n.ClockAhead > 0 {
		return http.StatusOK, fmt.Sprintf("ok; a time %s ahead of ours was taken as the time of receipt: check the sender's clock", n.ClockAhead.Round(time.Second))
	}
	return http.StatusOK, "ok"
}

// keepFirstStarts gives the alerts of a sender whose clock runs ahead of
// ours the start they were given when first received. Such a start is a
// time of receipt (the decoder's, for a start beyond its skew), which
// differs at every notification: without this, each repeat of a firing
// alert would change it (an edit, another entry in a linked incident's
// timeline), and a late copy of the firing (an HA pair's) received after
// its resolution would order after it and fire the group again. An alert
// is the same while the sender's own start is. Only notifications with a
// start ahead of ours read the group; one that cannot be read leaves the
// starts as they are.
func (s *Service) keepFirstStarts(ctx context.Context, id string, n *bot.AlertNotification, now time.Time, log *zap.Logger) {
	if !slices.ContainsFunc(n.Alerts, func(a bot.Alert) bool { return !a.SenderStartsAt.IsZero() || a.StartsAt.After(now) }) {
		return
	}
	g, err := s.store.Group(ctx, id)
	if err != nil {
		if !errors.Is(err, bot.ErrAlertGroupNotFound) {
			log.Warn("alert group not read; the starts of a sender ahead of our clock taken as received", zap.Error(err))
		}
		return
	}
	first := make(map[string]bot.Alert, len(g.Alerts))
	for _, a := range g.Alerts {
		if !a.SenderStartsAt.IsZero() {
			first[a.Fingerprint] = a
		}
	}
	for i, a := range n.Alerts {
		sent := a.SenderStartsAt
		if sent.IsZero() {
			sent = a.StartsAt
		}
		if f, ok := first[a.Fingerprint]; ok && f.SenderStartsAt.Equal(sent) && f.StartsAt.Before(a.StartsAt) {
			n.Alerts[i].StartsAt, n.Alerts[i].SenderStartsAt = f.StartsAt, f.SenderStartsAt
		}
	}
}

// authorized compares the bearer token in constant time (hashes of equal
// length, so not even the token's length leaks).
func (s *Service) authorized(header string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(s.token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func answer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}
