// Package fakeslack is a stateful fake of Slack that speaks the real wire
// protocol, so the real slack-go Web API client and its socketmode client run
// against it unmodified: apps.connections.open hands out a websocket URL, the
// websocket says hello, carries envelopes (slash_commands, events_api,
// interactive) in Slack's shapes and records the acks (a slash command's
// answer in its ack is shown to the user as Slack shows it, and an ack of
// MaxAckSize or more is dropped whole, as Slack drops it); the Web API methods
// opsbot uses answer with Slack's JSON over HTTP, check the bearer token and
// keep state (channels, members, topics, pins, messages with ts and threads,
// users, user groups, modals, uploaded files).
//
// It exists so that integration tests, console mode and the ack-latency
// benchmark exercise the same code paths as production, including the unhappy
// ones: FailNext makes the next call of a method answer {"ok":false,"error":…},
// RateLimitNext answers 429 with Retry-After, SetLatency slows every call,
// DropConnections kills the websockets and Disconnect sends Slack's polite
// refresh request.
//
// A test starts one server per test (it is closed by t.Cleanup):
//
//	fs := fakeslack.New(t)
//	fs.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"})
//	general := fs.AddChannel("general", "U0ALICE")
//
//	client, _ := slack.New(slack.Config{
//		AppToken: fs.AppToken(), BotToken: fs.BotToken(), APIURL: fs.APIURL(),
//	})
//	go client.Listen(ctx, engine)
//	_ = fs.WaitConnections(ctx, 1)
//
//	sent, _ := fs.SendSlashCommand(fakeslack.SlashCommand{
//		Command: "/incident", Text: "list", UserID: "U0ALICE", ChannelID: general,
//	})
//	ack, _ := fs.WaitAck(ctx, sent.EnvelopeID)
//	_ = fs.WaitUntil(ctx, func() bool { return len(fs.Ephemerals(general, "U0ALICE")) > 0 })
//
// Outside tests (the load tool, cmd/opsbot-bench) use Start and Close.
//
// The fake is deliberately strict where Slack is: unknown channels answer
// channel_not_found, invalid channel names answer invalid_name_*, a
// trigger_id opens one modal and only if the fake issued it.
package fakeslack
