package bot

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// memSecrets is a SecretStore shared by "replicas", as Redis is.
type memSecrets struct {
	mu   sync.Mutex
	m    map[string][]byte
	err  error
	asks int
}

func (s *memSecrets) Secret(_ context.Context, name string, n int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asks++
	if s.err != nil {
		return nil, s.err
	}
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	if _, ok := s.m[name]; !ok {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + len(name))
		}
		s.m[name] = b
	}
	return s.m[name], nil
}

func TestSealer(t *testing.T) {
	ctx := context.Background()
	store := &memSecrets{}
	a, b := NewSealer(store), NewSealer(store) // two replicas
	sealed, err := a.Seal(ctx, "incident.resolve", "INC-7", "C0INC7", "U0ALICE")
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Open(ctx, "incident.resolve", sealed, 3)
	if err != nil || len(got) != 3 || got[0] != "INC-7" || got[1] != "C0INC7" || got[2] != "U0ALICE" {
		t.Fatalf("Open on the other replica = %v, %v", got, err)
	}
	tampered := []struct{ name, purpose, value string }{
		{"other incident", "incident.resolve", "INC-8" + sealed[len("INC-7"):]},
		{"other form", "incident.assign", sealed},
		{"unsealed key", "incident.resolve", "INC-7"},
		{"empty", "incident.resolve", ""},
		{"mac cut", "incident.resolve", sealed[:len(sealed)-1]},
	}
	for _, tt := range tampered {
		if _, err := b.Open(ctx, tt.purpose, tt.value, 3); !errors.Is(err, ErrBadSeal) {
			t.Errorf("%s: Open error = %v, want ErrBadSeal", tt.name, err)
		}
	}
	if _, err := b.Open(ctx, "incident.resolve", sealed, 2); !errors.Is(err, ErrBadSeal) {
		t.Errorf("wrong field count: error = %v, want ErrBadSeal", err)
	}
	if _, err := a.Seal(ctx, "p", "a|b"); err == nil {
		t.Error("a field with the separator was sealed")
	}
	if store.asks != 2 {
		t.Errorf("secret fetched %d times, want once per replica", store.asks)
	}
	// Another deployment (another key) cannot open it.
	other := NewSealer(nil)
	if _, err := other.Open(ctx, "incident.resolve", sealed, 3); !errors.Is(err, ErrBadSeal) {
		t.Errorf("other deployment: error = %v, want ErrBadSeal", err)
	}
}

func TestSealerStoreDown(t *testing.T) {
	store := &memSecrets{err: errors.New("redis down")}
	s := NewSealer(store)
	if _, err := s.Seal(context.Background(), "p", "x"); err == nil || errors.Is(err, ErrBadSeal) {
		t.Fatalf("Seal with the store down = %v, want the store's error", err)
	}
	store.err = nil
	if _, err := s.Seal(context.Background(), "p", "x"); err != nil {
		t.Fatalf("Seal after the store came back: %v (a failure must not be cached)", err)
	}
}
