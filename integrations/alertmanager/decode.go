// Package alertmanager connects opsbot to Prometheus Alertmanager: it decodes
// and validates the webhook notifications Alertmanager sends (payload
// version 4) into bot.AlertNotification, and it creates, lists and expires
// silences through Alertmanager's API v2 (bot.Silencer). It also decodes
// the notifications of Grafana's webhook contact point (DecodeGrafana):
// they are Alertmanager's payload plus Grafana's fields, so the shape and
// its checks live in one place. StandIn is an
// in-process imitation of the silence endpoints for console mode; it is not
// Alertmanager. Tests run the real Alertmanager binary through package
// amtest.
package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsbot/opsbot/bot"
)

// Version is the webhook payload version this package decodes.
const Version = "4"

// ClockSkew is how far in the future a timestamp may be before it is
// taken as the time of receipt: the sender's clock and ours are never
// quite equal, but an alert that starts an hour from now is a wrong clock.
const ClockSkew = 5 * time.Minute

// maxFingerprint bounds a fingerprint (Alertmanager's and Grafana's are 16
// hex digits).
const maxFingerprint = 128

// PayloadError is a notification refused as malformed. Its message is short
// and names the offending field, for the HTTP answer the sender logs.
type PayloadError struct {
	// Field is the JSON path of the offending field, e.g. "alerts[2].startsAt";
	// empty for the body as a whole.
	Field  string
	Reason string
}

func (e *PayloadError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func invalid(field, format string, args ...any) error {
	return &PayloadError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// header is the webhook payload as Alertmanager writes it (notify/webhook
// Message: template.Data plus version, groupKey and truncatedAlerts), but
// for its alerts. Grafana's contact point writes the same (its alerting is
// built on Alertmanager's notifier) and adds fields, so both decoders embed
// it. Times are strings so that a bad one is reported with its field.
type header struct {
	Version           *string           `json:"version"`
	GroupKey          *string           `json:"groupKey"`
	TruncatedAlerts   *int64            `json:"truncatedAlerts"`
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
}

// message is Alertmanager's webhook payload.
type message struct {
	header
	Alerts []alert `json:"alerts"`
}

type alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Decode reads one webhook notification and checks it: payload version
// "4", a group key, a known status, at least one alert, each with a
// fingerprint, a known status and sane times (a start; a resolved alert's
// end, not before its start). A time further in the future than ClockSkew
// is taken as now (an end as its alert's start, if that is later) and
// the notification's ClockAhead says by how much: the
// sender does not retry a 400, so refusing would lose the alert over a
// wrong clock. now is when the notification was received. Unknown fields
// are ignored, so that a newer Alertmanager keeps working. Every error is a
// *PayloadError.
func Decode(body []byte, now time.Time) (bot.AlertNotification, error) {
	var m message
	if err := decodeJSON(body, &m); err != nil {
		return bot.AlertNotification{}, err
	}
	if err := m.check(Version, "Alertmanager"); err != nil {
		return bot.AlertNotification{}, err
	}
	return m.notification(bot.AlertSourceAlertmanager, m.Alerts, now)
}

// check checks the payload version, the group key and truncatedAlerts;
// sender names the payload in the error for a missing version.
func (h *header) check(version, sender string) error {
	switch {
	case h.Version == nil:
		return invalid("version", "missing; want %q (%s's webhook payload)", version, sender)
	case *h.Version != version:
		return invalid("version", "%q is not supported; want %q", clip(*h.Version), version)
	case h.GroupKey == nil || strings.TrimSpace(*h.GroupKey) == "":
		return invalid("groupKey", "missing")
	case h.TruncatedAlerts != nil && *h.TruncatedAlerts < 0:
		return invalid("truncatedAlerts", "negative")
	}
	return nil
}

// notification checks the status and the alerts of a payload that passed
// check and makes the notification.
func (h *header) notification(source bot.AlertSource, in []alert, now time.Time) (bot.AlertNotification, error) {
	status, err := parseStatus("status", h.Status)
	if err != nil {
		return bot.AlertNotification{}, err
	}
	alerts, ahead, err := convertAlerts(in, now)
	if err != nil {
		return bot.AlertNotification{}, err
	}
	n := bot.AlertNotification{
		Source: source, Receiver: h.Receiver, Status: status, GroupKey: *h.GroupKey,
		GroupLabels: h.GroupLabels, CommonLabels: h.CommonLabels, CommonAnnotations: h.CommonAnnotations,
		ExternalURL: h.ExternalURL, Alerts: alerts, ReceivedAt: now.UTC(), ClockAhead: ahead,
	}
	if h.TruncatedAlerts != nil {
		n.TruncatedAlerts = int(min(*h.TruncatedAlerts, 1<<31-1))
	}
	return n, nil
}

// decodeJSON decodes exactly one JSON object into v and turns decoding
// errors into PayloadErrors that say where.
func decodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return invalid("", "empty body; want a JSON object")
	}
	if trimmed[0] != '{' {
		return invalid("", "not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field := jsonPath(te.Field)
			if field == "" {
				field = "body"
			}
			return invalid(field, "want %s, got JSON %s", te.Type, te.Value)
		case errors.As(err, &se):
			return invalid("", "invalid JSON at byte %d: %s", se.Offset, se.Error())
		}
		return invalid("", "invalid JSON: %s", err.Error())
	}
	if dec.More() {
		return invalid("", "data after the JSON object")
	}
	return nil
}

// jsonPath drops from an UnmarshalTypeError's path the Go names of the
// structs embedded in the payload types (header, alert), which
// encoding/json puts in since Go 1.24; neither is a key of the payload, so
// what is left is the JSON path the sender wrote.
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	kept := parts[:0]
	for _, p := range parts {
		if p != "header" && p != "alert" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

func convertAlerts(in []alert, now time.Time) ([]bot.Alert, time.Duration, error) {
	if len(in) == 0 {
		return nil, 0, invalid("alerts", "missing or empty")
	}
	out := make([]bot.Alert, len(in))
	var ahead time.Duration
	for i, a := range in {
		field := fmt.Sprintf("alerts[%d]", i)
		st, err := parseStatus(field+".status", a.Status)
		if err != nil {
			return nil, 0, err
		}
		if a.Fingerprint == "" {
			return nil, 0, invalid(field+".fingerprint", "missing")
		}
		if len(a.Fingerprint) > maxFingerprint || !utf8.ValidString(a.Fingerprint) || strings.ContainsAny(a.Fingerprint, "\x00\r\n") {
			return nil, 0, invalid(field+".fingerprint", "not a fingerprint")
		}
		starts, err := parseTime(field+".startsAt", a.StartsAt)
		if err != nil {
			return nil, 0, err
		}
		if starts.IsZero() {
			return nil, 0, invalid(field+".startsAt", "missing")
		}
		var senderStarts time.Time
		if starts.After(now.Add(ClockSkew)) {
			ahead = max(ahead, starts.Sub(now))
			senderStarts, starts = starts, now
		}
		ends, err := parseTime(field+".endsAt", a.EndsAt)
		if err != nil {
			return nil, 0, err
		}
		if st == bot.AlertResolved {
			if ends.After(now.Add(ClockSkew)) {
				// Or startsAt, when the skew kept a start later than now:
				// an end before it would be refused, and a resolution
				// ordered before the firing notifications that showed
				// that start would be ignored as a late copy.
				ahead = max(ahead, ends.Sub(now))
				ends = now
				if starts.After(now) {
					ends = starts
				}
			}
			switch {
			case ends.IsZero():
				return nil, 0, invalid(field+".endsAt", "missing for a resolved alert")
			case ends.Before(starts):
				return nil, 0, invalid(field+".endsAt", "before startsAt")
			}
		} else {
			// Alertmanager clears endsAt of firing alerts and Grafana writes
			// the zero time; whatever another sender puts there says
			// nothing about the alert yet.
			ends = time.Time{}
		}
		out[i] = bot.Alert{Status: st, Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: starts, EndsAt: ends, SenderStartsAt: senderStarts, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint}
	}
	return out, ahead, nil
}

func parseStatus(field, s string) (bot.AlertStatus, error) {
	switch bot.AlertStatus(s) {
	case bot.AlertFiring, bot.AlertResolved:
		return bot.AlertStatus(s), nil
	case "":
		return "", invalid(field, "missing; want firing or resolved")
	}
	return "", invalid(field, "%q is not firing or resolved", clip(s))
}

// parseTime reads an RFC 3339 time; empty and Go's zero time
// ("0001-01-01T00:00:00Z", what Alertmanager and Grafana write for "not
// set") give
// the zero time.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid(field, "%q is not an RFC 3339 time", clip(s))
	}
	if t.Year() <= 1 {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

// clip shortens a value repeated in an error.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}
