package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// FileOverrides keeps the overrides made from chat for schedules of the
// rotation file (integrations/oncallfile.OverrideStore), which has nowhere
// else to keep them: one hash per schedule, override ID to JSON. IDs come
// from a counter, so they are short and ordered by creation, which is the
// order in which overrides apply (a later one wins).
type FileOverrides struct {
	c Client
}

// NewFileOverrides returns the store on c.
func NewFileOverrides(c Client) *FileOverrides { return &FileOverrides{c: c} }

func fileOverridesKey(schedule string) string { return OnCallPrefix + "file-overrides:" + schedule }

const fileOverrideSeqKey = OnCallPrefix + "file-override-seq"

// AddOverride stores o with a new ID, and drops overrides of the schedule
// that ended more than the retention ago.
func (s *FileOverrides) AddOverride(ctx context.Context, o bot.Override) (bot.Override, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	n, err := s.c.Incr(ctx, fileOverrideSeqKey).Result()
	if err != nil {
		return bot.Override{}, fmt.Errorf("add override to %q: %w", o.Schedule, err)
	}
	o.ID = fmt.Sprintf("FO%06d", n)
	raw, err := json.Marshal(o)
	if err != nil {
		return bot.Override{}, fmt.Errorf("add override to %q: %w", o.Schedule, err)
	}
	if err := s.c.HSet(ctx, fileOverridesKey(o.Schedule), o.ID, raw).Err(); err != nil {
		return bot.Override{}, fmt.Errorf("add override to %q: %w", o.Schedule, err)
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
	n, err := s.c.HDel(ctx, fileOverridesKey(schedule), id).Result()
	if err != nil {
		return fmt.Errorf("delete override %s of %q: %w", id, schedule, err)
	}
	if n == 0 {
		return fmt.Errorf("delete override %s of %q: %w", id, schedule, bot.ErrNotFound)
	}
	return nil
}
