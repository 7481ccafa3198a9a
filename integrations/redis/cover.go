package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
)

// Covers keeps cover requests and the overrides opsbot made, shared by
// replicas. Each request is a hash: its fixed parts as JSON, and the fields
// a click changes (state, taker, override, lease) beside it, changed only by
// scripts that check the state first, so that of any number of clicks on
// any number of replicas exactly one claims a request, and only the claimer
// completes or releases it.
//
// Creating, claiming, completing and cancelling a request count once the
// replicas the store's Durability asks for have them, and are given back
// otherwise (an error wrapping ErrNotReplicated): a failover cannot bring
// back a request its requester was told is cancelled, nor reopen one whose
// override was made, so a cover is taken once and makes one override.
// Releasing a claim and the message and override records are not
// confirmed: a release a failover loses leaves the claim to lapse after
// its lease, and the records only annotate what the provider holds.
type Covers struct {
	c   Client
	rep *replicas
}

// NewCovers returns the cover store on c.
func NewCovers(c Client, opts ...Option) *Covers {
	return &Covers{c: c, rep: newReplicas(c, applyOptions(opts), false)}
}

// Retention: a request is kept this long after its window ends (its buttons
// answer sensibly until then); override records likewise.
const coverRetention = 30 * 24 * time.Hour

func coverKey(id string) string           { return OnCallPrefix + "cover:" + id }
func overrideRecordsKey(sc string) string { return OnCallPrefix + "overrides:" + sc }
func coverTTL(end, now time.Time) time.Duration {
	return max(end.Sub(now), 0) + coverRetention
}

// CreateCover stores a new open request.
func (s *Covers) CreateCover(ctx context.Context, r bot.CoverRequest, now time.Time) error {
	if r.ID == "" || r.Schedule == "" || r.Requester == "" {
		return errors.New("create cover request: id, schedule and requester are required")
	}
	r.State, r.Taker, r.OverrideID, r.TakenAt = bot.CoverOpen, "", "", time.Time{}
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("create cover request %s: %w", r.ID, err)
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	key := coverKey(r.ID)
	var ok int
	err = s.rep.claim(ctx, key, func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		ok, err = coverCreate.Run(ctx, c, []string{key}, raw, r.Requester, coverTTL(r.End, now).Milliseconds()).Int()
		return err
	}, func(ctx context.Context, c goredis.Cmdable) error {
		if ok == 0 {
			return nil
		}
		return coverUncreate.Run(ctx, c, []string{key}, raw).Err()
	})
	if err != nil {
		return fmt.Errorf("create cover request %s: %w", r.ID, err)
	}
	if ok == 0 {
		return fmt.Errorf("create cover request %s: exists already", r.ID)
	}
	return nil
}

var coverCreate = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'state', 'open', 'requester', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// coverUncreate removes a request whose creation the replicas did not
// confirm, unless something happened to it since.
var coverUncreate = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'data') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'open'
  and redis.call('HEXISTS', KEYS[1], 'message') == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// SetCoverMessage records where the request was posted.
func (s *Covers) SetCoverMessage(ctx context.Context, id string, ref bot.MessageRef) error {
	raw, err := json.Marshal(ref)
	if err != nil {
		return fmt.Errorf("cover request %s: message: %w", id, err)
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.c.HSet(ctx, coverKey(id), "message", raw).Err(); err != nil {
		return fmt.Errorf("cover request %s: message: %w", id, err)
	}
	return nil
}

// Cover returns a request as it is now.
func (s *Covers) Cover(ctx context.Context, id string) (bot.CoverRequest, bool, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	m, err := s.c.HGetAll(ctx, coverKey(id)).Result()
	if err != nil {
		return bot.CoverRequest{}, false, fmt.Errorf("read cover request %s: %w", id, err)
	}
	if len(m) == 0 || m["data"] == "" {
		return bot.CoverRequest{}, false, nil
	}
	r, err := decodeCover(id, m)
	return r, err == nil, err
}

func decodeCover(id string, m map[string]string) (bot.CoverRequest, error) {
	var r bot.CoverRequest
	if err := json.Unmarshal([]byte(m["data"]), &r); err != nil {
		return r, fmt.Errorf("decode cover request %s: %w", id, err)
	}
	if raw := m["message"]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &r.Message); err != nil {
			return r, fmt.Errorf("decode cover request %s: message: %w", id, err)
		}
	}
	r.State = bot.CoverState(m["state"])
	r.Taker = m["taker"]
	r.OverrideID = m["override_id"]
	if a := m["attempts"]; a != "" {
		r.Attempts = strings.Split(a, ",")
	}
	if ms, err := strconv.ParseInt(m["taken_ms"], 10, 64); err == nil {
		r.TakenAt = time.UnixMilli(ms).UTC()
	}
	return r, nil
}

// ClaimCover lets user claim an open request (or one whose claim lease
// ran out, its claimer having died) until leaseUntil. It returns the
// request as it is after the attempt and whether this caller claimed it.
// A claim the replicas do not confirm in time is given back and reported
// as an error wrapping ErrNotReplicated.
// Every successful claim is appended to the request's Attempts, which no
// later transition clears.
func (s *Covers) ClaimCover(ctx context.Context, id, user string, now, leaseUntil time.Time) (bot.CoverRequest, bool, error) {
	return s.transition(ctx, "claim", id, coverClaim, coverUnclaim, []any{user, leaseUntil.UnixMilli()},
		user, now.UnixMilli(), leaseUntil.UnixMilli())
}

// CompleteCover marks the request user claimed as taken with its override.
// ok is false when user does not hold the claim (any more). When the
// replicas do not confirm it in time, the request goes back to claimed by
// user (an error wrapping ErrNotReplicated): the caller removes the
// override and releases the claim.
func (s *Covers) CompleteCover(ctx context.Context, id, user, overrideID string, at time.Time) (bot.CoverRequest, bool, error) {
	return s.transition(ctx, "complete", id, coverComplete, coverUncomplete, []any{user, overrideID},
		user, overrideID, at.UnixMilli())
}

// ReleaseCover gives back user's claim, so that others can take the
// request again (the override could not be made).
func (s *Covers) ReleaseCover(ctx context.Context, id, user string) (bot.CoverRequest, bool, error) {
	return s.transition(ctx, "release", id, coverRelease, nil, nil, user)
}

// CancelCover cancels an open request; only its requester may. A
// cancellation the replicas do not confirm in time is given back (the
// request open again) and reported as an error wrapping ErrNotReplicated.
func (s *Covers) CancelCover(ctx context.Context, id, user string) (bot.CoverRequest, bool, error) {
	return s.transition(ctx, "cancel", id, coverCancel, coverUncancel, nil, user)
}

// transition runs one state change; when undo is set, the change counts
// once the replicas confirm it, and undo (with undoArgs) gives it back
// otherwise.
func (s *Covers) transition(ctx context.Context, what, id string, script, undo *goredis.Script, undoArgs []any, args ...any) (bot.CoverRequest, bool, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	key := coverKey(id)
	var res []any
	run := func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		res, err = script.Run(ctx, c, []string{key}, args...).Slice()
		return err
	}
	var err error
	if undo == nil {
		err = run(ctx, s.c)
	} else {
		err = s.rep.claim(ctx, key, run, func(ctx context.Context, c goredis.Cmdable) error {
			if len(res) == 0 || res[0] != int64(1) {
				return nil // nothing changed, nothing to give back
			}
			return undo.Run(ctx, c, []string{key}, undoArgs...).Err()
		})
		if errors.Is(err, ErrNotReplicated) && (len(res) == 0 || res[0] != int64(1)) {
			// Nothing was written: the answer stands as read.
			err = nil
		}
	}
	if err != nil {
		return bot.CoverRequest{}, false, fmt.Errorf("%s cover request %s: %w", what, id, err)
	}
	if len(res) != 2 {
		return bot.CoverRequest{}, false, fmt.Errorf("%s cover request %s: unexpected answer %v", what, id, res)
	}
	flat, _ := res[1].([]any)
	if len(flat) == 0 {
		return bot.CoverRequest{}, false, fmt.Errorf("%s cover request %s: %w", what, id, bot.ErrNotFound)
	}
	m := map[string]string{}
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	r, err := decodeCover(id, m)
	if err != nil {
		return r, false, err
	}
	done, _ := res[0].(int64)
	return r, done == 1, nil
}

// Each transition script answers {1 if it changed the state else 0,
// HGETALL after}.
var (
	coverClaim = goredis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, {}} end
local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_ms') or '0')
if st == 'open' or (st == 'claimed' and lease < tonumber(ARGV[2])) then
  local attempts = redis.call('HGET', KEYS[1], 'attempts')
  if attempts then attempts = attempts .. ',' .. ARGV[1] else attempts = ARGV[1] end
  redis.call('HSET', KEYS[1], 'state', 'claimed', 'taker', ARGV[1], 'lease_ms', ARGV[3], 'attempts', attempts)
  return {1, redis.call('HGETALL', KEYS[1])}
end
return {0, redis.call('HGETALL', KEYS[1])}`)
	coverComplete = goredis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, {}} end
if st == 'claimed' and redis.call('HGET', KEYS[1], 'taker') == ARGV[1] then
  -- lease_ms stays, unused while taken, for coverUncomplete.
  redis.call('HSET', KEYS[1], 'state', 'taken', 'override_id', ARGV[2], 'taken_ms', ARGV[3])
  return {1, redis.call('HGETALL', KEYS[1])}
end
return {0, redis.call('HGETALL', KEYS[1])}`)
	coverRelease = goredis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, {}} end
if st == 'claimed' and redis.call('HGET', KEYS[1], 'taker') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', 'open')
  redis.call('HDEL', KEYS[1], 'taker', 'lease_ms')
  return {1, redis.call('HGETALL', KEYS[1])}
end
return {0, redis.call('HGETALL', KEYS[1])}`)
	coverCancel = goredis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, {}} end
if st == 'open' and redis.call('HGET', KEYS[1], 'requester') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', 'cancelled')
  return {1, redis.call('HGETALL', KEYS[1])}
end
return {0, redis.call('HGETALL', KEYS[1])}`)
)

// Scripts that give back a transition the replicas did not confirm, each
// only if the request is still as the transition left it.
var (
	// ARGV: user, lease.
	coverUnclaim = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'claimed' and redis.call('HGET', KEYS[1], 'taker') == ARGV[1]
  and redis.call('HGET', KEYS[1], 'lease_ms') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'state', 'open')
  redis.call('HDEL', KEYS[1], 'taker', 'lease_ms')
  return 1
end
return 0`)
	// ARGV: user, override ID. The request is claimed by user again, under
	// its claim's lease, for the caller to remove the override and release
	// it.
	coverUncomplete = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'taken' and redis.call('HGET', KEYS[1], 'taker') == ARGV[1]
  and redis.call('HGET', KEYS[1], 'override_id') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'state', 'claimed')
  redis.call('HDEL', KEYS[1], 'override_id', 'taken_ms')
  return 1
end
return 0`)
	coverUncancel = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'cancelled' then
  redis.call('HSET', KEYS[1], 'state', 'open')
  return 1
end
return 0`)
)

// RecordOverride keeps a record of an override opsbot made, and drops
// records of overrides that ended more than the retention ago.
func (s *Covers) RecordOverride(ctx context.Context, rec bot.OverrideRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("record override %s of %q: %w", rec.ID, rec.Schedule, err)
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	key := overrideRecordsKey(rec.Schedule)
	_, err = s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZAdd(ctx, key, goredis.Z{Score: float64(rec.End.UnixMilli()), Member: raw})
		p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(rec.CreatedAt.Add(-coverRetention).UnixMilli(), 10))
		p.PExpire(ctx, key, coverTTL(rec.End, rec.CreatedAt))
		return nil
	})
	if err != nil {
		return fmt.Errorf("record override %s of %q: %w", rec.ID, rec.Schedule, err)
	}
	return nil
}

// OverrideRecords returns the records of a schedule's overrides ending
// after t, soonest ending first.
func (s *Covers) OverrideRecords(ctx context.Context, schedule string, after time.Time) ([]bot.OverrideRecord, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	raws, err := s.c.ZRangeByScore(ctx, overrideRecordsKey(schedule), &goredis.ZRangeBy{
		Min: "(" + strconv.FormatInt(after.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("override records of %q: %w", schedule, err)
	}
	out := make([]bot.OverrideRecord, 0, len(raws))
	for _, raw := range raws {
		var rec bot.OverrideRecord
		if err := json.NewDecoder(strings.NewReader(raw)).Decode(&rec); err != nil {
			return nil, fmt.Errorf("decode override record of %q: %w", schedule, err)
		}
		out = append(out, rec)
	}
	return out, nil
}
