package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
)

// FileOverrides keeps the overrides made from chat for schedules of the
// rotation file (integrations/oncallfile.OverrideStore), which has nowhere
// else to keep them: one hash per schedule, override ID to JSON. IDs come
// from a counter, so they are short and ordered by creation, which is the
// order in which overrides apply (a later one wins).
//
// An override counts once the replicas the store's Durability asks for
// have it (its number first, so that a failover cannot hand the number out
// again and let a later override replace it); one they do not confirm in
// time is given back and reported as an error wrapping ErrNotReplicated,
// so that nobody is told they are on call by an override a failover could
// lose. Deletions wait for the replicas but stand when they are slow
// (logged): they only clean up after a cover that could not be recorded.
type FileOverrides struct {
	c   Client
	rep *replicas
}

// NewFileOverrides returns the store on c.
func NewFileOverrides(c Client, opts ...Option) *FileOverrides {
	return &FileOverrides{c: c, rep: newReplicas(c, applyOptions(opts), false)}
}

// hdelIfEqual deletes a hash field only if it still holds the given value.
var hdelIfEqual = goredis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
	return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

func fileOverridesKey(schedule string) string { return OnCallPrefix + "file-overrides:" + schedule }

const fileOverrideSeqKey = OnCallPrefix + "file-override-seq"

// AddOverride stores o with a new ID, and drops overrides of the schedule
// that ended more than the retention ago.
func (s *FileOverrides) AddOverride(ctx context.Context, o bot.Override) (bot.Override, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	var n int64
	// The number and the override live in different slots: each is
	// confirmed on its own primary's replicas. An unconfirmed number is
	// simply not used.
	err := s.rep.do(ctx, fileOverrideSeqKey, func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		n, err = c.Incr(ctx, fileOverrideSeqKey).Result()
		return err
	})
	if err != nil {
		return bot.Override{}, fmt.Errorf("add override to %q: %w", o.Schedule, err)
	}
	o.ID = fmt.Sprintf("FO%06d", n)
	raw, err := json.Marshal(o)
	if err != nil {
		return bot.Override{}, fmt.Errorf("add override to %q: %w", o.Schedule, err)
	}
	key := fileOverridesKey(o.Schedule)
	err = s.rep.claim(ctx, key, func(ctx context.Context, c goredis.Cmdable) error {
		return c.HSet(ctx, key, o.ID, raw).Err()
	}, func(ctx context.Context, c goredis.Cmdable) error {
		return hdelIfEqual.Run(ctx, c, []string{key}, o.ID, raw).Err()
	})
	if err != nil {
		return bot.Override{}, fmt.Errorf("add override %s to %q: %w", o.ID, o.Schedule, err)
	}
	s.prune(ctx, o.Schedule, o.Start)
	return o, nil
}

// prune is best effort: a failure leaves old entries, which filters skip.
func (s *FileOverrides) prune(ctx context.Context, schedule string, now time.Time) {
	all, err := s.all(ctx, schedule)
	if err != nil {
		return
	}
	var old []string
	for _, o := range all {
		if o.End.Before(now.Add(-coverRetention)) {
			old = append(old, o.ID)
		}
	}
	if len(old) > 0 {
		_ = s.c.HDel(ctx, fileOverridesKey(schedule), old...).Err()
	}
}

func (s *FileOverrides) all(ctx context.Context, schedule string) ([]bot.Override, error) {
	m, err := s.c.HGetAll(ctx, fileOverridesKey(schedule)).Result()
	if err != nil {
		return nil, fmt.Errorf("overrides of %q: %w", schedule, err)
	}
	out := make([]bot.Override, 0, len(m))
	for id, raw := range m {
		var o bot.Override
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			return nil, fmt.Errorf("decode override %s of %q: %w", id, schedule, err)
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return seq(out[i].ID) < seq(out[j].ID) })
	return out, nil
}

func seq(id string) int64 {
	n, _ := strconv.ParseInt(id[min(2, len(id)):], 10, 64)
	return n
}

// Overrides returns the overrides of a schedule overlapping [from, to),
// oldest first.
func (s *FileOverrides) Overrides(ctx context.Context, schedule string, from, to time.Time) ([]bot.Override, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	all, err := s.all(ctx, schedule)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, o := range all {
		if o.Start.Before(to) && o.End.After(from) {
			out = append(out, o)
		}
	}
	return out, nil
}

// DeleteOverride removes one override; an unknown ID is bot.ErrNotFound.
func (s *FileOverrides) DeleteOverride(ctx context.Context, schedule, id string) error {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	key := fileOverridesKey(schedule)
	var n int64
	err := s.rep.do(ctx, key, func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		n, err = c.HDel(ctx, key, id).Result()
		return err
	})
	err = s.rep.settle(ctx, key, err, "override deletion")
	if err != nil {
		return fmt.Errorf("delete override %s of %q: %w", id, schedule, err)
	}
	if n == 0 {
		return fmt.Errorf("delete override %s of %q: %w", id, schedule, bot.ErrNotFound)
	}
	return nil
}
