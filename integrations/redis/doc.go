// Package redis is opsbot's shared state in Redis: the client that every
// store in this package uses, once-only claims for redelivered Slack
// envelopes (Deduper), leases so scheduled work runs on one replica at a
// time (Locker), and incident timelines as Redis Streams that never lose an
// accepted event (Timeline), holding events in a local fsync'd spool while
// Redis is unreachable.
//
// Other stores (incidents, runbook approvals and audit, the on-call cache,
// cover requests and override records, overrides of rotation-file schedules)
// live in this package too, in their own files, and take a Client.
// Tests use the sibling package redistest for a real redis-server.
package redis
