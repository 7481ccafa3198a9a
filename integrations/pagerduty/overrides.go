package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/opsbot/opsbot/bot"
)

// PersonByEmail finds the PagerDuty user with an e-mail address (the one
// key PagerDuty and Slack share). A Slack user without a PagerDuty account
// is an error wrapping bot.ErrNotFound.
func (c *Client) PersonByEmail(ctx context.Context, email string) (bot.Person, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return bot.Person{}, fmt.Errorf("pagerduty: find user: no e-mail address: %w", bot.ErrNotFound)
	}
	op := fmt.Sprintf("find user by e-mail %q", email)
	p, err := c.byEmail.GetOrLoad(ctx, email, func(ctx context.Context) (bot.Person, time.Duration, error) {
		var resp *pd.ListUsersResponse
		err := c.call(ctx, op, true, func(ctx context.Context) error {
			var err error
			// query matches names and addresses by prefix; only an exact
			// address match counts.
			resp, err = c.api.ListUsersWithContext(ctx, pd.ListUsersOptions{Query: email, Limit: 100})
			return err
		})
		if err != nil {
			return bot.Person{}, 0, err
		}
		for _, u := range resp.Users {
			if strings.EqualFold(u.Email, email) {
				return bot.Person{Name: firstNonEmpty(u.Name, u.Summary), Email: u.Email, ProviderID: u.ID}, personTTL, nil
			}
		}
		return bot.Person{}, personMissTTL, nil
	})
	if err != nil {
		return bot.Person{}, err
	}
	if p.ProviderID == "" {
		return bot.Person{}, fmt.Errorf("pagerduty: %s: no such user: %w", op, bot.ErrNotFound)
	}
	return p, nil
}

// CreateOverride puts who on call for scheduleID over [start, end) with a
// PagerDuty override. who must be a PagerDuty user (ProviderID from
// PersonByEmail). A create is not repeated after a failure that may have
// created it: when PagerDuty fails (5xx, timeout) the overrides of the
// window are read back, and an identical one is taken as this create's.
func (c *Client) CreateOverride(ctx context.Context, scheduleID string, who bot.Person, start, end time.Time) (bot.Override, error) {
	op := fmt.Sprintf("create override on schedule %q for user %q", scheduleID, who.ProviderID)
	if who.ProviderID == "" {
		return bot.Override{}, &Error{Op: op, Class: ErrInvalid, Detail: "no PagerDuty user ID"}
	}
	want := pd.Override{
		Start: start.UTC().Format(time.RFC3339), End: end.UTC().Format(time.RFC3339),
		User: pd.APIObject{ID: who.ProviderID, Type: "user_reference"},
	}
	var got *pd.Override
	err := c.call(ctx, op, false, func(ctx context.Context) error {
		var err error
		got, err = c.api.CreateOverrideWithContext(ctx, scheduleID, want)
		return err
	})
	if errors.Is(err, ErrUnavailable) {
		if found, ok := c.findOverride(context.WithoutCancel(ctx), scheduleID, who.ProviderID, start, end); ok {
			c.log.Warn("override create failed but PagerDuty has it; taking it as created")
			got, err = &found, nil
		}
	}
	if err != nil {
		return bot.Override{}, err
	}
	return c.toOverride(ctx, scheduleID, *got, who)
}

// findOverride looks for an override of user over exactly [start, end).
func (c *Client) findOverride(ctx context.Context, scheduleID, userID string, start, end time.Time) (pd.Override, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*c.cfg.Timeout)
	defer cancel()
	list, err := c.listOverrides(ctx, scheduleID, start, end)
	if err != nil {
		return pd.Override{}, false
	}
	for _, o := range list {
		s, serr := parseTS(o.Start)
		e, eerr := parseTS(o.End)
		if serr == nil && eerr == nil && o.User.ID == userID && s.Equal(start.UTC().Truncate(time.Second)) && e.Equal(end.UTC().Truncate(time.Second)) {
			return o, true
		}
	}
	return pd.Override{}, false
}

func (c *Client) listOverrides(ctx context.Context, scheduleID string, from, to time.Time) ([]pd.Override, error) {
	var resp *pd.ListOverridesResponse
	err := c.call(ctx, fmt.Sprintf("list overrides of schedule %q", scheduleID), true, func(ctx context.Context) error {
		var err error
		resp, err = c.api.ListOverridesWithContext(ctx, scheduleID, pd.ListOverridesOptions{
			Since: from.UTC().Format(time.RFC3339), Until: to.UTC().Format(time.RFC3339),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.Overrides, nil
}

// Overrides lists the overrides of a schedule overlapping [from, to).
func (c *Client) Overrides(ctx context.Context, scheduleID string, from, to time.Time) ([]bot.Override, error) {
	list, err := c.listOverrides(ctx, scheduleID, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]bot.Override, 0, len(list))
	for _, o := range list {
		bo, err := c.toOverride(ctx, scheduleID, o, bot.Person{})
		if err != nil {
			return nil, err
		}
		out = append(out, bo)
	}
	return out, nil
}

// DeleteOverride removes an override (PagerDuty truncates one already under
// way to end now). An override that no longer exists is bot.ErrNotFound.
func (c *Client) DeleteOverride(ctx context.Context, scheduleID, overrideID string) error {
	return c.call(ctx, fmt.Sprintf("delete override %q of schedule %q", overrideID, scheduleID), true, func(ctx context.Context) error {
		return c.api.DeleteOverrideWithContext(ctx, scheduleID, overrideID)
	})
}

func (c *Client) toOverride(ctx context.Context, scheduleID string, o pd.Override, who bot.Person) (bot.Override, error) {
	op := fmt.Sprintf("read override %q of schedule %q", o.ID, scheduleID)
	start, err := parseTS(o.Start)
	if err != nil {
		return bot.Override{}, &Error{Op: op, Class: ErrUnavailable, Detail: err.Error()}
	}
	end, err := parseTS(o.End)
	if err != nil {
		return bot.Override{}, &Error{Op: op, Class: ErrUnavailable, Detail: err.Error()}
	}
	if who.ProviderID != o.User.ID || who.Email == "" {
		if who, err = c.person(ctx, pd.User{APIObject: o.User}); err != nil {
			return bot.Override{}, err
		}
	}
	return bot.Override{ID: o.ID, Schedule: scheduleID, Person: who, Start: start, End: end}, nil
}
