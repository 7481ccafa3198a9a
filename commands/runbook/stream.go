package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/runbooks"
)

// errStorage answers when the lock or the audit trail cannot be written:
// runbooks fail closed.
func errStorage(name string) error {
	return bot.Userf("`%s` was not run: the run lock or audit trail is unavailable right now, and nothing runs without them. Try again in a minute.", name)
}

// runSpec is a run that has passed every check.
type runSpec struct {
	inv   *runbooks.Invocation
	audit bot.AuditRecord // RunID, requester, channel, argv, approver, incident
	// rule is the permission that let it run, for the audit record.
	rule    string
	channel string
	// threadTS is the approval message to reply under; empty posts a new
	// header message.
	threadTS string
}

// start takes the run lock, writes the "started" record and starts the
// process; the output is streamed by a goroutine the service tracks. It
// fails closed: without the lock or the audit record nothing runs.
func (s *Service) start(ctx context.Context, rs runSpec) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return bot.Userf("opsbot is shutting down; `%s` was not run. Try again in a minute.", rs.inv.Runbook.Name)
	}
	s.wg.Add(1) // under mu, so Wait cannot miss a run being started
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			s.wg.Done()
		}
	}()

	rb, inv := rs.inv.Runbook, rs.inv
	now := s.cfg.Clock.Now().UTC()
	// The requester's limit first: a refused run must not hold the lock
	// even briefly.
	releaseSlot, err := s.takeSlot(ctx, rs, now)
	if err != nil {
		return err
	}
	holder := bot.RunLockHolder{User: rs.audit.User, Runbook: rb.Name, RunID: rs.audit.RunID, Since: now}
	lctx, cancel := context.WithTimeout(ctx, ioTimeout)
	releaseLock, held, ok, err := s.cfg.Locks.AcquireRunLock(lctx, inv.LockKey, holder, rb.Timeout+time.Minute)
	cancel()
	var once sync.Once
	release := func() {
		once.Do(func() {
			if releaseLock != nil {
				releaseLock()
			}
			releaseSlot()
		})
	}
	if err != nil {
		releaseSlot()
		bot.Logger(ctx).Error("run lock unavailable; runbook not started", zap.String("runbook", rb.Name),
			zap.String("lock", inv.LockKey), zap.Error(err))
		return errStorage(rb.Name)
	}
	if !ok {
		releaseSlot()
		rec := rs.audit
		rec.Event, rec.Decision = bot.AuditRefused, "refused"
		rec.Rule = fmt.Sprintf("lock %s held by %s (run %s)", inv.LockKey, held.User, held.RunID)
		_ = s.record(ctx, rec)
		return bot.Userf("`%s` is already running: %s started `%s` %s ago (lock `%s`). Try again when it has finished.",
			rb.Name, bot.MentionUser(held.User), held.Runbook, s.cfg.Clock.Now().Sub(held.Since).Round(time.Second), inv.LockKey)
	}
	rec := rs.audit
	rec.Event, rec.Decision, rec.Rule = bot.AuditStarted, "allowed", rs.rule
	if err := s.record(ctx, rec); err != nil {
		// Nothing runs unaudited; record already logged the cause.
		release()
		return errStorage(rb.Name)
	}
	runCtx := bot.WithLogger(s.base, s.log.With(zap.String("run_id", rs.audit.RunID), zap.String("runbook", rb.Name)))
	proc, err := s.exec.Start(runCtx, inv)
	if err != nil {
		release()
		f := rs.audit
		f.Event, f.Decision, f.Rule = bot.AuditFailed, "allowed", err.Error()
		_ = s.record(ctx, f)
		if errors.Is(err, runbooks.ErrMissingCommand) {
			return bot.Userf("`%s` cannot run here: %s.", rb.Name, rb.Missing)
		}
		if errors.Is(err, runbooks.ErrNoNamespaces) {
			return bot.Userf("`%s` was not run: runbooks must run in their own PID namespace here (runbooks.isolation: namespace), and this host refuses one. `opsbot doctor` says why.", rb.Name)
		}
		return err
	}
	started = true
	s.isolationLogged.Do(func() {
		st := s.exec.Isolation()
		if st.Mode == runbooks.IsolationGroup {
			s.log.Warn("runbook runs are held together by their process group only: a runbook that calls setsid and clears its environment can outlive its run",
				zap.String("reason", st.Reason))
		} else {
			s.log.Info("runbook runs each get their own PID namespace", zap.String("isolation", st.Detail))
		}
	})
	go func() {
		defer s.wg.Done()
		defer release()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("runbook streaming panicked", zap.String("run_id", rs.audit.RunID), zap.Any("panic", p))
				proc.Wait()
			}
		}()
		s.stream(runCtx, rs, proc, release)
	}()
	return nil
}

// takeSlot counts the run against its requester's limit of concurrent
// runs, across replicas. It fails closed: without the count nothing runs.
func (s *Service) takeSlot(ctx context.Context, rs runSpec, now time.Time) (release func(), err error) {
	rb := rs.inv.Runbook
	slot := bot.RunSlot{RunID: rs.audit.RunID, Runbook: rb.Name, Since: now}
	sctx, cancel := context.WithTimeout(ctx, ioTimeout)
	release, running, ok, err := s.cfg.Slots.AcquireRunSlot(sctx, rs.audit.User, s.cfg.MaxRunsPerPerson, slot, now, rb.Timeout+time.Minute)
	cancel()
	if err != nil {
		bot.Logger(ctx).Error("run count unavailable; runbook not started", zap.String("runbook", rb.Name), zap.Error(err))
		return nil, errStorage(rb.Name)
	}
	if ok {
		return release, nil
	}
	rec := rs.audit
	rec.Event, rec.Decision = bot.AuditRefused, "refused"
	rec.Rule = fmt.Sprintf("limit of %d concurrent runs per person reached", s.cfg.MaxRunsPerPerson)
	_ = s.record(ctx, rec)
	list := make([]string, 0, len(running))
	for _, r := range running {
		list = append(list, fmt.Sprintf("`%s` (started %s ago)", r.Runbook, now.Sub(r.Since).Round(time.Second)))
	}
	return nil, bot.Userf("%s already has %d runbooks running, the most one person may run at once: %s. `%s` was not run; try again when one has finished.",
		bot.MentionUser(rs.audit.User), len(running), strings.Join(list, ", "), rb.Name)
}

// stream posts the run's messages: a header (unless replying under the
// approval), one output message in the thread updated at most every
// UpdateEvery with the output's tail, then the final summary, a file when
// the output did not fit, and the final audit record.
func (s *Service) stream(ctx context.Context, rs runSpec, proc *runbooks.Process, release func()) {
	log := bot.Logger(ctx)
	rb := rs.inv.Runbook
	bg := context.WithoutCancel(ctx)
	post := func(m bot.Message) bot.MessageRef {
		c, cancel := context.WithTimeout(bg, ioTimeout)
		defer cancel()
		ref, err := s.cfg.Chat.Post(c, m)
		if err != nil {
			log.Warn("runbook message not posted", zap.Error(err))
		}
		return ref
	}
	update := func(ref bot.MessageRef, m bot.Message) {
		if ref.TS == "" {
			return
		}
		c, cancel := context.WithTimeout(bg, ioTimeout)
		defer cancel()
		if err := s.cfg.Chat.Update(c, ref, m); err != nil {
			log.Warn("runbook message not updated", zap.Error(err))
		}
	}

	header := headerMessage(rs, "running")
	var headerRef bot.MessageRef
	thread := rs.threadTS
	if thread == "" {
		headerRef = post(header)
		thread = headerRef.TS
	}
	outMsg := func(text, output string) bot.Message {
		return bot.Message{Channel: rs.channel, ThreadTS: thread, Text: text, Code: tail(output, s.cfg.MessageBytes)}
	}
	outRef := post(outMsg(":hourglass_flowing_sand: running…", ""))

	ticks, stop := s.cfg.NewTicker(s.cfg.UpdateEvery)
	defer stop()
	var last time.Time
	shown := ""
loop:
	for {
		select {
		case <-proc.Done():
			break loop
		case now := <-ticks:
			if !last.IsZero() && now.Sub(last) < s.cfg.UpdateEvery {
				continue
			}
			snap := proc.Snapshot()
			if snap == shown {
				continue
			}
			shown, last = snap, now
			update(outRef, outMsg(":hourglass_flowing_sand: running…", snap))
		}
	}
	res := proc.Wait()
	// The process is gone: free the requester's slot and the lock before
	// saying so, so that whoever reads "finished" may start the next run.
	release()
	summary := summaryText(rb, res)
	update(outRef, outMsg(summary, res.Output))
	if headerRef.TS != "" {
		update(headerRef, headerMessage(rs, summary))
	}
	if len(res.Output) > s.cfg.MessageBytes {
		c, cancel := context.WithTimeout(bg, 30*time.Second)
		err := s.cfg.Chat.Upload(c, bot.File{
			Channel: rs.channel, ThreadTS: thread, Name: rb.Name + "-" + shortID(rs.audit.RunID) + ".log",
			Title: "Output of " + rb.Name, Content: []byte(res.Output), Comment: "Full output (redacted).",
		})
		cancel()
		if err != nil {
			log.Warn("runbook output file not uploaded", zap.Error(err))
		}
	}
	rec := rs.audit
	rec.Decision, rec.Rule = "allowed", rs.rule
	switch {
	case res.TimedOut:
		rec.Event = bot.AuditTimedOut
	case res.Killed:
		rec.Event = bot.AuditKilled
	default:
		rec.Event = bot.AuditFinished
	}
	code := res.ExitCode
	rec.ExitCode, rec.Duration, rec.OutputDigest, rec.OutputBytes = &code, res.Duration, res.Digest, res.TotalBytes
	_ = s.record(bg, rec)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
