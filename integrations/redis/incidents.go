package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Incident keys. Every key carries the hash tag {opsbot:incident:seq}, which
// hashes to the same cluster slot as the counter key opsbot:incident:seq
// itself, so the Lua allocation and the MULTI/EXEC updates below touch one
// slot and work on Redis Cluster as on a single server. The data is small
// (one record per incident), so one slot is no hot spot.
const (
	incidentSeqKey    = "opsbot:incident:seq"
	incidentTag       = "{" + incidentSeqKey + "}"
	incidentRecPrefix = "opsbot:incident:" + incidentTag + ":rec:"
	incidentChanPref  = "opsbot:incident:" + incidentTag + ":channel:"
	incidentOpenKey   = "opsbot:incident:" + incidentTag + ":open"
	incidentTrigPref  = "opsbot:incident:" + incidentTag + ":trigger:"
	// incidentTriggerTTL outlives any Slack redelivery by far.
	incidentTriggerTTL = 24 * time.Hour
	// incidentUpdateAttempts bounds optimistic retries under contention.
	incidentUpdateAttempts = 50
)

// allocScript hands out the next incident number once per trigger: a
// redelivered declaration finds its trigger key and gets the same number
// back with created = 0, and no number is burnt.
var allocScript = goredis.NewScript(`
local n = redis.call('GET', KEYS[1])
if n then return {tonumber(n), 0} end
n = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], n, 'EX', ARGV[1])
return {n, 1}
`)

// Incidents stores incident records in Redis: a JSON record per incident, a
// channel → incident index, the set of open incidents and the number counter.
//
// A new incident counts once the replicas the store's Durability asks for
// have its number and record: a failover cannot hand the same number out
// twice, nor forget a declaration whose channel a redelivery would then
// create again. Later updates wait for the replicas too, but stand when
// they do not answer in time (logged): a failover in that moment can roll
// the record back by one change, never the timeline, which records each.
type Incidents struct {
	rdb goredis.UniversalClient
	rep *replicas
	log *zap.Logger
}

var _ bot.IncidentStore = (*Incidents)(nil)

// NewIncidents returns an incident store over rdb.
func NewIncidents(rdb goredis.UniversalClient, opts ...Option) (*Incidents, error) {
	if rdb == nil {
		return nil, errors.New("redis incidents: nil client")
	}
	o := applyOptions(opts)
	return &Incidents{rdb: rdb, rep: newReplicas(rdb, o, false), log: o.log}, nil
}

// Create implements bot.IncidentStore. When the replicas do not confirm the
// new incident in time it returns an error wrapping ErrNotReplicated, and
// the caller must not go on to create its channel.
func (s *Incidents) Create(ctx context.Context, dedupeKey string, inc bot.Incident) (bot.Incident, bool, error) {
	if dedupeKey == "" {
		return bot.Incident{}, false, errors.New("create incident: empty dedupe key")
	}
	var (
		n       int64
		created bool
		key     string
	)
	// The number and the record are written down one connection and
	// confirmed together.
	err := s.rep.do(ctx, incidentSeqKey, func(ctx context.Context, c goredis.Cmdable) error {
		res, err := allocScript.Run(ctx, c, []string{incidentTrigPref + dedupeKey, incidentSeqKey},
			int(incidentTriggerTTL/time.Second)).Int64Slice()
		if err != nil {
			return fmt.Errorf("allocate incident number: %w", err)
		}
		if len(res) != 2 {
			return fmt.Errorf("allocate incident number: unexpected reply %v", res)
		}
		n, created = res[0], res[1] == 1
		key = bot.IncidentKey(n)
		if !created {
			return nil
		}
		inc.Number, inc.Key = n, key
		data, err := json.Marshal(inc)
		if err != nil {
			return fmt.Errorf("encode incident %s: %w", key, err)
		}
		_, err = c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, incidentRecPrefix+key, data, 0)
			if inc.Channel != "" {
				p.Set(ctx, incidentChanPref+inc.Channel, key, 0)
			}
			if listed(&inc) {
				p.ZAdd(ctx, incidentOpenKey, goredis.Z{Score: float64(n), Member: key})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store incident %s: %w", key, err)
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrNotReplicated) && !created:
		// Nothing was written: the declaration this trigger started
		// answers for its incident.
	case errors.Is(err, ErrNotReplicated):
		// Give the number up rather than risk a failover handing it out
		// again: a retry, or the redelivery, declares afresh.
		s.undoCreate(ctx, dedupeKey, key)
		return bot.Incident{}, false, fmt.Errorf("create incident %s: %w", key, err)
	case err != nil:
		return bot.Incident{}, false, err
	}
	if !created {
		existing, err := s.Get(ctx, key)
		if errors.Is(err, bot.ErrIncidentNotFound) {
			// The first delivery allocated the number and has not stored
			// the record yet (or died before it could).
			return bot.Incident{Key: key, Number: n}, false, nil
		}
		return existing, false, err
	}
	return inc, true, nil
}

// Get implements bot.IncidentStore.
func (s *Incidents) Get(ctx context.Context, key string) (bot.Incident, error) {
	raw, err := s.rdb.Get(ctx, incidentRecPrefix+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return bot.Incident{}, fmt.Errorf("incident %s: %w", key, bot.ErrIncidentNotFound)
	}
	if err != nil {
		return bot.Incident{}, fmt.Errorf("get incident %s: %w", key, err)
	}
	return decodeIncident(key, raw)
}

// ByChannel implements bot.IncidentStore.
func (s *Incidents) ByChannel(ctx context.Context, channel string) (bot.Incident, error) {
	key, err := s.rdb.Get(ctx, incidentChanPref+channel).Result()
	if errors.Is(err, goredis.Nil) {
		return bot.Incident{}, fmt.Errorf("incident for channel %s: %w", channel, bot.ErrIncidentNotFound)
	}
	if err != nil {
		return bot.Incident{}, fmt.Errorf("incident for channel %s: %w", channel, err)
	}
	return s.Get(ctx, key)
}

// errAbort carries fn's error out of the WATCH callback untouched.
type errAbort struct{ err error }

func (e errAbort) Error() string { return e.err.Error() }

// Update implements bot.IncidentStore with an optimistic WATCH/MULTI
// transaction, retried when another writer got there first.
func (s *Incidents) Update(ctx context.Context, key string, fn func(*bot.Incident) error) (bot.Incident, error) {
	recKey := incidentRecPrefix + key
	var out bot.Incident
	txf := func(tx *goredis.Tx) error {
		raw, err := tx.Get(ctx, recKey).Bytes()
		if errors.Is(err, goredis.Nil) {
			return errAbort{fmt.Errorf("incident %s: %w", key, bot.ErrIncidentNotFound)}
		}
		if err != nil {
			return err
		}
		inc, err := decodeIncident(key, raw)
		if err != nil {
			return errAbort{err}
		}
		oldChannel := inc.Channel
		if err := fn(&inc); err != nil {
			return errAbort{err}
		}
		inc.Key = key // fn must not move the record
		data, err := json.Marshal(inc)
		if err != nil {
			return errAbort{fmt.Errorf("encode incident %s: %w", key, err)}
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, recKey, data, 0)
			if oldChannel != inc.Channel {
				if oldChannel != "" {
					p.Del(ctx, incidentChanPref+oldChannel)
				}
				if inc.Channel != "" {
					p.Set(ctx, incidentChanPref+inc.Channel, key, 0)
				}
			}
			if listed(&inc) {
				p.ZAdd(ctx, incidentOpenKey, goredis.Z{Score: float64(inc.Number), Member: key})
			} else {
				p.ZRem(ctx, incidentOpenKey, key)
			}
			return nil
		})
		if err == nil {
			out = inc
			s.waitForReplicas(ctx, tx, recKey)
		}
		return err
	}
	for attempt := 0; attempt < incidentUpdateAttempts; attempt++ {
		err := s.rdb.Watch(ctx, txf, recKey)
		if errors.Is(err, goredis.TxFailedErr) {
			continue
		}
		var abort errAbort
		if errors.As(err, &abort) {
			return bot.Incident{}, abort.err
		}
		if err != nil {
			return bot.Incident{}, fmt.Errorf("update incident %s: %w", key, err)
		}
		return out, nil
	}
	return bot.Incident{}, fmt.Errorf("update incident %s: too much contention", key)
}

// undoCreate removes a new incident whose creation the replicas did not
// confirm; its number stays used.
func (s *Incidents) undoCreate(ctx context.Context, dedupeKey, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, incidentTrigPref+dedupeKey, incidentRecPrefix+key)
		p.ZRem(ctx, incidentOpenKey, key)
		return nil
	})
	if err != nil {
		s.log.Warn("unconfirmed incident not removed; a redelivery of its declaration will say it is being declared",
			zap.String("incident", key), zap.Error(err))
	}
}

// waitForReplicas waits, on the connection that made an update, for the
// replicas to have it; a shortfall is logged, and the update stands.
func (s *Incidents) waitForReplicas(ctx context.Context, tx *goredis.Tx, key string) {
	need, _, err := s.rep.required(ctx, key)
	if err != nil || need == 0 {
		return
	}
	if err := s.rep.wait(ctx, tx, need, key); err != nil {
		s.log.Warn("incident update not yet on every replica; a failover now would roll it back",
			zap.String("key", key), zap.Error(err))
	}
}

// Open implements bot.IncidentStore.
func (s *Incidents) Open(ctx context.Context) ([]bot.Incident, error) {
	keys, err := s.rdb.ZRange(ctx, incidentOpenKey, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list open incidents: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	recKeys := make([]string, len(keys))
	for i, k := range keys {
		recKeys[i] = incidentRecPrefix + k
	}
	vals, err := s.rdb.MGet(ctx, recKeys...).Result()
	if err != nil {
		return nil, fmt.Errorf("list open incidents: %w", err)
	}
	out := make([]bot.Incident, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // removed between ZRANGE and MGET
		}
		inc, err := decodeIncident(keys[i], []byte(str))
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, nil
}

// listed says whether an incident belongs in the open set: it is unresolved,
// or its channel still awaits automatic archiving (the scheduler walks the
// open set for both).
func listed(inc *bot.Incident) bool {
	return inc.Open() || (!inc.ArchiveAt.IsZero() && !inc.Archived)
}

func decodeIncident(key string, raw []byte) (bot.Incident, error) {
	var inc bot.Incident
	if err := json.Unmarshal(raw, &inc); err != nil {
		return bot.Incident{}, fmt.Errorf("decode incident %s: %w", key, err)
	}
	return inc, nil
}
