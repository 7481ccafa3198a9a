package fakeslack

import "github.com/slack-go/slack"

// Fakes are not the product: their calls are not counted.
func call(api *slack.Client) { _, _ = api.GetUserGroups() }
