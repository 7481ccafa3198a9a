// Package grafana decodes and validates the notifications Grafana's unified
// alerting sends to a webhook contact point (payload version 1: the
// Alertmanager shape plus orgId, title, state, message and, per alert,
// values, dashboardURL, panelURL and silenceURL) into
// bot.AlertNotification. Silences of Grafana alerts are made in Grafana
// (each alert's silenceURL); opsbot links to them.
package grafana

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
const Version = "1"

// ClockSkew is how far in the future a timestamp may be before it is
// refused.
const ClockSkew = 5 * time.Minute

// maxFingerprint bounds a fingerprint (Grafana's are 16 hex digits).
const maxFingerprint = 128

// PayloadError is a notification refused as malformed. Its message is short
// and names the offending field, for the HTTP answer the sender logs.
type PayloadError struct {
	// Field is the JSON path of the offending field; empty for the body as
	// a whole.
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

// message is Grafana's webhook payload (alerting's receivers/webhook
// webhookMessage).
type message struct {
	Version           *string           `json:"version"`
	GroupKey          *string           `json:"groupKey"`
	TruncatedAlerts   *int64            `json:"truncatedAlerts"`
	OrgID             int64             `json:"orgId"`
	Title             string            `json:"title"`
	State             string            `json:"state"`
	Message           string            `json:"message"`
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []alert           `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
}

type alert struct {
	Status       string             `json:"status"`
	Labels       map[string]string  `json:"labels"`
	Annotations  map[string]string  `json:"annotations"`
	StartsAt     string             `json:"startsAt"`
	EndsAt       string             `json:"endsAt"`
	GeneratorURL string             `json:"generatorURL"`
	Fingerprint  string             `json:"fingerprint"`
	SilenceURL   string             `json:"silenceURL"`
	DashboardURL string             `json:"dashboardURL"`
	PanelURL     string             `json:"panelURL"`
	Values       map[string]float64 `json:"values"`
}

// Decode reads one webhook notification and checks it as the Alertmanager
// decoder does (a group key, known statuses, at least one alert, each with
// a fingerprint and sane times), with payload version "1". now is when it
// was received. Unknown fields are ignored. Every error is a *PayloadError.
func Decode(body []byte, now time.Time) (bot.AlertNotification, error) {
	var m message
	if err := decodeJSON(body, &m); err != nil {
		return bot.AlertNotification{}, err
	}
	switch {
	case m.Version == nil:
		return bot.AlertNotification{}, invalid("version", "missing; want %q (Grafana's webhook payload)", Version)
	case *m.Version != Version:
		return bot.AlertNotification{}, invalid("version", "%q is not supported; want %q", clip(*m.Version), Version)
	case m.GroupKey == nil || strings.TrimSpace(*m.GroupKey) == "":
		return bot.AlertNotification{}, invalid("groupKey", "missing")
	case m.TruncatedAlerts != nil && *m.TruncatedAlerts < 0:
		return bot.AlertNotification{}, invalid("truncatedAlerts", "negative")
	case m.OrgID < 0:
		return bot.AlertNotification{}, invalid("orgId", "negative")
	}
	status, err := parseStatus("status", m.Status)
	if err != nil {
		return bot.AlertNotification{}, err
	}
	alerts, err := convertAlerts(m.Alerts, now)
	if err != nil {
		return bot.AlertNotification{}, err
	}
	n := bot.AlertNotification{
		Source: bot.AlertSourceGrafana, Receiver: m.Receiver, Status: status, GroupKey: *m.GroupKey,
		GroupLabels: m.GroupLabels, CommonLabels: m.CommonLabels, CommonAnnotations: m.CommonAnnotations,
		ExternalURL: m.ExternalURL, Alerts: alerts, OrgID: m.OrgID, Title: m.Title, ReceivedAt: now.UTC(),
	}
	if m.TruncatedAlerts != nil {
		n.TruncatedAlerts = int(min(*m.TruncatedAlerts, 1<<31-1))
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
			field := te.Field
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

func convertAlerts(in []alert, now time.Time) ([]bot.Alert, error) {
	if len(in) == 0 {
		return nil, invalid("alerts", "missing or empty")
	}
	out := make([]bot.Alert, len(in))
	for i, a := range in {
		field := fmt.Sprintf("alerts[%d]", i)
		st, err := parseStatus(field+".status", a.Status)
		if err != nil {
			return nil, err
		}
		if a.Fingerprint == "" {
			return nil, invalid(field+".fingerprint", "missing")
		}
		if len(a.Fingerprint) > maxFingerprint || !utf8.ValidString(a.Fingerprint) || strings.ContainsAny(a.Fingerprint, "\x00\r\n") {
			return nil, invalid(field+".fingerprint", "not a fingerprint")
		}
		starts, err := parseTime(field+".startsAt", a.StartsAt)
		if err != nil {
			return nil, err
		}
		if starts.IsZero() {
			return nil, invalid(field+".startsAt", "missing")
		}
		if starts.After(now.Add(ClockSkew)) {
			return nil, invalid(field+".startsAt", "%s is in the future; check the sender's clock", starts.Format(time.RFC3339))
		}
		ends, err := parseTime(field+".endsAt", a.EndsAt)
		if err != nil {
			return nil, err
		}
		if st == bot.AlertResolved {
			switch {
			case ends.IsZero():
				return nil, invalid(field+".endsAt", "missing for a resolved alert")
			case ends.Before(starts):
				return nil, invalid(field+".endsAt", "before startsAt")
			case ends.After(now.Add(ClockSkew)):
				return nil, invalid(field+".endsAt", "%s is in the future for a resolved alert; check the sender's clock", ends.Format(time.RFC3339))
			}
		} else {
			// Grafana writes the zero time for firing alerts; anything else
			// there says nothing about the alert yet.
			ends = time.Time{}
		}
		out[i] = bot.Alert{Status: st, Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: starts, EndsAt: ends, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint,
			SilenceURL: a.SilenceURL, DashboardURL: a.DashboardURL, PanelURL: a.PanelURL, Values: a.Values}
	}
	return out, nil
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
// ("0001-01-01T00:00:00Z", what Grafana writes for "not set") give
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
