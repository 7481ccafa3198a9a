// Package bot is opsbot's core: the neutral request and response types that
// every front end (Slack Socket Mode, console) produces and renders, commands
// as declarative values, the router and dispatcher that run them, the bounded
// worker pool, once-only handling of redelivered envelopes, and the ports
// (small interfaces) through which commands reach chat, storage and on-call
// providers.
//
// bot imports no SDK: Slack, Redis and PagerDuty live behind the ports and are
// implemented in integrations/. That is what lets command tests run without
// Slack and lets console mode render exactly what Slack would show.
package bot
