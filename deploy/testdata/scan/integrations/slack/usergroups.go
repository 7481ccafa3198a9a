package slack

import "context"

// This file does not import slack-go, but its package does.
func (c *client) setMembers(ctx context.Context) {
	_, _ = c.api.UpdateUserGroupMembersContext(ctx, "S1", "U1")
}
