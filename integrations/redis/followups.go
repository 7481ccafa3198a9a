package redis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Follow-up keys. They all carry the hash tag {opsbot:followup}, so that
// adding a follow-up (record, number, indexes) and updating one (record and
// indexes in one MULTI) touch a single Cluster slot. Follow-ups are few and
// small; one slot is no hot spot.
const (
	followupTag       = "{opsbot:followup}"
	followupPrefix    = "opsbot:followup:" + followupTag + ":"
	followupSeqKey    = followupPrefix + "seq"     // hash: incident -> last number
	followupOpenKey   = followupPrefix + "open"    // zset: open follow-ups by DueAt
	followupRemindKey = followupPrefix + "remind"  // zset: by RemindAt
	followupSyncKey   = followupPrefix + "sync"    // zset: by SyncAt
	followupRecPrefix = followupPrefix + "rec:"    // hash per incident: number -> JSON
	followupOwnerPref = followupPrefix + "owner:"  // set per owner: open follow-up IDs
	followupDedupPref = followupPrefix + "dedupe:" // string per request: follow-up ID
	followupDedupeTTL = 24 * time.Hour             // outlives any redelivery
	followupAttempts  = 50                         // optimistic retries under contention
	followupUndated   = float64(1 << 52)           // open-set score of follow-ups without a due date
	followupNumberPH  = `"number":0,`              // placeholder the add script fills in
	followupFetchMax  = 1000                       // bound on one listing
)

// Followups stores follow-ups in Redis: a hash of JSON records per incident,
// a per-incident counter, and indexes (open by due date, open by owner, by
// reminder time, by tracker sync time) kept equal to the records' own fields
// in the same transaction as every write.
//
// A new follow-up, and a change made with Claim (a reminder taken, a
// follow-up marked done), count once the replicas the store's Durability
// asks for have them; otherwise they are given back and reported as an
// error wrapping ErrNotReplicated, so that a failover can neither forget a
// follow-up its owner was told about nor let a reminder be sent twice.
// Changes made with Update wait for the replicas too but stand when they
// are slow (logged): they record what was already done (a message posted,
// an issue opened), and a failover in that moment can lose the record.
type Followups struct {
	c   Client
	rep *replicas
	log *zap.Logger
}

var _ bot.FollowupStore = (*Followups)(nil)

// NewFollowups returns the follow-up store on c.
func NewFollowups(c Client, opts ...Option) (*Followups, error) {
	if c == nil {
		return nil, errors.New("redis follow-ups: nil client")
	}
	o := applyOptions(opts)
	return &Followups{c: c, rep: newReplicas(c, o, false), log: o.log}, nil
}

// followupAdd allocates the number and stores record and indexes at once, so
// that a follow-up is either wholly there or not at all, and a redelivered
// request finds the one the first delivery made.
//
// KEYS: dedupe, seq, rec, open, owner, remind, sync
// ARGV: dedupe ttl (s), incident, JSON with "number":0, open score, owner?,
// remind score or "", sync score or "".
var followupAdd = goredis.NewScript(`
local prev = redis.call('GET', KEYS[1])
if prev then return {prev, 0} end
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
local id = ARGV[2] .. '/' .. n
local rec = string.gsub(ARGV[3], '"number":0,', '"number":' .. n .. ',', 1)
redis.call('HSET', KEYS[3], n, rec)
redis.call('ZADD', KEYS[4], ARGV[4], id)
if ARGV[5] ~= '' then redis.call('SADD', KEYS[5], id) end
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[6], ARGV[6], id) end
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[7], ARGV[7], id) end
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return {id, 1}
`)

// followupUnadd removes a follow-up whose addition the replicas did not
// confirm, if it is still as added; its number stays used.
//
// KEYS: dedupe, rec, open, owner, remind, sync. ARGV: id, number, record.
var followupUnadd = goredis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// Add implements bot.FollowupStore.
func (s *Followups) Add(ctx context.Context, dedupeKey string, f bot.Followup) (bot.Followup, bool, error) {
	if dedupeKey == "" {
		return bot.Followup{}, false, errors.New("add follow-up: empty dedupe key")
	}
	if _, err := bot.ParseIncidentKey(f.Incident); err != nil {
		return bot.Followup{}, false, fmt.Errorf("add follow-up: %w", err)
	}
	if f.State == "" {
		f.State = bot.FollowupOpen
	}
	f.Number = 0
	raw, err := json.Marshal(f)
	if err != nil {
		return bot.Followup{}, false, fmt.Errorf("encode follow-up of %s: %w", f.Incident, err)
	}
	if !bytes.Contains(raw, []byte(followupNumberPH)) {
		// The script numbers the record by replacing the placeholder.
		return bot.Followup{}, false, fmt.Errorf("encode follow-up of %s: no %s placeholder", f.Incident, followupNumberPH)
	}
	owner := ""
	if f.Open() && f.Owner != "" {
		owner = f.Owner
	}
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	dedupe, recKey := followupDedupPref+dedupeKey, followupRecPrefix+f.Incident
	var res []any
	err = s.rep.do(ctx, followupSeqKey, func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		res, err = followupAdd.Run(ctx, c,
			[]string{dedupe, followupSeqKey, recKey, followupOpenKey,
				followupOwnerPref + owner, followupRemindKey, followupSyncKey},
			int(followupDedupeTTL/time.Second), f.Incident, raw, openScore(&f), owner,
			timeScore(f.RemindAt), timeScore(f.SyncAt)).Slice()
		return err
	})
	if err != nil && !errors.Is(err, ErrNotReplicated) {
		return bot.Followup{}, false, fmt.Errorf("add follow-up to %s: %w", f.Incident, err)
	}
	if len(res) != 2 {
		return bot.Followup{}, false, fmt.Errorf("add follow-up to %s: unexpected reply %v", f.Incident, res)
	}
	id, _ := res[0].(string)
	created, _ := res[1].(int64)
	inc, n, perr := bot.ParseFollowupID(id)
	if perr != nil {
		return bot.Followup{}, false, fmt.Errorf("add follow-up to %s: %w", f.Incident, perr)
	}
	if err != nil && created == 1 {
		// Give it back rather than tell its owner about a follow-up a
		// failover could lose; a retry adds it afresh.
		rec := strings.Replace(string(raw), followupNumberPH, `"number":`+strconv.Itoa(n)+`,`, 1)
		s.rep.giveBack(ctx, followupSeqKey, func(ctx context.Context, c goredis.Cmdable) error {
			return followupUnadd.Run(ctx, c, []string{dedupe, recKey, followupOpenKey, followupOwnerPref + owner,
				followupRemindKey, followupSyncKey}, id, n, rec).Err()
		})
		return bot.Followup{}, false, fmt.Errorf("add follow-up %s: %w", id, err)
	}
	// Unconfirmed but not created: nothing was written, and the follow-up
	// the first delivery added answers for it.
	out, err := s.Get(ctx, inc, n)
	if err != nil {
		return bot.Followup{}, false, err
	}
	return out, created == 1, nil
}

// Get implements bot.FollowupStore.
func (s *Followups) Get(ctx context.Context, incident string, n int) (bot.Followup, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	raw, err := s.c.HGet(ctx, followupRecPrefix+incident, strconv.Itoa(n)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return bot.Followup{}, fmt.Errorf("follow-up %s: %w", bot.FollowupID(incident, n), bot.ErrFollowupNotFound)
	}
	if err != nil {
		return bot.Followup{}, fmt.Errorf("get follow-up %s: %w", bot.FollowupID(incident, n), err)
	}
	return decodeFollowup(bot.FollowupID(incident, n), raw)
}

// ForIncident implements bot.FollowupStore.
func (s *Followups) ForIncident(ctx context.Context, incident string) ([]bot.Followup, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	all, err := s.c.HGetAll(ctx, followupRecPrefix+incident).Result()
	if err != nil {
		return nil, fmt.Errorf("list follow-ups of %s: %w", incident, err)
	}
	out := make([]bot.Followup, 0, len(all))
	for field, raw := range all {
		f, err := decodeFollowup(incident+"/"+field, []byte(raw))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// Update implements bot.FollowupStore with an optimistic WATCH/MULTI
// transaction on the incident's record hash. It waits for the replicas
// and stands when they are slow (logged).
func (s *Followups) Update(ctx context.Context, incident string, n int, fn func(*bot.Followup) error) (bot.Followup, error) {
	return s.update(ctx, incident, n, false, fn)
}

// Claim implements bot.FollowupStore: Update, but a change the replicas do
// not confirm in time is given back (the follow-up as it was, unless
// changed since) and reported as an error wrapping ErrNotReplicated.
func (s *Followups) Claim(ctx context.Context, incident string, n int, fn func(*bot.Followup) error) (bot.Followup, error) {
	return s.update(ctx, incident, n, true, fn)
}

func (s *Followups) update(ctx context.Context, incident string, n int, claim bool, fn func(*bot.Followup) error) (bot.Followup, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	recKey, field, id := followupRecPrefix+incident, strconv.Itoa(n), bot.FollowupID(incident, n)
	var out, prev bot.Followup
	var before, after []byte // the record as read and as written
	var confirmErr error
	txf := func(tx *goredis.Tx) error {
		raw, err := tx.HGet(ctx, recKey, field).Bytes()
		if errors.Is(err, goredis.Nil) {
			return errAbort{fmt.Errorf("follow-up %s: %w", id, bot.ErrFollowupNotFound)}
		}
		if err != nil {
			return err
		}
		f, err := decodeFollowup(id, raw)
		if err != nil {
			return errAbort{err}
		}
		prev, before = f, raw
		if err := fn(&f); err != nil {
			return errAbort{err}
		}
		f.Incident, f.Number = incident, n // fn must not move the record
		data, err := json.Marshal(f)
		if err != nil {
			return errAbort{fmt.Errorf("encode follow-up %s: %w", id, err)}
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			writeFollowup(ctx, p, id, &prev, &f, data)
			return nil
		})
		if err == nil {
			out, after = f, data
			confirmErr = s.rep.confirmTx(ctx, tx, recKey)
		}
		return err
	}
	for range followupAttempts {
		err := s.c.Watch(ctx, txf, recKey)
		if errors.Is(err, goredis.TxFailedErr) {
			continue
		}
		var abort errAbort
		if errors.As(err, &abort) {
			return bot.Followup{}, abort.err
		}
		if err != nil {
			return bot.Followup{}, fmt.Errorf("update follow-up %s: %w", id, err)
		}
		if confirmErr == nil {
			return out, nil
		}
		if !claim {
			s.log.Warn("follow-up change not yet on every replica; a failover now would roll it back",
				zap.String("incident", incident), zap.Int("followup", n), zap.Error(confirmErr))
			return out, nil
		}
		s.rep.giveBack(ctx, recKey, func(ctx context.Context, _ goredis.Cmdable) error {
			return s.restore(ctx, id, &out, &prev, after, before)
		})
		return bot.Followup{}, fmt.Errorf("update follow-up %s: %w", id, confirmErr)
	}
	return bot.Followup{}, fmt.Errorf("update follow-up %s: too much contention", id)
}

// writeFollowup writes follow-up to (JSON data) and moves its index
// entries from where from had them.
func writeFollowup(ctx context.Context, p goredis.Pipeliner, id string, from, to *bot.Followup, data []byte) {
	p.HSet(ctx, followupRecPrefix+to.Incident, strconv.Itoa(to.Number), data)
	if to.Open() {
		p.ZAdd(ctx, followupOpenKey, goredis.Z{Score: openScore(to), Member: id})
	} else {
		p.ZRem(ctx, followupOpenKey, id)
	}
	if from.Owner != "" && (from.Owner != to.Owner || !to.Open()) {
		p.SRem(ctx, followupOwnerPref+from.Owner, id)
	}
	if to.Owner != "" && to.Open() {
		p.SAdd(ctx, followupOwnerPref+to.Owner, id)
	}
	indexTime(ctx, p, followupRemindKey, id, to.RemindAt)
	indexTime(ctx, p, followupSyncKey, id, to.SyncAt)
}

// restore writes back follow-up prev (stored as before) in place of cur
// (stored as after), if the record is still after.
func (s *Followups) restore(ctx context.Context, id string, cur, prev *bot.Followup, after, before []byte) error {
	recKey, field := followupRecPrefix+cur.Incident, strconv.Itoa(cur.Number)
	err := s.c.Watch(ctx, func(tx *goredis.Tx) error {
		raw, err := tx.HGet(ctx, recKey, field).Bytes()
		if err != nil || !bytes.Equal(raw, after) {
			return err // gone, or changed since: leave it
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			writeFollowup(ctx, p, id, cur, prev, before)
			return nil
		})
		return err
	}, recKey)
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	return err
}

// OpenByOwner implements bot.FollowupStore.
func (s *Followups) OpenByOwner(ctx context.Context, user string) ([]bot.Followup, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	ids, err := s.c.SMembers(ctx, followupOwnerPref+user).Result()
	if err != nil {
		return nil, fmt.Errorf("list follow-ups of %s: %w", user, err)
	}
	out, err := s.fetch(ctx, ids)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := openScore(&out[i]), openScore(&out[j])
		if a != b {
			return a < b
		}
		if out[i].Incident != out[j].Incident {
			return incidentNumber(out[i].Incident) < incidentNumber(out[j].Incident)
		}
		return out[i].Number < out[j].Number
	})
	return out, nil
}

// OpenDueBy implements bot.FollowupStore.
func (s *Followups) OpenDueBy(ctx context.Context, t time.Time) ([]bot.Followup, error) {
	return s.byScore(ctx, followupOpenKey, t, followupFetchMax)
}

// RemindDue implements bot.FollowupStore.
func (s *Followups) RemindDue(ctx context.Context, t time.Time, limit int) ([]bot.Followup, error) {
	return s.byScore(ctx, followupRemindKey, t, limit)
}

// SyncDue implements bot.FollowupStore.
func (s *Followups) SyncDue(ctx context.Context, t time.Time, limit int) ([]bot.Followup, error) {
	return s.byScore(ctx, followupSyncKey, t, limit)
}

func (s *Followups) byScore(ctx context.Context, key string, t time.Time, limit int) ([]bot.Followup, error) {
	ctx, cancel := withTimeout(ctx, opTimeout)
	defer cancel()
	if limit <= 0 || limit > followupFetchMax {
		limit = followupFetchMax
	}
	ids, err := s.c.ZRangeByScore(ctx, key, &goredis.ZRangeBy{Min: "-inf", Max: timeScore(t), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("list follow-ups due by %s: %w", t.Format(time.RFC3339), err)
	}
	return s.fetch(ctx, ids)
}

// fetch reads the records of ids in one pipeline, in the order given,
// skipping any that no longer exist.
func (s *Followups) fetch(ctx context.Context, ids []string) ([]bot.Followup, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.StringCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			inc, n, err := bot.ParseFollowupID(id)
			if err != nil {
				cmds[i] = nil
				continue
			}
			cmds[i] = p.HGet(ctx, followupRecPrefix+inc, strconv.Itoa(n))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("read follow-ups: %w", err)
	}
	out := make([]bot.Followup, 0, len(ids))
	for i, c := range cmds {
		if c == nil {
			continue
		}
		raw, err := c.Bytes()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read follow-up %s: %w", ids[i], err)
		}
		f, err := decodeFollowup(ids[i], raw)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func indexTime(ctx context.Context, p goredis.Pipeliner, key, id string, t time.Time) {
	if t.IsZero() {
		p.ZRem(ctx, key, id)
		return
	}
	p.ZAdd(ctx, key, goredis.Z{Score: float64(t.Unix()), Member: id})
}

// openScore orders open follow-ups by due date, undated ones last.
func openScore(f *bot.Followup) float64 {
	if f.DueAt.IsZero() {
		return followupUndated
	}
	return float64(f.DueAt.Unix())
}

// timeScore is a sorted-set score for t (whole seconds), "" for the zero time.
func timeScore(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func incidentNumber(key string) int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(key, "INC-"), 10, 64)
	return n
}

func decodeFollowup(id string, raw []byte) (bot.Followup, error) {
	var f bot.Followup
	if err := json.Unmarshal(raw, &f); err != nil {
		return bot.Followup{}, fmt.Errorf("decode follow-up %s: %w", id, err)
	}
	return f, nil
}
