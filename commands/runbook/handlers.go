package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/runbooks"
)

func (s *Service) list(ctx context.Context, req *bot.Request) (bot.Response, error) {
	c := s.caller(req)
	var b strings.Builder
	for _, rb := range s.cfg.Catalog.All() {
		if d := s.policy.CanRun(ctx, rb, c); !d.Allowed {
			continue
		}
		fmt.Fprintf(&b, "• `%s` — %s", rb.Name, rb.Description)
		if rb.Approval != nil {
			b.WriteString(" _(needs approval" + approvalWhen(rb) + ")_")
		}
		if rb.Missing != "" {
			b.WriteString(" — :warning: " + rb.Missing)
		}
		b.WriteString("\n")
	}
	if b.Len() == 0 {
		return bot.Reply("There is no runbook you may run here. `/runbook show NAME` says who may run one."), nil
	}
	return bot.Response{Message: bot.Message{
		Title:   "Runbooks you may run",
		Text:    strings.TrimRight(b.String(), "\n"),
		Context: "`/runbook show NAME` for parameters · `/runbook run NAME key=value … --dry-run` to preview",
	}}, nil
}

func (s *Service) lookup(name string) (*runbooks.Runbook, error) {
	rb, ok := s.cfg.Catalog.Get(name)
	if !ok {
		return nil, bot.Userf("There is no runbook called `%s`. `/runbook list` shows the ones you may run.", bot.Quote(clip(name, 64)))
	}
	return rb, nil
}

// parseShow is `/runbook show NAME`: the runbook, from the catalogue loaded
// at start (no I/O), so a wrong name is answered in the command's ack.
func (s *Service) parseShow(in bot.Args) (*runbooks.Runbook, error) {
	if len(in.Words) != 1 {
		return nil, bot.Userf("Usage: `/runbook show NAME`")
	}
	return s.lookup(in.Words[0])
}

func (s *Service) show(ctx context.Context, req *bot.Request, rb *runbooks.Runbook) (bot.Response, error) {
	fields := []bot.Field{
		{Label: "Timeout", Value: rb.Timeout.String()},
		{Label: "Who may run it", Value: whoMayRun(rb)},
		{Label: "Approval", Value: approvalText(rb)},
		{Label: "Lock", Value: "`" + rb.Lock + "`"},
	}
	if d := s.policy.CanRun(ctx, rb, s.caller(req)); d.Allowed {
		fields = append(fields, bot.Field{Label: "You", Value: "may run it (" + d.Rule + ")"})
	} else {
		fields = append(fields, bot.Field{Label: "You", Value: "may not run it: " + d.Rule})
	}
	text := rb.Description + "\n" + paramsText(rb)
	if rb.Missing != "" {
		text += "\n:warning: " + rb.Missing + ", so it cannot run here."
	}
	return bot.Response{Message: bot.Message{
		Title:   "Runbook " + rb.Name,
		Text:    text,
		Fields:  fields,
		Code:    formatArgv(rb.Command),
		Context: "Usage: `/runbook run " + rb.Name + usageParams(rb) + " [--dry-run]`",
	}}, nil
}

// parseRun checks only that a runbook is named: every later refusal of a
// run (unknown runbook, bad parameters) is written to the audit trail, which
// is I/O, so it is the handler's.
func parseRun(in bot.Args) ([]string, error) {
	if len(in.Words) < 1 {
		return nil, bot.Userf("Usage: `/runbook run NAME [key=value …] [--dry-run]`. `/runbook list` shows what you may run.")
	}
	return in.Words, nil
}

// run is `/runbook run NAME [key=value …] [--dry-run]`; args are the words
// after "run".
func (s *Service) run(ctx context.Context, req *bot.Request, args []string) (bot.Response, error) {
	name := args[0]
	caller := s.caller(req)
	runID := s.cfg.IDs.New().String()
	incident := s.incident(ctx, req.ChannelID)
	base := bot.AuditRecord{RunID: runID, User: caller.User, TeamID: caller.Team, Channel: caller.Channel,
		Runbook: clip(name, 64), Incident: incident}
	refuse := func(rule string, userErr error) (bot.Response, error) {
		rec := base
		rec.Event, rec.Decision, rec.Rule = bot.AuditRefused, "refused", rule
		_ = s.record(ctx, rec)
		return bot.Response{}, userErr
	}

	rb, err := s.lookup(name)
	if err != nil {
		return refuse("unknown runbook", err)
	}
	raw, dryRun, err := runbooks.ParseArgs(args[1:])
	var inv *runbooks.Invocation
	if err == nil {
		inv, err = rb.PrepareContext(ctx, raw, s.cfg.Resolver)
	}
	if err != nil {
		var pe *runbooks.ParamError
		if !errors.As(err, &pe) {
			return bot.Response{}, err
		}
		return refuse("invalid parameters: "+pe.Error(),
			bot.Userf("Invalid parameter %s.\nUsage: `/runbook run %s%s [--dry-run]`", pe.Error(), rb.Name, usageParams(rb)))
	}
	base.Argv, base.ArgvHash = inv.Argv, inv.Hash

	d := s.policy.CanRun(ctx, rb, caller)
	if dryRun {
		rec := base
		rec.Event, rec.Rule = bot.AuditDryRun, d.Rule
		rec.Decision = decisionWord(d, inv)
		_ = s.record(ctx, rec)
		return dryRunResponse(rb, inv, d), nil
	}
	if !d.Allowed {
		return refuse(d.Rule, bot.Userf("You may not run `%s`: %s.", rb.Name, d.Rule))
	}
	if rb.Missing != "" {
		return refuse(rb.Missing, bot.Userf("`%s` cannot run here: %s.", rb.Name, rb.Missing))
	}
	if inv.ApprovalRule != "" {
		return s.requestApproval(ctx, inv, base)
	}
	err = s.start(ctx, runSpec{inv: inv, audit: base, rule: d.Rule, channel: req.ChannelID})
	if err != nil {
		return bot.Response{}, err
	}
	// The run posts its own messages; nothing else to say.
	return bot.Response{}, nil
}

func decisionWord(d runbooks.Decision, inv *runbooks.Invocation) string {
	switch {
	case !d.Allowed:
		return "refused"
	case inv.ApprovalRule != "":
		return "approval_required"
	}
	return "allowed"
}

func (s *Service) requestApproval(ctx context.Context, inv *runbooks.Invocation, base bot.AuditRecord) (bot.Response, error) {
	now := s.cfg.Clock.Now().UTC()
	a := bot.PendingApproval{
		ID: base.RunID, Runbook: inv.Runbook.Name, Params: inv.Params, Argv: inv.Argv, ArgvHash: inv.Hash,
		Requester: base.User, TeamID: base.TeamID, Channel: base.Channel, Rule: inv.ApprovalRule,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.ApprovalTTL),
	}
	// Stored and audited before it is posted, so that a click can never
	// arrive before the approval exists.
	sctx, cancel := context.WithTimeout(ctx, ioTimeout)
	err := s.cfg.Approvals.PutApproval(sctx, a, s.cfg.ApprovalTTL+approvalGrace)
	cancel()
	if err != nil {
		bot.Logger(ctx).Error("approval not stored", zap.String("run_id", a.ID), zap.Error(err))
		return bot.Response{}, bot.Userf("`%s` needs approval, but approvals cannot be stored right now. Nothing was run; try again in a minute.", a.Runbook)
	}
	rec := base
	rec.Event, rec.Decision, rec.Rule = bot.AuditApprovalRequested, "approval_required", "approval.when "+inv.ApprovalRule
	if err := s.record(ctx, rec); err != nil {
		// Unaudited requests must not be approvable.
		_, _, _ = s.take(ctx, a.ID)
		return bot.Response{}, errStorage(a.Runbook)
	}
	// Posted by us rather than returned, so that the sweeper can mark the
	// message when the request expires unanswered.
	pctx, cancel := context.WithTimeout(ctx, ioTimeout)
	ref, err := s.cfg.Chat.Post(pctx, approvalMessage(a, inv))
	cancel()
	if err != nil {
		bot.Logger(ctx).Warn("approval request not posted", zap.String("run_id", a.ID), zap.Error(err))
		if _, ok, _ := s.take(ctx, a.ID); ok {
			r := base
			r.Event, r.Decision, r.Rule = bot.AuditRefused, "refused", "approval request could not be posted"
			_ = s.record(ctx, r)
		}
		return bot.Response{}, bot.Userf("I could not post the approval request in this channel. Invite me to it (`/invite @opsbot`) and try again.")
	}
	mctx, cancel := context.WithTimeout(ctx, ioTimeout)
	_, err = s.cfg.Approvals.SetApprovalMessage(mctx, a.ID, ref)
	cancel()
	if err != nil {
		// Only the expiry notice on the message is lost; the approval works.
		bot.Logger(ctx).Warn("approval message not linked", zap.String("run_id", a.ID), zap.Error(err))
	}
	return bot.Response{}, nil
}

func approvalMessage(a bot.PendingApproval, inv *runbooks.Invocation) bot.Message {
	value := a.ID + ":" + a.ArgvHash
	return bot.Message{
		Channel: a.Channel,
		Title:   "Approval needed: " + inv.Runbook.Name,
		Text: fmt.Sprintf("%s wants to run `%s` (%s). Approvers: %s. The requester cannot approve.",
			bot.MentionUser(a.Requester), inv.Runbook.Name, approvalReason(inv.ApprovalRule), approversText(inv.Runbook)),
		Code: formatArgv(inv.Argv),
		Buttons: []bot.Button{
			{ID: ActionApprove, Text: "Approve", Value: value, Style: bot.ButtonPrimary},
			{ID: ActionDeny, Text: "Deny", Value: value, Style: bot.ButtonDanger},
		},
		Context: fmt.Sprintf("Expires %s · bound to this exact command (sha256 %s…)", bot.FormatTime(a.ExpiresAt, time.UTC), a.ArgvHash[:12]),
	}
}

// markRequest replaces the approval request message (buttons gone).
func (s *Service) markRequest(ctx context.Context, a bot.PendingApproval, title, text string) {
	if a.Message.TS == "" {
		return
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ioTimeout)
	defer cancel()
	m := bot.Message{Channel: a.Message.Channel, Title: title, Text: text, Code: formatArgv(a.Argv)}
	if err := s.cfg.Chat.Update(uctx, a.Message, m); err != nil {
		bot.Logger(ctx).Warn("approval request message not updated", zap.String("run_id", a.ID), zap.Error(err))
	}
}

// sweepExpired takes the approvals that expired unanswered, audits each once
// (the atomic take makes one replica do it) and marks their messages.
func (s *Service) sweepExpired(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, ioTimeout)
	ids, err := s.cfg.Approvals.ExpiredApprovals(lctx, s.cfg.Clock.Now(), 100)
	cancel()
	if err != nil {
		return err
	}
	for _, id := range ids {
		a, ok, err := s.take(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		rec := approvalAudit(a, s.incident(ctx, a.Channel))
		rec.Event, rec.Decision, rec.Rule = bot.AuditApprovalExpired, "expired", "unanswered until "+a.ExpiresAt.Format("15:04:05 MST")
		_ = s.record(ctx, rec)
		s.markRequest(ctx, a, "Approval expired: "+a.Runbook,
			fmt.Sprintf("The request by %s expired before anyone approved it. Nothing was run; ask again if it is still needed.", bot.MentionUser(a.Requester)))
	}
	return nil
}

// approvalFromClick reads the pending approval a button names. The button
// carries the argv hash too, so a value pointing at another request is
// refused.
func (s *Service) approvalFromClick(ctx context.Context, req *bot.Request) (bot.PendingApproval, error) {
	id, hash, ok := strings.Cut(req.Action.Value, ":")
	if !ok || id == "" || hash == "" {
		return bot.PendingApproval{}, bot.Userf("That button is not a valid approval.")
	}
	pctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	a, found, err := s.cfg.Approvals.PeekApproval(pctx, id)
	if err != nil {
		return bot.PendingApproval{}, fmt.Errorf("read approval %s: %w", id, err)
	}
	if !found {
		return bot.PendingApproval{}, bot.Userf("This approval request has expired or was already handled.")
	}
	if a.ArgvHash != hash {
		return bot.PendingApproval{}, bot.Userf("This button does not match the request it claims to approve; nothing was done.")
	}
	// The buttons exist only on the request's own message: the same value
	// clicked anywhere else is a crafted click. (A click that comes before
	// the message is recorded cannot be checked, and is on that message.)
	if a.Message.TS != "" && (req.Action == nil || req.Action.Message != a.Message) {
		bot.Logger(ctx).Warn("approval button on another message refused", zap.String("run_id", a.ID))
		return bot.PendingApproval{}, bot.Userf("That button is not on this approval request's message, so nothing was done.")
	}
	return a, nil
}

// take consumes the approval: exactly one click, on any replica, gets it.
func (s *Service) take(ctx context.Context, id string) (bot.PendingApproval, bool, error) {
	tctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	a, ok, err := s.cfg.Approvals.TakeApproval(tctx, id)
	if err != nil {
		return a, false, fmt.Errorf("take approval %s: %w", id, err)
	}
	return a, ok, nil
}

func approvalAudit(a bot.PendingApproval, incident string) bot.AuditRecord {
	return bot.AuditRecord{RunID: a.ID, User: a.Requester, TeamID: a.TeamID, Channel: a.Channel, Runbook: a.Runbook,
		Argv: a.Argv, ArgvHash: a.ArgvHash, Incident: incident}
}

func replaced(title, text string, argv []string) bot.Response {
	return bot.Response{Visibility: bot.InChannel, ReplaceOriginal: true, Message: bot.Message{Title: title, Text: text, Code: formatArgv(argv)}}
}

var errAlreadyHandled = bot.Userf("Someone else already handled this approval request.")

func (s *Service) approve(ctx context.Context, req *bot.Request) (bot.Response, error) {
	a, err := s.approvalFromClick(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	clicker := s.caller(req)
	incident := s.incident(ctx, a.Channel)
	rec := approvalAudit(a, incident)
	rec.Approver = clicker.User

	if !s.cfg.Clock.Now().Before(a.ExpiresAt) {
		if _, ok, err := s.take(ctx, a.ID); err != nil || !ok {
			return bot.Response{}, firstErr(err, errAlreadyHandled)
		}
		rec.Event, rec.Decision, rec.Rule = bot.AuditApprovalExpired, "expired", "approval expired at "+a.ExpiresAt.Format("15:04:05 MST")
		_ = s.record(ctx, rec)
		return replaced("Approval expired: "+a.Runbook, fmt.Sprintf("The request by %s expired before anyone approved it. Run it again to ask anew.", bot.MentionUser(a.Requester)), a.Argv), nil
	}
	rb, ok := s.cfg.Catalog.Get(a.Runbook)
	if !ok {
		return bot.Response{}, bot.Userf("Runbook `%s` no longer exists; nothing was run.", a.Runbook)
	}
	if d := s.policy.CanApprove(ctx, rb, clicker, a.Requester); !d.Allowed {
		r := rec
		r.Event, r.Decision, r.Rule = bot.AuditRefused, "refused", "approval by "+clicker.User+" refused: "+d.Rule
		_ = s.record(ctx, r)
		return bot.Response{}, bot.Userf("You cannot approve this: %s.", d.Rule)
	}
	taken, ok, err := s.take(ctx, a.ID)
	if err != nil {
		return bot.Response{}, err
	}
	if !ok {
		return bot.Response{}, errAlreadyHandled
	}
	// Approve exactly what was requested: the stored request must still
	// render to the same argv with today's catalogue.
	inv, err := rb.PrepareContext(ctx, taken.Params, s.cfg.Resolver)
	var pe *runbooks.ParamError
	if errors.As(err, &pe) && rb.Params[pe.Param] != nil && rb.Params[pe.Param].Type == runbooks.TypeHost {
		// Checked again now: a name may point somewhere else than when
		// the run was requested.
		r := rec
		r.Event, r.Decision, r.Rule = bot.AuditRefused, "refused", "invalid parameters at approval: "+pe.Error()
		_ = s.record(ctx, r)
		return replaced("Not run: "+a.Runbook, "Approved, but refused now: "+bot.QuoteRaw(pe.Error())+".", a.Argv), nil
	}
	if err != nil || inv.Hash != taken.ArgvHash || taken.ArgvHash != a.ArgvHash {
		r := rec
		r.Event, r.Decision, r.Rule = bot.AuditRefused, "refused", "command changed since approval was requested"
		_ = s.record(ctx, r)
		return replaced("Not run: "+a.Runbook, "The runbook's command changed since this was requested, so this approval no longer applies. Request it again.", a.Argv), nil
	}
	requester := runbooks.Caller{User: a.Requester, Team: a.TeamID, Channel: a.Channel}
	if d := s.policy.CanRun(ctx, rb, requester); !d.Allowed {
		r := rec
		r.Event, r.Decision, r.Rule = bot.AuditRefused, "refused", "requester no longer allowed: "+d.Rule
		_ = s.record(ctx, r)
		return replaced("Not run: "+a.Runbook, fmt.Sprintf("%s may no longer run it (%s).", bot.MentionUser(a.Requester), d.Rule), a.Argv), nil
	}
	g := rec
	g.Event, g.Decision, g.Rule = bot.AuditApprovalGranted, "approved", "approved by "+clicker.User
	if err := s.record(ctx, g); err != nil {
		return bot.Response{}, err
	}
	base := approvalAudit(taken, incident)
	base.Approver = clicker.User
	err = s.start(ctx, runSpec{inv: inv, audit: base, rule: "approved by " + clicker.User, channel: a.Channel, threadTS: req.Action.Message.TS})
	if err != nil {
		msg := bot.UserMessage(err, req.EnvelopeID)
		return replaced("Approved but not run: "+a.Runbook, fmt.Sprintf("Approved by %s, but it could not start: %s", bot.MentionUser(clicker.User), msg), a.Argv), nil
	}
	return replaced("Approved: "+a.Runbook, fmt.Sprintf("%s approved the run requested by %s. Output follows in this thread.",
		bot.MentionUser(clicker.User), bot.MentionUser(a.Requester)), a.Argv), nil
}

func (s *Service) deny(ctx context.Context, req *bot.Request) (bot.Response, error) {
	a, err := s.approvalFromClick(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	clicker := s.caller(req)
	rule := "withdrawn by the requester"
	if clicker.User != a.Requester {
		rb, ok := s.cfg.Catalog.Get(a.Runbook)
		if !ok {
			return bot.Response{}, bot.Userf("Runbook `%s` no longer exists.", a.Runbook)
		}
		if d := s.policy.CanApprove(ctx, rb, clicker, a.Requester); !d.Allowed {
			r := approvalAudit(a, s.incident(ctx, a.Channel))
			r.Event, r.Decision, r.Approver = bot.AuditRefused, "refused", clicker.User
			r.Rule = "denial by " + clicker.User + " refused: " + d.Rule
			_ = s.record(ctx, r)
			return bot.Response{}, bot.Userf("You cannot deny this: %s.", d.Rule)
		}
		rule = "denied by " + clicker.User
	}
	if _, ok, err := s.take(ctx, a.ID); err != nil || !ok {
		return bot.Response{}, firstErr(err, errAlreadyHandled)
	}
	rec := approvalAudit(a, s.incident(ctx, a.Channel))
	rec.Event, rec.Decision, rec.Rule, rec.Approver = bot.AuditApprovalDenied, "denied", rule, clicker.User
	_ = s.record(ctx, rec)
	return replaced("Denied: "+a.Runbook, fmt.Sprintf("%s denied the run requested by %s. Nothing was run.",
		bot.MentionUser(clicker.User), bot.MentionUser(a.Requester)), a.Argv), nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
