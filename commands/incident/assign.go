package incident

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Input IDs of the assign-role modal.
const (
	inputRole   = "role"
	inputPerson = "person"
)

// onAssignButton opens the form to give the commander role (or another role)
// to someone picked from the workspace, from the summary's "Assign roles"
// button. The person comes from Slack's user picker, so it is an ID, never a
// typed name.
func (s *Service) onAssignButton(ctx context.Context, req *bot.Request) (bot.Response, error) {
	inc, err := s.incidentForAction(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	if !inc.Open() {
		return bot.Reply(inc.Key + " is resolved; roles can no longer change."), nil
	}
	roles := s.set.RoleNames() // commander first
	md, err := s.formFor(ctx, ViewAssign, &inc, req.UserID)
	if err != nil {
		bot.Logger(ctx).Error("assign form not sealed", zap.Error(err))
		return bot.Response{}, errStoreDown
	}
	m := bot.Modal{
		CallbackID: ViewAssign, Title: "Assign a role in " + inc.Key, Submit: "Assign", PrivateMetadata: md,
		Inputs: []bot.Input{
			{ID: inputRole, Label: "Role", Kind: bot.InputSelect, Options: roles, Initial: string(bot.RoleCommander)},
			{ID: inputPerson, Label: "Person", Kind: bot.InputUser, Placeholder: "Who takes it"},
		},
	}
	if err := s.chat.OpenModal(ctx, req.TriggerID, m); err != nil {
		return bot.Response{}, fmt.Errorf("open assign modal for %s: %w", inc.Key, err)
	}
	return bot.Response{}, nil
}

// validateAssignView runs before the ack, so the modal shows the problem.
func (s *Service) validateAssignView(v *bot.ViewSubmission) map[string]string {
	if _, ok := s.parseRole(v.Values[inputRole]); !ok {
		return map[string]string{inputRole: "Pick one of the listed roles."}
	}
	if !bot.IsUserID(v.Values[inputPerson]) {
		return map[string]string{inputPerson: "Pick a person."}
	}
	return nil
}

func (s *Service) onAssignView(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if errs := s.validateAssignView(req.View); errs != nil {
		return bot.Response{}, bot.Userf("Nothing was changed: %s", firstError(errs))
	}
	inc, err := s.formIncident(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	role, _ := s.parseRole(req.View.Values[inputRole])
	resp, err := s.assign(ctx, inc, role, req.View.Values[inputPerson], req.UserID)
	if err != nil {
		return bot.Response{}, err
	}
	// A modal has no channel to answer in: the change is announced in the
	// incident channel, where everyone sees who holds which role.
	if _, perr := s.chat.Post(ctx, bot.Message{Channel: inc.Channel, Text: resp.Message.Text}); perr != nil {
		bot.Logger(ctx).Warn("role change not announced", zap.String("incident", inc.Key), zap.Error(perr))
	}
	return bot.Response{}, nil
}
