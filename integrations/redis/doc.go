// Package redis is opsbot's shared state in Redis: the client that every
// store in this package uses (a single server, Sentinel or a Cluster, chosen
// by Config), once-only claims for redelivered Slack envelopes (Deduper),
// leases so scheduled work runs on one replica at a time (Locker), and
// incident timelines as Redis Streams that never lose an accepted event
// (Timeline).
//
// What "accepted" means is Durability: a write counts once the primary's
// replicas have it too (WAIT on the write's own connection), so that a
// failover, which promotes a replica, cannot undo it. The timeline holds
// events that are not yet safe in a local, fsync'd spool file (one per
// process; files of processes that are gone are adopted) and re-sends them,
// idempotently, until they are; claims that the replicas do not confirm are
// given back. Each incident appends in order, independently of the others.
//
// Other stores (incidents, runbook approvals and audit, the on-call cache)
// live in this package too, in their own files, and take a Client and
// Options. Every multi-key script and transaction keeps its keys in one
// Cluster slot. Tests use the sibling package redistest for real
// redis-server processes: a server, a Sentinel topology, a Cluster.
package redis
