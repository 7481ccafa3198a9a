package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Runbook keys. Approvals and locks are independent keys (any slot); the
// audit trail is one stream so that it reads in order.
const (
	// AuditStream is the append-only runbook audit trail.
	AuditStream        = "opsbot:audit"
	runbookApprovalPre = "opsbot:runbook:approval:"
	runbookLockPre     = "opsbot:runbook:lock:"
	// runbookPendingKey is a sorted set of pending approval IDs scored by
	// their expiry (Unix milliseconds), for the expiry sweeper.
	runbookPendingKey = "opsbot:runbook:approvals:pending"
	// runbookRunningPre + user ID is a sorted set of that person's running
	// runs (JSON bot.RunSlot) scored by their expiry (Unix milliseconds).
	runbookRunningPre = "opsbot:runbook:running:"
)

// runLockReleaseScript deletes a lock only if it still holds our token, so that a
// run whose lock expired cannot release the lock of the run after it.
var runLockReleaseScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, rec = pcall(cjson.decode, v)
if ok and rec['token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// runSlotScript takes a slot in one person's set of running runs if fewer
// than the limit are running, dropping runs whose expiry has passed (their
// replica died without releasing them). One key, so it is atomic across
// replicas and Cluster-safe. The set itself lives as long as its longest
// run (relative to the caller's clock, like the scores). KEYS[1]: the set;
// ARGV: now (ms), limit, the slot (JSON), its expiry (ms). Returns {1} when
// taken, {0, members…} when full.
var runSlotScript = goredis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local running = redis.call('ZRANGE', KEYS[1], 0, -1)
if #running >= tonumber(ARGV[2]) then
  table.insert(running, 1, 0)
  return running
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], string.format('%d', tonumber(last[2]) - tonumber(ARGV[1])))
return {1}
`)

// Runbooks stores runbook approvals (single-use keys with a TTL), the
// append-only audit trail (a stream) and run locks (keys naming their
// holder).
//
// Taking an approval, a run lock or a run slot counts once the replicas the
// store's Durability asks for have it: a failover cannot bring a used
// approval back, nor free a lock a run holds, nor let a person run more at
// once than the limit. So do the audit records that let a run go ahead
// (approval requested, approval granted, started): one the replicas do not
// confirm is removed again and reported as an error, and nothing runs
// unaudited. The other audit records (outcomes, refusals) record what
// already happened: they wait for the replicas too but stand when they are
// slow (logged), and a failover in that moment can lose one.
type Runbooks struct {
	rdb goredis.UniversalClient
	rep *replicas
	log *zap.Logger
}

var (
	_ bot.ApprovalStore = (*Runbooks)(nil)
	_ bot.AuditLog      = (*Runbooks)(nil)
	_ bot.RunLocks      = (*Runbooks)(nil)
	_ bot.RunSlots      = (*Runbooks)(nil)
)

// NewRunbooks returns the runbook store over rdb.
func NewRunbooks(rdb goredis.UniversalClient, opts ...Option) (*Runbooks, error) {
	if rdb == nil {
		return nil, errors.New("redis runbooks: nil client")
	}
	o := applyOptions(opts)
	return &Runbooks{rdb: rdb, rep: newReplicas(rdb, o, false), log: o.log}, nil
}

// PutApproval implements bot.ApprovalStore.
func (s *Runbooks) PutApproval(ctx context.Context, a bot.PendingApproval, ttl time.Duration) error {
	if a.ID == "" {
		return errors.New("put approval: empty ID")
	}
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode approval %s: %w", a.ID, err)
	}
	ok, err := s.rdb.SetNX(ctx, runbookApprovalPre+a.ID, data, ttl).Result()
	if err != nil {
		return fmt.Errorf("put approval %s: %w", a.ID, err)
	}
	if !ok {
		return fmt.Errorf("put approval %s: an approval with this ID exists", a.ID)
	}
	z := goredis.Z{Score: float64(a.ExpiresAt.UnixMilli()), Member: a.ID}
	if err := s.rdb.ZAdd(ctx, runbookPendingKey, z).Err(); err != nil {
		return fmt.Errorf("put approval %s: index expiry: %w", a.ID, err)
	}
	return nil
}

// SetApprovalMessage implements bot.ApprovalStore with an optimistic
// transaction on the one key: an approval taken meanwhile is never written
// back, so it cannot be approved twice.
func (s *Runbooks) SetApprovalMessage(ctx context.Context, id string, ref bot.MessageRef) (bool, error) {
	key := runbookApprovalPre + id
	ok := false
	txf := func(tx *goredis.Tx) error {
		raw, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, goredis.Nil) {
			ok = false
			return nil
		}
		if err != nil {
			return err
		}
		var a bot.PendingApproval
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		a.Message = ref
		data, err := json.Marshal(a)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, key, data, goredis.KeepTTL)
			return nil
		})
		ok = err == nil
		return err
	}
	for attempt := 0; attempt < 5; attempt++ {
		err := s.rdb.Watch(ctx, txf, key)
		if errors.Is(err, goredis.TxFailedErr) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("set approval %s message: %w", id, err)
		}
		return ok, nil
	}
	return false, fmt.Errorf("set approval %s message: contended", id)
}

// ExpiredApprovals implements bot.ApprovalStore.
func (s *Runbooks) ExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, runbookPendingKey, &goredis.ZRangeBy{
		Min: "-inf", Max: "(" + strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("list expired approvals: %w", err)
	}
	return ids, nil
}

// PeekApproval implements bot.ApprovalStore.
func (s *Runbooks) PeekApproval(ctx context.Context, id string) (bot.PendingApproval, bool, error) {
	raw, err := s.rdb.Get(ctx, runbookApprovalPre+id).Bytes()
	return decodeApproval(id, "peek", raw, err)
}

// TakeApproval implements bot.ApprovalStore with GETDEL: of any number of
// concurrent clicks on any replicas, exactly one gets the approval. When
// the replicas do not confirm the take in time it fails closed: the
// approval is used up and nothing runs (an error wrapping
// ErrNotReplicated), since a failover could otherwise bring it back for a
// second run.
func (s *Runbooks) TakeApproval(ctx context.Context, id string) (bot.PendingApproval, bool, error) {
	var get *goredis.StringCmd
	key := runbookApprovalPre + id
	werr := s.rep.do(ctx, key, func(ctx context.Context, c goredis.Cmdable) error {
		get = c.GetDel(ctx, key)
		return nil
	})
	raw, err := get.Bytes()
	if werr != nil && err == nil {
		err = werr
	}
	// The ZREM needs no atomicity with the take: taken or gone, the
	// approval is no longer pending, and a failed ZREM only leaves an
	// entry the sweeper drops next time.
	_ = s.rdb.ZRem(ctx, runbookPendingKey, id).Err()
	return decodeApproval(id, "take", raw, err)
}

func decodeApproval(id, op string, raw []byte, err error) (bot.PendingApproval, bool, error) {
	if errors.Is(err, goredis.Nil) {
		return bot.PendingApproval{}, false, nil
	}
	if err != nil {
		return bot.PendingApproval{}, false, fmt.Errorf("%s approval %s: %w", op, id, err)
	}
	var a bot.PendingApproval
	if err := json.Unmarshal(raw, &a); err != nil {
		return bot.PendingApproval{}, false, fmt.Errorf("%s approval %s: decode: %w", op, id, err)
	}
	return a, true, nil
}

// AppendAudit implements bot.AuditLog: one XADD to AuditStream, never
// trimmed. The record is stored whole as JSON, with a few fields copied out
// so that redis-cli XRANGE is readable.
func (s *Runbooks) AppendAudit(ctx context.Context, rec bot.AuditRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode audit record %s: %w", rec.ID, err)
	}
	values := []any{
		"event", string(rec.Event), "runbook", rec.Runbook, "user", rec.User, "channel", rec.Channel,
		"decision", rec.Decision, "record", data,
	}
	if rec.ExitCode != nil {
		values = append(values, "exit_code", strconv.Itoa(*rec.ExitCode))
	}
	var id string
	err = s.rep.do(ctx, AuditStream, func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		id, err = c.XAdd(ctx, &goredis.XAddArgs{Stream: AuditStream, Values: values}).Result()
		return err
	})
	if errors.Is(err, ErrNotReplicated) && id != "" {
		if !auditGates[rec.Event] {
			s.log.Warn("runbook audit record not yet on every replica; a failover now would lose it",
				zap.String("run_id", rec.RunID), zap.String("audit_event", string(rec.Event)), zap.Error(err))
			return nil
		}
		s.rep.giveBack(ctx, AuditStream, func(ctx context.Context, c goredis.Cmdable) error {
			return c.XDel(ctx, AuditStream, id).Err()
		})
	}
	if err != nil {
		return fmt.Errorf("append audit record %s (%s %s): %w", rec.ID, rec.Event, rec.Runbook, err)
	}
	return nil
}

// auditGates are the audit events a run waits for: the caller refuses to
// go on when they cannot be made safe, so an unconfirmed one is removed
// rather than left to claim that something happened.
var auditGates = map[bot.AuditEvent]bool{
	bot.AuditApprovalRequested: true, bot.AuditApprovalGranted: true, bot.AuditStarted: true,
}

// RecentAudit implements bot.AuditLog.
func (s *Runbooks) RecentAudit(ctx context.Context, n int) ([]bot.AuditRecord, error) {
	if n <= 0 {
		return nil, nil
	}
	msgs, err := s.rdb.XRevRangeN(ctx, AuditStream, "+", "-", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("read audit stream: %w", err)
	}
	out := make([]bot.AuditRecord, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		raw, _ := msgs[i].Values["record"].(string)
		var rec bot.AuditRecord
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return nil, fmt.Errorf("decode audit entry %s: %w", msgs[i].ID, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

type lockValue struct {
	bot.RunLockHolder
	Token string `json:"token"`
}

// AcquireRunLock implements bot.RunLocks with SET NX PX; the value names the
// holder so that a refused attempt can say who it is. A lock the replicas
// did not confirm in time is given back and reported as an error wrapping
// ErrNotReplicated.
func (s *Runbooks) AcquireRunLock(ctx context.Context, key string, h bot.RunLockHolder, ttl time.Duration) (func(), bot.RunLockHolder, bool, error) {
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, bot.RunLockHolder{}, false, fmt.Errorf("run lock %q: token: %w", key, err)
	}
	token := hex.EncodeToString(tok[:])
	data, err := json.Marshal(lockValue{RunLockHolder: h, Token: token})
	if err != nil {
		return nil, bot.RunLockHolder{}, false, fmt.Errorf("run lock %q: encode: %w", key, err)
	}
	k := runbookLockPre + key
	// Twice: the holder's lock may expire between our SET and GET.
	for attempt := 0; attempt < 2; attempt++ {
		ok, err := s.rep.setNX(ctx, k, data, ttl)
		if err != nil {
			return nil, bot.RunLockHolder{}, false, fmt.Errorf("run lock %q: %w", key, err)
		}
		if ok {
			release := func() {
				rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = runLockReleaseScript.Run(rctx, s.rdb, []string{k}, token).Err()
			}
			return sync.OnceFunc(release), bot.RunLockHolder{}, true, nil
		}
		raw, err := s.rdb.Get(ctx, k).Bytes()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return nil, bot.RunLockHolder{}, false, fmt.Errorf("run lock %q: read holder: %w", key, err)
		}
		var held lockValue
		if err := json.Unmarshal(raw, &held); err != nil {
			return nil, bot.RunLockHolder{}, false, fmt.Errorf("run lock %q: decode holder: %w", key, err)
		}
		return nil, held.RunLockHolder, false, nil
	}
	return nil, bot.RunLockHolder{}, false, fmt.Errorf("run lock %q: contended, try again", key)
}

// AcquireRunSlot implements bot.RunSlots with one script over a sorted set
// per person. A slot the replicas do not confirm in time is given back and
// reported as an error wrapping ErrNotReplicated.
func (s *Runbooks) AcquireRunSlot(ctx context.Context, user string, limit int, slot bot.RunSlot, now time.Time, ttl time.Duration) (func(), []bot.RunSlot, bool, error) {
	if user == "" || limit <= 0 {
		return nil, nil, false, fmt.Errorf("run slot for %q: need a user and a positive limit", user)
	}
	member, err := json.Marshal(slot)
	if err != nil {
		return nil, nil, false, fmt.Errorf("run slot for %s: encode: %w", user, err)
	}
	key := runbookRunningPre + user
	var res []any
	err = s.rep.claim(ctx, key, func(ctx context.Context, c goredis.Cmdable) error {
		var err error
		res, err = runSlotScript.Run(ctx, c, []string{key}, now.UnixMilli(), limit, member, now.Add(ttl).UnixMilli()).Slice()
		return err
	}, func(ctx context.Context, c goredis.Cmdable) error {
		if len(res) == 0 || res[0] != int64(1) {
			return nil
		}
		return c.ZRem(ctx, key, string(member)).Err()
	})
	if errors.Is(err, ErrNotReplicated) && (len(res) == 0 || res[0] != int64(1)) {
		err = nil // full: nothing was taken, and the answer stands
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("run slot for %s: %w", user, err)
	}
	if len(res) > 0 && res[0] == int64(1) {
		release := func() {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.rdb.ZRem(rctx, key, string(member)).Err()
		}
		return sync.OnceFunc(release), nil, true, nil
	}
	var running []bot.RunSlot
	for _, m := range res[1:] {
		raw, _ := m.(string)
		var r bot.RunSlot
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, nil, false, fmt.Errorf("run slot for %s: decode: %w", user, err)
		}
		running = append(running, r)
	}
	return nil, running, false, nil
}
