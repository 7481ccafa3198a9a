package redis

import (
	"context"
	"errors"
	"slices"

	goredis "github.com/redis/go-redis/v9"
)

// followFailovers, a hook on each node of a cluster client, makes the
// client learn a new slot map as soon as a command to a node fails in a way
// a failover explains. go-redis reloads the map on MOVED and ASK, which only
// a running node answers, and otherwise every 60 s: while a killed primary
// stays down, its slots would be sent to it for up to a minute after the
// cluster promoted its replica (measured: the promotion took 2.3 s, the
// client followed at 60.1 s). A reload is one CLUSTER SLOTS; go-redis runs
// one at a time and at most one every 200 ms.
type followFailovers struct {
	c *goredis.ClusterClient
}

func (h followFailovers) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h followFailovers) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		reloadIfMoved(ctx, h.c, err)
		return err
	}
}

func (h followFailovers) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		if slotsMayHaveMoved(err) || slices.ContainsFunc(cmds, func(c goredis.Cmder) bool { return slotsMayHaveMoved(c.Err()) }) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

// reloadIfMoved asks c, when it is a cluster client, to reload its slot
// map after err if a failover or a resharding may explain err.
func reloadIfMoved(ctx context.Context, c Client, err error) {
	cc, ok := c.(*goredis.ClusterClient)
	if ok && slotsMayHaveMoved(err) {
		cc.ReloadState(ctx)
	}
}

// slotsMayHaveMoved reports whether err may mean that the node asked no
// longer serves the slot: the node is unreachable (killed, cut off, timed
// out), or it says the cluster is between owners (CLUSTERDOWN, TRYAGAIN),
// that it is now a replica (READONLY), or where the slot went (MOVED, ASK).
// An answer (a missing key, a lost WATCH race, a script error) is not.
func slotsMayHaveMoved(err error) bool {
	switch {
	case err == nil, errors.Is(err, goredis.Nil), errors.Is(err, goredis.TxFailedErr),
		errors.Is(err, goredis.ErrClosed), errors.Is(err, context.Canceled):
		return false
	case goredis.IsClusterDownError(err), goredis.IsTryAgainError(err), goredis.IsReadOnlyError(err):
		return true
	}
	if _, ok := goredis.IsMovedError(err); ok {
		return true
	}
	if _, ok := goredis.IsAskError(err); ok {
		return true
	}
	// Anything but a reply is the connection failing: refused, reset,
	// closed by the server, timed out.
	var reply goredis.Error
	return !errors.As(err, &reply)
}
