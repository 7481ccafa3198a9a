// Package runbook is the /runbook command family: list the runbooks a user
// may run, show one, run one (or dry-run it), ask for and take approvals
// with buttons any replica can handle, and stream the output into a thread.
// Every attempt, allowed or refused, is written to the audit log and, in an
// incident channel, to the incident's timeline.
package runbook

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/runbooks"
)

// Action IDs of the approval buttons.
const (
	ActionApprove = "runbook.approve"
	ActionDeny    = "runbook.deny"
)

// Defaults.
const (
	DefaultUpdateEvery = 2 * time.Second
	// DefaultMessageBytes is how much output tail the thread message shows;
	// Slack sections hold 3,000 characters, so the rest goes to a file.
	DefaultMessageBytes = 2800
	// approvalGrace keeps an expired approval in the store a while so that a
	// late click is audited as expired with its details.
	approvalGrace = time.Hour
	ioTimeout     = 10 * time.Second
	// DefaultMaxRunsPerPerson is how many runbooks one person may have
	// running at once, across replicas.
	DefaultMaxRunsPerPerson = 3
)

// Config configures the /runbook family.
type Config struct {
	Catalog   *runbooks.Catalog
	Chat      bot.Chat
	Approvals bot.ApprovalStore
	Audit     bot.AuditLog
	Locks     bot.RunLocks
	// Slots counts each person's running runs across replicas.
	Slots bot.RunSlots
	// Timeline receives runbook events for runs in incident channels.
	Timeline bot.Timeline
	// Incidents tells incident channels apart; nil means none are.
	Incidents bot.IncidentLocator
	// Admins may run every runbook and approve any approval.
	Admins []string
	// TeamID is the workspace; users of other teams are refused.
	TeamID string
	Clock  bot.Clock
	IDs    bot.IDs
	Logger *zap.Logger
	// Redact are extra output redaction patterns (regular expressions).
	Redact []string
	// MaxOutput is how many bytes of output are kept (default 256 KiB).
	MaxOutput int
	// ApprovalTTL is how long an approval request stays valid (default 15m).
	ApprovalTTL time.Duration
	// UpdateEvery is the minimum time between progress updates (default 2s).
	UpdateEvery time.Duration
	// NewTicker drives progress updates; tests inject their own ticks.
	// Default: time.NewTicker.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
	// MessageBytes is how much of the output's tail the message shows.
	MessageBytes int
	// GroupCacheTTL is how long user group members are cached (default 30s).
	GroupCacheTTL time.Duration
	// LookupEnv reads the variables runbooks pass through (default
	// os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// SweepEvery is how often approvals that expired unanswered are
	// audited and their messages marked (default 30s; negative: never).
	SweepEvery time.Duration
	// MaxRunsPerPerson is how many runbooks one person may have running at
	// once, across replicas (default DefaultMaxRunsPerPerson).
	MaxRunsPerPerson int
	// Secrets are the bot's own credentials, redacted from every run's
	// output in their common forms (see runbooks.ExecConfig.Secrets).
	Secrets []string
	// Isolation is how runs are held together (default auto: a PID
	// namespace where the kernel allows it, else the process group).
	Isolation runbooks.Isolation
	// Resolver looks up host parameters (default the system resolver).
	Resolver runbooks.Resolver
}

// Service implements /runbook.
type Service struct {
	cfg    Config
	log    *zap.Logger
	policy *runbooks.Policy
	exec   *runbooks.Executor

	base       context.Context
	cancel     context.CancelFunc
	sweepEvery time.Duration
	sweepCtx   context.Context // ended by Wait
	stopSweep  context.CancelFunc
	sweeperWG  sync.WaitGroup
	wg         sync.WaitGroup
	mu         sync.Mutex
	closed     bool
	// isolationLogged: the isolation runs get has been logged once.
	isolationLogged sync.Once
}

// New validates cfg and returns the service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Catalog == nil:
		return nil, errors.New("runbook: Catalog is required")
	case cfg.Chat == nil:
		return nil, errors.New("runbook: Chat is required")
	case cfg.Approvals == nil || cfg.Audit == nil || cfg.Locks == nil || cfg.Slots == nil:
		return nil, errors.New("runbook: Approvals, Audit, Locks and Slots are required")
	case cfg.MaxRunsPerPerson < 0:
		return nil, errors.New("runbook: MaxRunsPerPerson must not be negative")
	}
	if cfg.MaxRunsPerPerson == 0 {
		cfg.MaxRunsPerPerson = DefaultMaxRunsPerPerson
	}
	if cfg.Clock == nil {
		cfg.Clock = bot.SystemClock
	}
	if cfg.IDs == nil {
		cfg.IDs = bot.RandomIDs
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ApprovalTTL <= 0 {
		cfg.ApprovalTTL = runbooks.DefaultApprovalTTL
	}
	if cfg.UpdateEvery <= 0 {
		cfg.UpdateEvery = DefaultUpdateEvery
	}
	if cfg.MessageBytes <= 0 {
		cfg.MessageBytes = DefaultMessageBytes
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	ex, err := runbooks.NewExecutor(runbooks.ExecConfig{MaxOutput: cfg.MaxOutput, Redact: cfg.Redact, LookupEnv: cfg.LookupEnv,
		Secrets: cfg.Secrets, Isolation: cfg.Isolation})
	if err != nil {
		return nil, fmt.Errorf("runbook: %w", err)
	}
	s := &Service{
		cfg:  cfg,
		log:  cfg.Logger,
		exec: ex,
		policy: runbooks.NewPolicy(runbooks.PolicyConfig{
			Admins: cfg.Admins, TeamID: cfg.TeamID, Directory: cfg.Chat,
			Clock: cfg.Clock, GroupCacheTTL: cfg.GroupCacheTTL,
		}),
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.sweepCtx, s.stopSweep = context.WithCancel(s.base)
	s.sweepEvery = cfg.SweepEvery
	if s.sweepEvery == 0 {
		s.sweepEvery = 30 * time.Second
	}
	return s, nil
}

// Run sweeps approvals that expired unanswered, every SweepEvery, until ctx
// ends or Wait is called. Every replica sweeps; the atomic take makes each
// expiry recorded once.
func (s *Service) Run(ctx context.Context) error {
	if s.sweepEvery < 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.sweepCtx, cancel)()
	s.sweeperWG.Add(1)
	s.sweepLoop(ctx, s.sweepEvery)
	return nil
}

// sweepLoop runs sweepExpired until ctx ends.
func (s *Service) sweepLoop(ctx context.Context, every time.Duration) {
	defer s.sweeperWG.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweepOnce(ctx)
		}
	}
}

// sweepOnce runs one sweep; a panic is logged and the next tick tries again
// rather than the process going down with a background goroutine.
func (s *Service) sweepOnce(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("approval sweep panicked", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
		}
	}()
	if err := s.sweepExpired(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("expired approvals not swept", zap.Error(err))
	}
}

// Register adds /runbook and its buttons to r.
func (s *Service) Register(r *bot.Router) {
	r.Family(&bot.Family{
		Name:        "/runbook",
		Description: "run whitelisted operational commands",
		Commands: []bot.Command{
			{Name: "list", Aliases: []string{"ls"}, Usage: "list", Description: "runbooks you may run", Handler: s.list},
			{Name: "show", Aliases: []string{"info"}, Usage: "show NAME", Description: "parameters, who may run it, whether it needs approval",
				Parse: bot.Parser(s.parseShow), Handler: bot.WithParsed(s.show)},
			{
				Name: "run", Usage: "run NAME [key=value …] [--dry-run]",
				Description: "run a runbook (with --dry-run: show the exact command and decision only)",
				Examples:    []string{"/runbook run restart-deployment deployment=checkout namespace=staging --dry-run"},
				Parse:       bot.Parser(parseRun),
				Handler:     bot.WithParsed(s.run),
			},
		},
	})
	r.Action(ActionApprove, s.approve)
	r.Action(ActionDeny, s.deny)
}

// Wait stops taking new runs and waits for running ones to finish. When ctx
// ends first, the remaining runs are killed (their process groups too) and
// recorded as killed.
func (s *Service) Wait(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stopSweep()
	s.sweeperWG.Wait()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		return fmt.Errorf("runbook runs killed at shutdown: %w", ctx.Err())
	}
}

func (s *Service) caller(req *bot.Request) runbooks.Caller {
	return runbooks.Caller{User: req.UserID, Team: req.TeamID, Channel: req.ChannelID}
}

// incident returns the incident key of channel, or "".
func (s *Service) incident(ctx context.Context, channel string) string {
	if s.cfg.Incidents == nil || channel == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	key, ok, err := s.cfg.Incidents.IncidentForChannel(ctx, channel)
	if err != nil {
		bot.Logger(ctx).Warn("incident lookup failed; runbook not linked to an incident", zap.String("channel", channel), zap.Error(err))
		return ""
	}
	if !ok {
		return ""
	}
	return key
}

// record appends rec to the audit log and, in an incident channel, to the
// incident's timeline. The audit error is returned so that a run can refuse
// to start unaudited.
func (s *Service) record(ctx context.Context, rec bot.AuditRecord) error {
	rec.ID = s.cfg.IDs.New().String()
	rec.Time = s.cfg.Clock.Now().UTC()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ioTimeout)
	defer cancel()
	log := s.log.With(zap.String("run_id", rec.RunID), zap.String("runbook", rec.Runbook),
		zap.String("audit_event", string(rec.Event)), zap.String("user", rec.User), zap.String("incident", rec.Incident))
	err := s.cfg.Audit.AppendAudit(actx, rec)
	if err != nil {
		log.Error("runbook audit record not written", zap.Error(err))
		err = fmt.Errorf("append audit %s for runbook %q: %w", rec.Event, rec.Runbook, err)
	} else {
		log.Info("runbook audit", zap.String("decision", rec.Decision), zap.String("rule", rec.Rule))
	}
	if rec.Incident != "" && s.cfg.Timeline != nil && rec.Event != bot.AuditDryRun {
		if terr := s.cfg.Timeline.Append(actx, timelineEvent(s.cfg.IDs.New(), rec)); terr != nil {
			log.Error("runbook event not added to the incident timeline", zap.Error(terr))
		}
	}
	return err
}
