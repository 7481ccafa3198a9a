package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
)

// historyBatch is how many incident records one MGET reads when walking
// back through the numbers.
const historyBatch = 500

// historySlack allows for numbers handed out slightly out of declaration
// order (two replicas declaring within the same moment): the walk goes on
// until a whole batch was declared this long before the window.
const historySlack = time.Hour

// DeclaredSince returns the incidents declared at or after since, oldest
// number first. Numbers are allocated at declaration, so they follow
// declaration time: the walk starts at the newest number and reads batches
// backwards until a whole batch lies before the window. It needs no index
// beyond the records and the counter.
func (s *Incidents) DeclaredSince(ctx context.Context, since time.Time) ([]bot.Incident, error) {
	top, err := s.rdb.Get(ctx, incidentSeqKey).Int64()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read incident counter: %w", err)
	}
	var out []bot.Incident
	for hi := top; hi >= 1; hi -= historyBatch {
		lo := max(hi-historyBatch+1, 1)
		keys := make([]string, 0, hi-lo+1)
		for n := hi; n >= lo; n-- {
			keys = append(keys, incidentRecPrefix+bot.IncidentKey(n))
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, fmt.Errorf("read incidents %d..%d: %w", lo, hi, err)
		}
		older, seen := true, false
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // a number burnt by a failed declaration
			}
			seen = true
			inc, err := decodeIncident(bot.IncidentKey(hi-int64(i)), []byte(str))
			if err != nil {
				return nil, err
			}
			if !inc.DeclaredAt.Before(since.Add(-historySlack)) {
				older = false
			}
			if !inc.DeclaredAt.Before(since) {
				out = append(out, inc)
			}
		}
		if older && seen {
			break
		}
	}
	// Oldest first, as numbers go.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
