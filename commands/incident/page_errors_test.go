package incident

import (
	"fmt"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/bot"
)

// TestPageProviderErrors: the pager returns typed errors and the incident
// family phrases them.
func TestPageProviderErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantReply string
		wantUser  string
	}{
		{name: "duplicate", err: fmt.Errorf("pagerduty: open incident PD1 has key: %w", bot.ErrDuplicate),
			wantReply: "PagerDuty already has an open incident for INC-1 on `checkout`; its on-call has been paged."},
		{name: "rate limited", err: fmt.Errorf("pagerduty: create incident: %w", bot.ErrRateLimited),
			wantUser: "nobody was paged"},
		{name: "unknown at the provider", err: fmt.Errorf("pagerduty: page service: %w", bot.ErrNotFound),
			wantUser: "Unknown service `checkout`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pager := &fakePager{err: tc.err}
			h := newHarness(t, func(c *Config) { c.Pager = pager; c.Settings.PageServices = []string{"checkout"} })
			inc := h.declare("sev1 payments down")
			resp, err := h.cmd("UBOB", inc.Channel, "page checkout")
			if tc.wantReply != "" {
				if err != nil || !strings.Contains(resp.Message.Text, tc.wantReply) {
					t.Errorf("got %q, %v; want a reply containing %q", resp.Message.Text, err, tc.wantReply)
				}
				return
			}
			if msg := bot.UserMessage(err, ""); !strings.Contains(msg, tc.wantUser) {
				t.Errorf("got %q, want a user message containing %q", msg, tc.wantUser)
			}
		})
	}
}
