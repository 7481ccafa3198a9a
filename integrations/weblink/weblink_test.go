package weblink

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

var (
	keyA = Key(strings.Repeat("a", 32))
	keyB = Key(strings.Repeat("b", 40))
	t0   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func newSigner(t *testing.T, cfg Config) (*Signer, *bottest.Clock) {
	t.Helper()
	c := bottest.NewClock(t0)
	cfg.Clock = c
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, c
}

func sign(t *testing.T, s *Signer, scope, subject string) url.Values {
	t.Helper()
	q, _, err := s.Sign(scope, subject)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return q
}

func TestSignedLinkVerifiesUntilItExpires(t *testing.T) {
	s, c := newSigner(t, Config{Key: keyA})
	q, exp, err := s.Sign("incident", "INC-7")
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(7 * 24 * time.Hour); !exp.Equal(want) {
		t.Errorf("expires %s, want %s (default validity 7 days)", exp, want)
	}
	if got := q.Get(ParamExpires); got != strconv.FormatInt(exp.Unix(), 10) {
		t.Errorf("exp parameter %q, want %d", got, exp.Unix())
	}
	if err := s.Verify("incident", "INC-7", q); err != nil {
		t.Fatalf("fresh link: %v", err)
	}
	c.Set(exp.Add(-time.Second))
	if err := s.Verify("incident", "INC-7", q); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	c.Set(exp)
	err = s.Verify("incident", "INC-7", q)
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: got %v, want ErrExpired", err)
	}
	var ex interface{ Expired() bool }
	if !errors.As(err, &ex) || !ex.Expired() {
		t.Fatalf("expiry error %v has no Expired() true for callers that do not import weblink", err)
	}
	if errors.As(ErrBadSignature, &ex) {
		t.Fatal("a forged link must not look expired")
	}
}

func TestTamperedLinksAreRefused(t *testing.T) {
	s, _ := newSigner(t, Config{Key: keyA})
	q := sign(t, s, "incident", "INC-7")
	sig, _ := base64.RawURLEncoding.DecodeString(q.Get(ParamSignature))
	exp, _ := strconv.ParseInt(q.Get(ParamExpires), 10, 64)
	with := func(k, v string) url.Values {
		c := url.Values{}
		for key, vals := range q {
			c[key] = append([]string(nil), vals...)
		}
		c.Set(k, v)
		return c
	}
	flipped := append([]byte(nil), sig...)
	flipped[5] ^= 0x01
	tests := []struct {
		name    string
		scope   string
		subject string
		q       url.Values
		want    error
	}{
		{"later expiry", "incident", "INC-7", with(ParamExpires, strconv.FormatInt(exp+3600, 10)), ErrBadSignature},
		{"earlier expiry", "incident", "INC-7", with(ParamExpires, strconv.FormatInt(exp-1, 10)), ErrBadSignature},
		{"one bit of the signature", "incident", "INC-7", with(ParamSignature, base64.RawURLEncoding.EncodeToString(flipped)), ErrBadSignature},
		{"wrong incident", "incident", "INC-8", q, ErrBadSignature},
		{"wrong scope", "stats", "INC-7", q, ErrBadSignature},
		{"subject spelled otherwise", "incident", "inc-7", q, ErrBadSignature},
		{"no signature", "incident", "INC-7", url.Values{ParamExpires: q[ParamExpires]}, ErrMissing},
		{"no expiry", "incident", "INC-7", url.Values{ParamSignature: q[ParamSignature]}, ErrMissing},
		{"nothing", "incident", "INC-7", url.Values{}, ErrMissing},
		{"signature in padded base64", "incident", "INC-7", with(ParamSignature, base64.URLEncoding.EncodeToString(sig)), ErrMalformed},
		{"signature in standard base64", "incident", "INC-7", with(ParamSignature, strings.NewReplacer("-", "+", "_", "/").Replace(q.Get(ParamSignature))+"+"), ErrMalformed},
		{"short signature", "incident", "INC-7", with(ParamSignature, base64.RawURLEncoding.EncodeToString(sig[:16])), ErrMalformed},
		{"expiry with leading zero", "incident", "INC-7", with(ParamExpires, "0"+q.Get(ParamExpires)), ErrMalformed},
		{"negative expiry", "incident", "INC-7", with(ParamExpires, "-5"), ErrMalformed},
		{"expiry not a number", "incident", "INC-7", with(ParamExpires, "tomorrow"), ErrMalformed},
		{"repeated signature", "incident", "INC-7", url.Values{ParamExpires: q[ParamExpires], ParamSignature: {q.Get(ParamSignature), q.Get(ParamSignature)}}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Verify(tt.scope, tt.subject, tt.q)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if err := s.Verify("incident", "INC-7", q); err != nil {
		t.Fatalf("the untouched link: %v", err)
	}
}

func TestKeyRotationAcceptsThePreviousKeyDuringTheGracePeriod(t *testing.T) {
	old, c := newSigner(t, Config{Key: keyA})
	oldLink := sign(t, old, "incident", "INC-7")

	until := t0.Add(2 * time.Hour)
	rotated, _ := newSigner(t, Config{Key: keyB, PreviousKey: keyA, PreviousUntil: until})
	rotated.clock = c
	if err := rotated.Verify("incident", "INC-7", oldLink); err != nil {
		t.Fatalf("link signed with the previous key during the grace period: %v", err)
	}
	newLink := sign(t, rotated, "incident", "INC-7")
	if newLink.Get(ParamSignature) == oldLink.Get(ParamSignature) {
		t.Fatal("new links must be signed with the new key")
	}
	if err := old.Verify("incident", "INC-7", newLink); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a replica still on the old key only must refuse new links: got %v", err)
	}

	c.Set(until)
	if err := rotated.Verify("incident", "INC-7", oldLink); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("previous key after its grace period: got %v, want ErrBadSignature", err)
	}
	if err := rotated.Verify("incident", "INC-7", newLink); err != nil {
		t.Fatalf("current key after the grace period: %v", err)
	}

	// Without an end date the previous key works while it is configured,
	// and not once it is removed.
	open, _ := newSigner(t, Config{Key: keyB, PreviousKey: keyA})
	open.clock = bottest.NewClock(t0.Add(24 * time.Hour))
	if err := open.Verify("incident", "INC-7", oldLink); err != nil {
		t.Fatalf("previous key without an end date: %v", err)
	}
	removed, _ := newSigner(t, Config{Key: keyB})
	if err := removed.Verify("incident", "INC-7", oldLink); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("previous key removed: got %v, want ErrBadSignature", err)
	}
}

func TestShorterValidityAppliesToLinksAlreadyGiven(t *testing.T) {
	long, c := newSigner(t, Config{Key: keyA, Validity: 30 * 24 * time.Hour})
	q := sign(t, long, "incident", "INC-7")
	short, _ := newSigner(t, Config{Key: keyA, Validity: 24 * time.Hour})
	short.clock = c
	if err := short.Verify("incident", "INC-7", q); !errors.Is(err, ErrExpired) {
		t.Fatalf("a 30-day link under a 1-day validity: got %v, want ErrExpired", err)
	}
	c.Set(t0.Add(29*24*time.Hour + 12*time.Hour))
	if err := short.Verify("incident", "INC-7", q); err != nil {
		t.Fatalf("the same link on its last day: %v", err)
	}
}

func TestNewValidatesKeysAndValidity(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{}, "at least 32 bytes, got 0"},
		{"short key", Config{Key: Key("short")}, "at least 32 bytes, got 5"},
		{"short previous key", Config{Key: keyA, PreviousKey: Key("x")}, "previous link key"},
		{"same previous key", Config{Key: keyA, PreviousKey: keyA}, "same as the current key"},
		{"negative validity", Config{Key: keyA, Validity: -time.Hour}, "negative"},
		{"tiny validity", Config{Key: keyA, Validity: time.Second}, "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	s, err := New(Config{Key: keyA, Validity: 48 * time.Hour})
	if err != nil || s.Validity() != 48*time.Hour {
		t.Fatalf("got %v, %v; want a signer with 48h validity", s, err)
	}
}

func TestKeysNeverPrint(t *testing.T) {
	cfg := Config{Key: keyA, PreviousKey: keyB, Clock: bot.SystemClock}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), fmt.Sprint(cfg.Key)} {
		if strings.Contains(out, "aaaa") || strings.Contains(out, "bbbb") || strings.Contains(out, "97 97") {
			t.Errorf("key material printed: %s", out)
		}
	}
}

func TestSignRefusesUnusableNames(t *testing.T) {
	s, _ := newSigner(t, Config{Key: keyA})
	for _, tt := range []struct{ scope, subject string }{{"", "INC-1"}, {"incident", ""}, {"inc\x00ident", "INC-1"}, {"incident", strings.Repeat("x", 201)}} {
		if _, _, err := s.Sign(tt.scope, tt.subject); err == nil {
			t.Errorf("Sign(%q, %q) succeeded, want an error", tt.scope, tt.subject)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s, err := New(Config{Key: keyA, PreviousKey: keyB})
	if err != nil {
		b.Fatal(err)
	}
	q, _, _ := s.Sign("incident", "INC-42")
	for b.Loop() {
		if err := s.Verify("incident", "INC-42", q); err != nil {
			b.Fatal(err)
		}
	}
}
