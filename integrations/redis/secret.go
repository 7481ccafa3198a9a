package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
)

// SecretPrefix starts every key the Secrets store writes.
const SecretPrefix = "opsbot:secret:"

// Secrets is a bot.SecretStore in Redis: the first replica to ask creates
// the secret (SET NX), every later ask on any replica reads the same bytes.
// Whoever can read Redis can read them, as they can read everything else
// the bot keeps there.
type Secrets struct {
	c Client
}

var _ bot.SecretStore = (*Secrets)(nil)

// NewSecrets returns a Secrets store on c.
func NewSecrets(c Client) *Secrets { return &Secrets{c: c} }

// Secret implements bot.SecretStore.
func (s *Secrets) Secret(ctx context.Context, name string, n int) ([]byte, error) {
	if name == "" || n <= 0 {
		return nil, fmt.Errorf("secret %q: need a name and a positive size", name)
	}
	key := SecretPrefix + name
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	fresh := make([]byte, n)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	// SET NX GET (Redis 7) would do this in one round trip; SETNX then GET
	// also works on the Redis 6 still common in managed offerings.
	created, err := s.c.SetNX(ctx, key, fresh, 0).Result()
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	if created {
		return fresh, nil
	}
	got, err := s.c.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("secret %q: vanished after it was created", name)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return got, nil
}
