// Package weblink signs and checks the links that open opsbot's read-only
// web pages. There is no user database: a link is a bearer credential that
// names what it opens (a scope and a subject, such as the incident page of
// INC-42) and until when, authenticated with HMAC-SHA256 under a secret key.
//
// Keys rotate without breaking the links already handed out: the previous
// key is still accepted, until a configured time, while new links are signed
// with the current one.
package weblink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// MinKeyLen is the shortest key accepted, in bytes: HMAC-SHA256 gains
// nothing from more than 32, and anything shorter is guessable sooner.
const MinKeyLen = 32

// DefaultValidity is how long a link works when the config does not say.
const DefaultValidity = 7 * 24 * time.Hour

// Query parameters of a signed link.
const (
	ParamExpires   = "exp"
	ParamSignature = "sig"
)

// Errors Verify returns, so the web pages can tell an expired link (worth
// asking for a new one) from a forged or mangled one.
var (
	// ErrMissing: the link carries no signature or no expiry.
	ErrMissing = errors.New("link is not signed")
	// ErrMalformed: the expiry or the signature is not in the form Sign
	// writes.
	ErrMalformed = errors.New("link signature is malformed")
	// ErrBadSignature: no accepted key signed this scope, subject and expiry.
	ErrBadSignature = errors.New("link signature does not match")
	// ErrExpired: the link was authentic but its time is up (or it was made
	// to last longer than links may now last). It has an Expired() method,
	// so callers that do not import this package can tell.
	ErrExpired error = expiredError{}
)

type expiredError struct{}

func (expiredError) Error() string { return "link has expired" }

// Expired reports true: the link was authentic but is out of time.
func (expiredError) Expired() bool { return true }

// Key is secret key material. It prints as [redacted], so a Config logged
// by mistake shows no key.
type Key []byte

// String hides the key.
func (k Key) String() string {
	if len(k) == 0 {
		return ""
	}
	return "[redacted]"
}

// GoString hides the key from %#v.
func (k Key) GoString() string { return k.String() }

// MarshalText hides the key from encoders.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Config sets up a Signer.
type Config struct {
	// Key signs new links and checks them (OPSBOT_LINK_KEY), at least
	// MinKeyLen bytes.
	Key Key
	// PreviousKey is the key before the last rotation
	// (OPSBOT_LINK_KEY_PREVIOUS): links it signed keep working until
	// PreviousUntil, or for as long as it is configured when PreviousUntil
	// is zero. Optional.
	PreviousKey   Key
	PreviousUntil time.Time
	// Validity is how long a new link works (default DefaultValidity).
	// Links that claim to last longer than this from now are refused, so
	// shortening it takes effect for links already handed out.
	Validity time.Duration
	Clock    bot.Clock
}

// Signer makes and checks signed links. It is safe for concurrent use.
type Signer struct {
	key, previous Key
	previousUntil time.Time
	validity      time.Duration
	clock         bot.Clock
}

// New validates cfg and returns a Signer.
func New(cfg Config) (*Signer, error) {
	if len(cfg.Key) < MinKeyLen {
		return nil, fmt.Errorf("link key: need at least %d bytes, got %d (generate one with `openssl rand -base64 48`)", MinKeyLen, len(cfg.Key))
	}
	if len(cfg.PreviousKey) > 0 && len(cfg.PreviousKey) < MinKeyLen {
		return nil, fmt.Errorf("previous link key: need at least %d bytes, got %d", MinKeyLen, len(cfg.PreviousKey))
	}
	if len(cfg.PreviousKey) > 0 && hmac.Equal(cfg.Key, cfg.PreviousKey) {
		return nil, errors.New("previous link key: same as the current key")
	}
	if cfg.Validity < 0 {
		return nil, fmt.Errorf("link validity: %s is negative", cfg.Validity)
	}
	if cfg.Validity == 0 {
		cfg.Validity = DefaultValidity
	}
	if cfg.Validity < time.Minute {
		return nil, fmt.Errorf("link validity: %s is too short to open a link (at least 1m)", cfg.Validity)
	}
	if cfg.Clock == nil {
		cfg.Clock = bot.SystemClock
	}
	return &Signer{key: cfg.Key, previous: cfg.PreviousKey, previousUntil: cfg.PreviousUntil,
		validity: cfg.Validity, clock: cfg.Clock}, nil
}

// String names the signer without its keys.
func (s *Signer) String() string {
	return fmt.Sprintf("weblink.Signer{validity: %s, previous key: %t}", s.validity, len(s.previous) > 0)
}

// GoString hides the keys from %#v.
func (s *Signer) GoString() string { return s.String() }

// Validity is how long new links work.
func (s *Signer) Validity() time.Duration { return s.validity }

// Sign returns the query parameters that make a link to subject within
// scope valid until expires.
func (s *Signer) Sign(scope, subject string) (q url.Values, expires time.Time, err error) {
	if err := checkName("scope", scope); err != nil {
		return nil, time.Time{}, err
	}
	if err := checkName("subject", subject); err != nil {
		return nil, time.Time{}, err
	}
	exp := s.clock.Now().Add(s.validity).Unix()
	q = url.Values{}
	q.Set(ParamExpires, strconv.FormatInt(exp, 10))
	q.Set(ParamSignature, base64.RawURLEncoding.EncodeToString(mac(s.key, scope, subject, exp)))
	return q, time.Unix(exp, 0).UTC(), nil
}

// Verify checks that q (a link's query) was signed for subject within scope
// by an accepted key and has not expired. It returns one of the package's
// errors, wrapped with detail for the log.
func (s *Signer) Verify(scope, subject string, q url.Values) error {
	expText, sigText := q.Get(ParamExpires), q.Get(ParamSignature)
	if expText == "" || sigText == "" {
		return ErrMissing
	}
	if len(q[ParamExpires]) != 1 || len(q[ParamSignature]) != 1 {
		return fmt.Errorf("%w: repeated parameters", ErrMalformed)
	}
	exp, err := parseExpiry(expText)
	if err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sigText)
	if err != nil || len(sig) != sha256.Size {
		return fmt.Errorf("%w: signature is not %d bytes of base64url", ErrMalformed, sha256.Size)
	}
	if checkName("scope", scope) != nil || checkName("subject", subject) != nil {
		return fmt.Errorf("%w: unusable scope or subject", ErrBadSignature)
	}
	now := s.clock.Now()
	// Both keys are tried in full whatever the first gave, so the time taken
	// does not tell which key (if any) came close.
	okCurrent := hmac.Equal(sig, mac(s.key, scope, subject, exp))
	okPrevious := false
	if len(s.previous) > 0 {
		okPrevious = hmac.Equal(sig, mac(s.previous, scope, subject, exp)) &&
			(s.previousUntil.IsZero() || now.Before(s.previousUntil))
	}
	if !okCurrent && !okPrevious {
		return ErrBadSignature
	}
	if now.Unix() >= exp {
		return fmt.Errorf("%w at %s", ErrExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	// A minute of slack for replicas whose clocks disagree a little.
	if time.Unix(exp, 0).After(now.Add(s.validity + time.Minute)) {
		return fmt.Errorf("%w: it was made to last beyond the configured validity of %s", ErrExpired, s.validity)
	}
	return nil
}

// mac is the signature of one link: the fields are joined with a byte none
// of them may contain, so no two different links share a message.
func mac(key Key, scope, subject string, exp int64) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("opsbot-link-v1\x00"))
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(exp, 10)))
	return h.Sum(nil)
}

// parseExpiry reads the expiry as Sign writes it: plain decimal Unix
// seconds, so one expiry has exactly one spelling.
func parseExpiry(s string) (int64, error) {
	if len(s) > 12 || strings.TrimLeft(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: expiry %q is not Unix seconds", ErrMalformed, s)
	}
	exp, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: expiry %q is not Unix seconds", ErrMalformed, s)
	}
	return exp, nil
}

func checkName(what, v string) error {
	if v == "" || len(v) > 200 || strings.ContainsRune(v, 0) {
		return fmt.Errorf("sign link: %s %q is empty, too long or contains NUL", what, v)
	}
	return nil
}
