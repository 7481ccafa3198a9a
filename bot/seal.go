package bot

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// SecretStore keeps secrets that every replica of one deployment shares.
type SecretStore interface {
	// Secret returns the secret called name, creating it from n random
	// bytes the first time any replica asks; later calls, on any replica,
	// return the same bytes.
	Secret(ctx context.Context, name string, n int) ([]byte, error)
}

// ErrBadSeal is returned by Sealer.Open for a value the bot did not seal
// for that purpose (forged, altered, or made for another form).
var ErrBadSeal = errors.New("value not sealed by this deployment")

// sealSecretName is the SecretStore name of the sealing key.
const sealSecretName = "interaction-seal"

// Sealer binds values the bot hands to Slack and reads back later (a
// modal's private_metadata) to what the bot put there: Seal appends an
// HMAC over the fields and the purpose, Open refuses anything else. The key
// is per deployment and shared by the replicas, so a form opened through
// one replica can be submitted through another.
type Sealer struct {
	store SecretStore
	mu    sync.Mutex
	key   []byte
}

// NewSealer returns a Sealer keyed by the store's "interaction-seal"
// secret. With a nil store the key is random and held in this process only,
// which suits one replica (a restart invalidates forms left open).
func NewSealer(store SecretStore) *Sealer { return &Sealer{store: store} }

// sealSep separates fields; fields may not contain it.
const sealSep = "|"

// Seal returns fields joined with a MAC that binds them to purpose (e.g. the
// modal's callback ID), short enough for Slack's private_metadata.
func (s *Sealer) Seal(ctx context.Context, purpose string, fields ...string) (string, error) {
	for _, f := range fields {
		if strings.Contains(f, sealSep) {
			return "", fmt.Errorf("seal %s: field %q contains %q", purpose, f, sealSep)
		}
	}
	key, err := s.keyBytes(ctx)
	if err != nil {
		return "", err
	}
	payload := strings.Join(fields, sealSep)
	return payload + sealSep + mac(key, purpose, payload), nil
}

// Open checks a sealed value and returns its fields; ErrBadSeal when it was
// not sealed by this deployment for purpose with exactly n fields.
func (s *Sealer) Open(ctx context.Context, purpose, sealed string, n int) ([]string, error) {
	i := strings.LastIndex(sealed, sealSep)
	if i < 0 {
		return nil, ErrBadSeal
	}
	payload, got := sealed[:i], sealed[i+1:]
	key, err := s.keyBytes(ctx)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(got), []byte(mac(key, purpose, payload))) {
		return nil, ErrBadSeal
	}
	fields := strings.Split(payload, sealSep)
	if len(fields) != n {
		return nil, ErrBadSeal
	}
	return fields, nil
}

// mac is 128 bits of HMAC-SHA256 over purpose and payload, base64url.
func mac(key []byte, purpose, payload string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// keyBytes loads the key once; a failure is not cached, so the next use
// tries the store again.
func (s *Sealer) keyBytes(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	if s.store == nil {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("seal key: %w", err)
		}
		s.key = k
		return k, nil
	}
	k, err := s.store.Secret(ctx, sealSecretName, 32)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if len(k) < 16 {
		return nil, fmt.Errorf("seal key: secret %q is only %d bytes", sealSecretName, len(k))
	}
	s.key = k
	return k, nil
}
