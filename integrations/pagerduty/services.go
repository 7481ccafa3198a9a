package pagerduty

import (
	"context"
	"fmt"

	pd "github.com/PagerDuty/go-pagerduty"
)

// Service is a PagerDuty service: what `/incident page NAME` pages.
type Service struct {
	ID, Name string
}

// Services lists every service in the account, for checking the configured
// service IDs.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var out []Service
	var offset uint
	for pages := 0; pages < maxPages; pages++ {
		var resp *pd.ListServiceResponse
		err := c.call(ctx, "list services", true, func(ctx context.Context) error {
			var err error
			resp, err = c.api.ListServicesWithContext(ctx, pd.ListServiceOptions{Limit: 100, Offset: offset})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range resp.Services {
			out = append(out, Service{ID: s.ID, Name: firstNonEmpty(s.Name, s.Summary)})
		}
		if !resp.More || len(resp.Services) == 0 {
			return out, nil
		}
		offset += uint(len(resp.Services))
	}
	return nil, &Error{Op: "list services", Class: ErrUnavailable, Detail: fmt.Sprintf("more than %d pages", maxPages)}
}
