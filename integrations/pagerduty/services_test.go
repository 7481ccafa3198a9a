package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

func TestServicesPaginates(t *testing.T) {
	f := fakepd.New(t, token)
	for i := 0; i < 130; i++ {
		f.AddService(fakepd.Service{ID: fmt.Sprintf("PSVC%03d", i), Name: fmt.Sprintf("svc %d", i)})
	}
	c, _ := newClient(t, f, nil)
	got, err := c.Services(context.Background())
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	if len(got) != 130 || f.Requests("GET /services") != 2 {
		t.Errorf("got %d services in %d requests, want 130 in 2", len(got), f.Requests("GET /services"))
	}
	if got[7] != (Service{ID: "PSVC007", Name: "svc 7"}) {
		t.Errorf("got[7] = %+v, want PSVC007 named svc 7", got[7])
	}
}

// A refused token is a typed error with its status, not retried.
func TestServicesUnauthorized(t *testing.T) {
	f := fakepd.New(t, token)
	c, _ := newClient(t, f, func(c *Config) { c.Token = "wrong-token" })
	_, err := c.Services(context.Background())
	var pe *Error
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("got %v, want ErrUnauthorized with HTTP 401", err)
	}
	if n := f.Requests("GET /services"); n != 1 {
		t.Errorf("%d requests, want 1: a refused token is not retried", n)
	}
}
