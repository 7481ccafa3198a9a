package bot

import (
	"context"
	"time"
)

// Ports of the /runbook family that shared storage (Redis) implements. They
// are here rather than in the command package so that integrations can
// implement them without importing commands.

// PendingApproval is a runbook run waiting for someone to approve it. It is
// bound to the exact argv it would run: ArgvHash is checked again when the
// approval is taken, so a changed request needs a new approval.
type PendingApproval struct {
	// ID is the approval's identifier, carried by the Approve/Deny buttons.
	ID      string `json:"id"`
	Runbook string `json:"runbook"`
	// Params are the validated parameter values, defaults filled in.
	Params   map[string]string `json:"params"`
	Argv     []string          `json:"argv"`
	ArgvHash string            `json:"argv_hash"`
	// Requester is the Slack user ID who asked for the run.
	Requester string `json:"requester"`
	TeamID    string `json:"team_id"`
	Channel   string `json:"channel"`
	// Rule says why approval is needed, e.g. "namespace=prod".
	Rule      string    `json:"rule"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is enforced with the injected clock when a button is
	// clicked; the store keeps the record a little longer so that a late
	// click can still be audited as "expired" with its details.
	ExpiresAt time.Time `json:"expires_at"`
	// Message is the posted approval request, updated when it expires.
	Message MessageRef `json:"message"`
}

// ApprovalStore keeps pending approvals where every replica can see them.
type ApprovalStore interface {
	// PutApproval stores a for at most ttl.
	PutApproval(ctx context.Context, a PendingApproval, ttl time.Duration) error
	// PeekApproval reads a pending approval without consuming it; ok is false
	// when there is none with that ID (never requested, taken or evicted).
	PeekApproval(ctx context.Context, id string) (a PendingApproval, ok bool, err error)
	// TakeApproval atomically reads and deletes a pending approval, so that
	// exactly one click (on any replica) gets it; the others get ok false.
	TakeApproval(ctx context.Context, id string) (a PendingApproval, ok bool, err error)
	// SetApprovalMessage records where the request was posted, if the
	// approval is still pending; ok is false when it was already taken.
	SetApprovalMessage(ctx context.Context, id string, ref MessageRef) (ok bool, err error)
	// ExpiredApprovals lists up to limit IDs of pending approvals whose
	// ExpiresAt is before now, so that a sweeper can take and audit them.
	ExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// AuditEvent says what happened to a runbook attempt.
type AuditEvent string

// Audit events, one record each.
const (
	AuditRefused           AuditEvent = "refused"
	AuditDryRun            AuditEvent = "dry_run"
	AuditApprovalRequested AuditEvent = "approval_requested"
	AuditApprovalGranted   AuditEvent = "approval_granted"
	AuditApprovalDenied    AuditEvent = "approval_denied"
	AuditApprovalExpired   AuditEvent = "approval_expired"
	AuditStarted           AuditEvent = "started"
	AuditFinished          AuditEvent = "finished"
	AuditFailed            AuditEvent = "failed" // could not be started
	AuditTimedOut          AuditEvent = "timed_out"
	AuditKilled            AuditEvent = "killed" // stopped at shutdown
)

// AuditRecord is one append-only entry in the runbook audit trail.
type AuditRecord struct {
	// ID is unique per record.
	ID    string     `json:"id"`
	Time  time.Time  `json:"time"`
	Event AuditEvent `json:"event"`
	// RunID links the records of one attempt (request, approval, start,
	// finish).
	RunID   string `json:"run_id,omitempty"`
	User    string `json:"user"`
	TeamID  string `json:"team_id,omitempty"`
	Channel string `json:"channel"`
	Runbook string `json:"runbook"`
	// Argv is empty when the request was refused before it could be
	// rendered (unknown runbook, bad parameter).
	Argv     []string `json:"argv,omitempty"`
	ArgvHash string   `json:"argv_hash,omitempty"`
	// Decision is "allowed", "refused", "approval_required", "approved",
	// "denied" or "expired".
	Decision string `json:"decision,omitempty"`
	// Rule names the rule behind the decision, e.g. "allow.usergroups S0SRE"
	// or "guest accounts may not run runbooks".
	Rule string `json:"rule,omitempty"`
	// Approver is who approved or denied, when someone did.
	Approver string `json:"approver,omitempty"`
	// ExitCode is set once the command has ended.
	ExitCode *int          `json:"exit_code,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// OutputDigest is "sha256:<hex>" of the redacted output as shown and
	// uploaded; OutputBytes is how many bytes the command wrote in all.
	OutputDigest string `json:"output_digest,omitempty"`
	OutputBytes  int64  `json:"output_bytes,omitempty"`
	// Incident is the incident key when the attempt was in an incident
	// channel.
	Incident string `json:"incident,omitempty"`
}

// AuditLog is the append-only runbook audit trail.
type AuditLog interface {
	AppendAudit(ctx context.Context, rec AuditRecord) error
	// RecentAudit returns up to n of the newest records, oldest first.
	RecentAudit(ctx context.Context, n int) ([]AuditRecord, error)
}

// RunLockHolder says who holds a runbook's run lock.
type RunLockHolder struct {
	User    string    `json:"user"`
	Runbook string    `json:"runbook"`
	RunID   string    `json:"run_id"`
	Since   time.Time `json:"since"`
}

// RunLocks lets one run at a time hold a lock key, across replicas, and tells
// a concurrent attempt who holds it.
type RunLocks interface {
	// AcquireRunLock takes key for at most ttl. When someone else holds it,
	// ok is false and held describes them. release gives the lock back if it
	// is still ours; it is safe to call more than once.
	AcquireRunLock(ctx context.Context, key string, h RunLockHolder, ttl time.Duration) (release func(), held RunLockHolder, ok bool, err error)
}

// RunSlot is one running runbook counted against its requester's limit.
type RunSlot struct {
	RunID   string    `json:"run_id"`
	Runbook string    `json:"runbook"`
	Since   time.Time `json:"since"`
}

// RunSlots counts each person's running runbooks across replicas, so that
// nobody has more than a limit running at once.
type RunSlots interface {
	// AcquireRunSlot takes one of user's limit slots for at most ttl (the
	// run's timeout and a margin, so that a replica that died mid-run does
	// not hold it for ever), using now as the time. When all are taken, ok
	// is false and running lists the runs holding them. release gives the
	// slot back; it is safe to call more than once.
	AcquireRunSlot(ctx context.Context, user string, limit int, slot RunSlot, now time.Time, ttl time.Duration) (release func(), running []RunSlot, ok bool, err error)
}
