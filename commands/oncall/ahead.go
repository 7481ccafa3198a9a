package oncall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// Scheduled is a person on call in the period MapAhead looked at, with the
// names of the followed schedules they serve in it.
type Scheduled struct {
	Person    bot.Person
	Schedules []string
}

// MapAhead maps every person on call in the followed schedules from now
// until ahead from now to a Slack user, as handoffs, user groups and
// incidents do when their shift comes, so that Unmapped lists whoever has
// none before then: `opsbot doctor` calls it. It posts nothing and changes
// no user group. It returns the people seen, sorted by name; a schedule
// that cannot be read is an error, joined with the others', and the other
// schedules are still mapped.
func (s *Service) MapAhead(ctx context.Context, ahead time.Duration) ([]Scheduled, error) {
	now := s.clock.Now()
	byKey := map[string]*Scheduled{}
	var errs []error
	for _, sc := range s.schedules {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
		shifts, err := s.cfg.Provider.Shifts(pctx, sc.ID, now, now.Add(ahead))
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("read schedule %q (%s): %w", sc.Name, sc.ID, err))
			continue
		}
		for _, sh := range shifts {
			key := strings.ToLower(sh.Person.Email)
			if key == "" {
				key = sh.Person.Key()
			}
			p, ok := byKey[key]
			if !ok {
				p = &Scheduled{Person: sh.Person}
				byKey[key] = p
			}
			if !slices.Contains(p.Schedules, sc.Name) {
				p.Schedules = append(p.Schedules, sc.Name)
			}
		}
	}
	out := make([]Scheduled, 0, len(byKey))
	for _, p := range byKey {
		s.slackID(ctx, p.Person)
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Person.Name != out[j].Person.Name {
			return out[i].Person.Name < out[j].Person.Name
		}
		return out[i].Person.Email < out[j].Person.Email
	})
	return out, errors.Join(errs...)
}
