package oncallfile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// OverrideStore keeps the overrides made from chat (cover requests and
// `/oncall override`) for rotation-file schedules, so that they survive
// restarts and every replica sees them; Redis in production
// (integrations/redis.FileOverrides).
type OverrideStore interface {
	// AddOverride stores o and returns it with its new ID.
	AddOverride(ctx context.Context, o bot.Override) (bot.Override, error)
	// Overrides returns the overrides of a schedule overlapping [from, to),
	// oldest first.
	Overrides(ctx context.Context, scheduleID string, from, to time.Time) ([]bot.Override, error)
	// DeleteOverride removes one; an unknown ID is bot.ErrNotFound.
	DeleteOverride(ctx context.Context, scheduleID, id string) error
}

// WithOverrides returns a provider that also applies, and makes, the
// overrides in st. Overrides made from chat win over the file's, a later
// one over an earlier one, as in PagerDuty.
func (p *Provider) WithOverrides(st OverrideStore) *Provider {
	cp := *p
	cp.store = st
	return &cp
}

func (p *Provider) schedule(id string) (*schedule, error) {
	sc, ok := p.schedules[id]
	if !ok {
		return nil, fmt.Errorf("on-call file schedule %q: %w", id, bot.ErrNotFound)
	}
	return sc, nil
}

// overridesOf lists the file's overrides, then the stored ones, overlapping
// [from, to).
func (p *Provider) overridesOf(ctx context.Context, sc *schedule, from, to time.Time) ([]override, error) {
	if p.store == nil {
		return sc.overrides, nil
	}
	stored, err := p.store.Overrides(ctx, sc.id, from, to)
	if err != nil {
		return nil, fmt.Errorf("on-call file schedule %q: overrides: %w", sc.id, err)
	}
	out := append([]override(nil), sc.overrides...)
	for _, o := range stored {
		out = append(out, override{level: 1, start: o.Start.UTC(), end: o.End.UTC(), person: o.Person})
	}
	return out, nil
}

// PersonByEmail returns the person of the file with that address, or a new
// one named by it: the file has no accounts, so anyone with an address can
// be put on call.
func (p *Provider) PersonByEmail(_ context.Context, email string) (bot.Person, error) {
	email = strings.TrimSpace(email)
	if !strings.Contains(email, "@") {
		return bot.Person{}, fmt.Errorf("on-call file: person %q: no e-mail address: %w", email, bot.ErrNotFound)
	}
	key := strings.ToLower(email)
	for _, id := range p.order {
		sc := p.schedules[id]
		for _, r := range sc.rotations {
			for _, pp := range r.people {
				if pp.ProviderID == key {
					return pp, nil
				}
			}
		}
		for _, o := range sc.overrides {
			if o.person.ProviderID == key {
				return o.person, nil
			}
		}
	}
	return bot.Person{Name: email, Email: email, ProviderID: key}, nil
}

// CreateOverride stores an override of scheduleID putting who on call over
// [start, end).
func (p *Provider) CreateOverride(ctx context.Context, scheduleID string, who bot.Person, start, end time.Time) (bot.Override, error) {
	sc, err := p.schedule(scheduleID)
	if err != nil {
		return bot.Override{}, err
	}
	if p.store == nil {
		return bot.Override{}, fmt.Errorf("on-call file schedule %q: overrides from chat need a store: %w", sc.id, bot.ErrRejected)
	}
	if !end.After(start) {
		return bot.Override{}, fmt.Errorf("on-call file schedule %q: override end %s not after start %s: %w", sc.id, end, start, bot.ErrRejected)
	}
	if who.ProviderID == "" {
		who.ProviderID = strings.ToLower(who.Email)
	}
	return p.store.AddOverride(ctx, bot.Override{Schedule: sc.id, Person: who, Start: start.UTC(), End: end.UTC()})
}

// Overrides lists the overrides made from chat overlapping [from, to).
func (p *Provider) Overrides(ctx context.Context, scheduleID string, from, to time.Time) ([]bot.Override, error) {
	sc, err := p.schedule(scheduleID)
	if err != nil {
		return nil, err
	}
	if p.store == nil {
		return nil, nil
	}
	return p.store.Overrides(ctx, sc.id, from, to)
}

// DeleteOverride removes an override made from chat.
func (p *Provider) DeleteOverride(ctx context.Context, scheduleID, id string) error {
	sc, err := p.schedule(scheduleID)
	if err != nil {
		return err
	}
	if p.store == nil {
		return fmt.Errorf("on-call file schedule %q: override %q: %w", sc.id, id, bot.ErrNotFound)
	}
	return p.store.DeleteOverride(ctx, sc.id, id)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
