package incident

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// Input IDs of the modals.
const (
	inputTitle       = "title"
	inputSeverity    = "severity"
	inputDescription = "description"
	inputStatus      = "status"
	inputUpdate      = "update"
	inputSummary     = "summary"
	inputDrill       = "drill"
)

// UpdateMax bounds a status update or note.
const UpdateMax = 3000

// openDeclareModal answers /incident with no text.
func (s *Service) openDeclareModal(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if req.TriggerID == "" {
		return bot.Reply("Declare with `/incident declare [sev1..sev4] TITLE…`.\n" + s.family.Help()), nil
	}
	sevs := make([]string, len(bot.Severities))
	for i, v := range bot.Severities {
		sevs[i] = string(v)
	}
	// Where the declarer was, for the confirmation, and who they are.
	md, err := s.sealer.Seal(ctx, ViewDeclare, req.ChannelID, req.UserID)
	if err != nil {
		bot.Logger(ctx).Error("declare form not sealed", zap.Error(err))
		return bot.Response{}, errStoreDown
	}
	m := bot.Modal{
		CallbackID:      ViewDeclare,
		Title:           "Declare an incident",
		Submit:          "Declare",
		PrivateMetadata: md,
		Inputs: []bot.Input{
			{ID: inputTitle, Label: "Title", Kind: bot.InputText, Placeholder: "Checkout errors in eu-west-1", MaxLength: TitleMax},
			{ID: inputSeverity, Label: "Severity", Kind: bot.InputSelect, Options: sevs, Initial: string(bot.Sev3)},
			{ID: inputDescription, Label: "What is happening?", Kind: bot.InputMultiline, Optional: true, MaxLength: DescriptionMax},
			{ID: inputDrill, Label: "Drill: rehearse the response (nobody is paged; left out of statistics)", Kind: bot.InputCheckbox, Optional: true},
		},
	}
	if err := s.chat.OpenModal(ctx, req.TriggerID, m); err != nil {
		return bot.Response{}, fmt.Errorf("open declare modal: %w", err)
	}
	return bot.Response{}, nil
}

func (s *Service) validateDeclareView(v *bot.ViewSubmission) map[string]string {
	errs := map[string]string{}
	if err := checkTitle(v.Values[inputTitle]); err != nil {
		errs[inputTitle] = err.Error()
	}
	if _, ok := bot.ParseSeverity(v.Values[inputSeverity]); !ok {
		errs[inputSeverity] = "Pick sev1, sev2, sev3 or sev4."
	}
	if d := v.Values[inputDescription]; utf8.RuneCountInString(d) > DescriptionMax {
		errs[inputDescription] = fmt.Sprintf("Keep it to %d characters.", DescriptionMax)
	} else if err := s.checkTextContent(d, "description"); err != nil {
		errs[inputDescription] = err.Error()
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (s *Service) onDeclareView(ctx context.Context, req *bot.Request) (bot.Response, error) {
	v := req.View
	if errs := s.validateDeclareView(v); errs != nil {
		return bot.Response{}, bot.Userf("The incident was not declared: %s", firstError(errs))
	}
	f, err := s.openForm(ctx, req, 2)
	if err != nil {
		return bot.Response{}, err
	}
	from := f[0]
	if err := s.allowDeclare(ctx, req.UserID); err != nil {
		return bot.Response{}, err
	}
	sev, _ := bot.ParseSeverity(v.Values[inputSeverity])
	// Modal inputs arrive as typed, unlike slash command text: escape them so
	// they are stored, and posted, as Slack-escaped text like everything else.
	inc, created, err := s.declare(ctx, declaration{Title: bot.EscapeText(v.Values[inputTitle]), Description: bot.EscapeText(v.Values[inputDescription]),
		Severity: sev, By: req.UserID, DedupeKey: dedupeKey(req), ReplyChannel: from,
		Drill: v.Values[inputDrill] == "true"})
	if err != nil {
		return bot.Response{}, err
	}
	// A modal has no channel to answer in: tell the declarer where they
	// were, or in a direct message.
	reply := declaredReply(inc, created).Message
	if from != "" && from != inc.Channel {
		reply.Channel = from
		if err := s.chat.PostEphemeral(ctx, req.UserID, reply); err == nil {
			return bot.Response{}, nil
		}
	}
	reply.Channel = req.UserID
	if _, err := s.chat.Post(ctx, reply); err != nil {
		bot.Logger(ctx).Warn("declare confirmation not delivered", zap.String("incident", inc.Key), zap.Error(err))
	}
	return bot.Response{}, nil
}

// onUpdateStatusButton opens the status update form from the summary.
func (s *Service) onUpdateStatusButton(ctx context.Context, req *bot.Request) (bot.Response, error) {
	inc, err := s.incidentForAction(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	sts := make([]string, 0, len(bot.Statuses))
	for _, st := range bot.Statuses {
		if st != bot.StatusResolved {
			sts = append(sts, string(st))
		}
	}
	md, err := s.formFor(ctx, ViewStatusUpdate, &inc, req.UserID)
	if err != nil {
		bot.Logger(ctx).Error("status form not sealed", zap.Error(err))
		return bot.Response{}, errStoreDown
	}
	m := bot.Modal{
		CallbackID: ViewStatusUpdate, Title: "Update " + inc.Key, Submit: "Post update", PrivateMetadata: md,
		Inputs: []bot.Input{
			{ID: inputStatus, Label: "Status", Kind: bot.InputSelect, Options: sts, Initial: string(inc.Status)},
			{ID: inputUpdate, Label: "Update", Kind: bot.InputMultiline, Placeholder: "What changed, what's next, when the next update is due",
				Optional: true, MaxLength: UpdateMax},
		},
	}
	if err := s.chat.OpenModal(ctx, req.TriggerID, m); err != nil {
		return bot.Response{}, fmt.Errorf("open status modal for %s: %w", inc.Key, err)
	}
	return bot.Response{}, nil
}

func (s *Service) validateStatusView(v *bot.ViewSubmission) map[string]string {
	if st, ok := bot.ParseStatus(v.Values[inputStatus]); !ok || st == bot.StatusResolved {
		return map[string]string{inputStatus: "Pick investigating, identified or monitoring (resolve with the Resolve button)."}
	}
	if utf8.RuneCountInString(v.Values[inputUpdate]) > UpdateMax {
		return map[string]string{inputUpdate: fmt.Sprintf("Keep it to %d characters.", UpdateMax)}
	}
	if err := s.checkTextContent(v.Values[inputUpdate], "update"); err != nil {
		return map[string]string{inputUpdate: err.Error()}
	}
	return nil
}

func (s *Service) onStatusView(ctx context.Context, req *bot.Request) (bot.Response, error) {
	if errs := s.validateStatusView(req.View); errs != nil {
		return bot.Response{}, bot.Userf("Nothing was changed: %s", firstError(errs))
	}
	inc, err := s.formIncident(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	st, _ := bot.ParseStatus(req.View.Values[inputStatus])
	if st != inc.Status {
		if inc, err = s.setStatus(ctx, inc, st, req.UserID); err != nil {
			return bot.Response{}, err
		}
	}
	if text := bot.CleanText(bot.EscapeText(strings.TrimSpace(req.View.Values[inputUpdate]))); text != "" {
		if err := s.postUpdate(ctx, inc, req.UserID, text); err != nil {
			return bot.Response{}, err
		}
	}
	return bot.Response{}, nil
}

// onResolveButton opens the resolve form from the summary.
func (s *Service) onResolveButton(ctx context.Context, req *bot.Request) (bot.Response, error) {
	inc, err := s.incidentForAction(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	if !inc.Open() {
		return bot.Reply(inc.Key + " is already resolved."), nil
	}
	md, err := s.formFor(ctx, ViewResolve, &inc, req.UserID)
	if err != nil {
		bot.Logger(ctx).Error("resolve form not sealed", zap.Error(err))
		return bot.Response{}, errStoreDown
	}
	m := bot.Modal{
		CallbackID: ViewResolve, Title: "Resolve " + inc.Key, Submit: "Resolve", PrivateMetadata: md,
		Inputs: []bot.Input{{ID: inputSummary, Label: "Resolution summary", Kind: bot.InputMultiline,
			Placeholder: "What fixed it", Optional: true, MaxLength: UpdateMax}},
	}
	if err := s.chat.OpenModal(ctx, req.TriggerID, m); err != nil {
		return bot.Response{}, fmt.Errorf("open resolve modal for %s: %w", inc.Key, err)
	}
	return bot.Response{}, nil
}

// onResolveView resolves from the form, posting in the incident channel
// exactly what /incident resolve posts there.
func (s *Service) onResolveView(ctx context.Context, req *bot.Request) (bot.Response, error) {
	inc, err := s.formIncident(ctx, req)
	if err != nil {
		return bot.Response{}, err
	}
	summary := bot.EscapeText(strings.TrimSpace(req.View.Values[inputSummary]))
	if err := s.checkSummary(summary); err != nil {
		return bot.Response{}, err
	}
	return s.resolve(ctx, inc, req.UserID, summary)
}

// getIncident loads an incident by key, with a user-facing miss.
func (s *Service) getIncident(ctx context.Context, key string) (bot.Incident, error) {
	k, err := bot.ParseIncidentKey(key)
	if err != nil {
		return bot.Incident{}, bot.Userf("I don't know that incident.")
	}
	inc, err := s.store.Get(ctx, k)
	if err != nil {
		if isNotFound(err) {
			return bot.Incident{}, bot.Userf("I don't know the incident %s.", k)
		}
		return bot.Incident{}, fmt.Errorf("load incident %s: %w", k, err)
	}
	s.remember(inc)
	noteIncident(ctx, &inc)
	return inc, nil
}

func firstError(errs map[string]string) string {
	for _, id := range []string{inputTitle, inputSeverity, inputDescription, inputStatus, inputUpdate, inputSummary} {
		if e, ok := errs[id]; ok {
			return e
		}
	}
	for _, e := range errs {
		return e
	}
	return ""
}
