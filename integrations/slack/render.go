package slack

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/opsbot/opsbot/bot"
	"github.com/slack-go/slack"
)

// Block Kit limits (https://api.slack.com/reference/block-kit). Slack rejects
// a whole message with invalid_blocks when one is exceeded, so rendering
// truncates rather than risk losing the message.
const (
	maxBlocks        = 50
	maxHeaderText    = 150
	maxSectionText   = 3000
	maxFields        = 10
	maxFieldText     = 2000
	maxButtons       = 25
	maxButtonText    = 75
	maxButtonValue   = 2000
	maxActionID      = 255
	maxContextText   = 3000
	maxFallbackText  = 4000
	maxModalTitle    = 24
	maxModalButton   = 24
	maxInputLabel    = 2000
	maxSelectOptions = 100
	maxOptionText    = 75
	maxOptionValue   = 150
	maxPlaceholder   = 150
	maxMetadata      = 3000
	// maxTextSections bounds how many sections a long Text may take, leaving
	// room for the other blocks.
	maxTextSections = 10
)

const truncMark = "…"

// RenderMessage renders m as Block Kit plus the plain-text fallback Slack
// shows in notifications. It never exceeds Slack's limits: long text is split
// over sections and then truncated with a visible marker, long code keeps its
// end (where errors and exit statuses are), extra buttons and fields beyond
// the block budget are dropped.
func RenderMessage(m bot.Message) (string, []slack.Block) {
	var head, tail []slack.Block
	if t := oneLine(m.Title); t != "" {
		head = append(head, &slack.HeaderBlock{Type: slack.MBTHeader, BlockID: "title",
			Text: plain(truncate(t, maxHeaderText))})
	}
	if m.Code != "" {
		// Code is raw text (argv, process output): quoted here, in the one
		// place every code block is written, so a "<!channel>" in a
		// runbook's output is shown, not sent.
		tail = append(tail, &slack.SectionBlock{Type: slack.MBTSection, BlockID: "code",
			Text: mrkdwn(codeBlock(bot.QuoteRaw(m.Code), maxSectionText))})
	}
	if len(m.Buttons) > 0 {
		els := []slack.BlockElement{}
		for i, b := range m.Buttons {
			if i == maxButtons {
				break
			}
			text := oneLine(b.Text)
			if text == "" {
				text = b.ID
			}
			btn := slack.NewButtonBlockElement(truncate(b.ID, maxActionID), truncate(b.Value, maxButtonValue),
				plain(truncate(text, maxButtonText)))
			if b.Style != bot.ButtonDefault {
				btn = btn.WithStyle(slack.Style(b.Style))
			}
			els = append(els, btn)
		}
		tail = append(tail, slack.NewActionBlock("actions", els...))
	}
	if c := strings.TrimSpace(m.Context); c != "" {
		tail = append(tail, slack.NewContextBlock("context", mrkdwn(truncate(c, maxContextText))))
	}

	budget := maxBlocks - len(head) - len(tail)
	var body []slack.Block
	if m.Text != "" {
		chunks := splitText(m.Text, maxSectionText, min(maxTextSections, budget))
		for i, ch := range chunks {
			body = append(body, &slack.SectionBlock{Type: slack.MBTSection, BlockID: fmt.Sprintf("text-%d", i), Text: mrkdwn(ch)})
		}
	}
	for i := 0; i < len(m.Fields) && len(body) < budget; i += maxFields {
		var fields []*slack.TextBlockObject
		for _, f := range m.Fields[i:min(i+maxFields, len(m.Fields))] {
			fields = append(fields, mrkdwn(truncate(fieldText(f), maxFieldText)))
		}
		body = append(body, &slack.SectionBlock{Type: slack.MBTSection, BlockID: fmt.Sprintf("fields-%d", i/maxFields), Fields: fields})
	}

	blocks := make([]slack.Block, 0, len(head)+len(body)+len(tail))
	blocks = append(blocks, head...)
	blocks = append(blocks, body...)
	blocks = append(blocks, tail...)
	return fallback(m), blocks
}

// fallback is the message's plain text for notifications and clients that
// cannot show blocks.
func fallback(m bot.Message) string {
	var parts []string
	if m.Title != "" {
		parts = append(parts, oneLine(m.Title))
	}
	if m.Text != "" {
		parts = append(parts, m.Text)
	}
	if len(parts) == 0 {
		for _, f := range m.Fields {
			parts = append(parts, f.Label+": "+f.Value)
		}
	}
	if len(parts) == 0 && m.Code != "" {
		parts = append(parts, bot.QuoteRaw(m.Code))
	}
	if len(parts) == 0 && m.Context != "" {
		parts = append(parts, m.Context)
	}
	if len(parts) == 0 {
		parts = append(parts, "(message)")
	}
	return truncate(strings.Join(parts, "\n"), maxFallbackText)
}

func fieldText(f bot.Field) string {
	if f.Label == "" {
		return f.Value
	}
	v := f.Value
	if v == "" {
		v = "—"
	}
	return "*" + f.Label + "*\n" + v
}

// codeBlock wraps code in a mrkdwn code block of at most limit characters.
// When the code is too long, it keeps the end and says how much was cut.
func codeBlock(code string, limit int) string {
	code = strings.TrimRight(code, "\n")
	// A ``` inside the code would end the block early.
	code = strings.ReplaceAll(code, "```", "`\u200b`\u200b`")
	const open, closing = "```\n", "\n```"
	room := limit - utf8.RuneCountInString(open) - utf8.RuneCountInString(closing)
	n := utf8.RuneCountInString(code)
	if n <= room {
		return open + code + closing
	}
	marker := fmt.Sprintf("… %d characters cut, showing the end …\n", n)
	keep := room - utf8.RuneCountInString(marker)
	r := []rune(code)
	return open + marker + string(r[len(r)-keep:]) + closing
}

// splitText splits mrkdwn text into at most maxChunks pieces of at most limit
// characters, preferring line breaks; what does not fit is cut with a marker.
func splitText(s string, limit, maxChunks int) []string {
	if maxChunks < 1 {
		maxChunks = 1
	}
	// Most messages fit one section: no copy, no rune slice.
	if utf8.RuneCountInString(s) <= limit {
		return []string{s}
	}
	var out []string
	r := []rune(s)
	for len(r) > 0 {
		if len(out) == maxChunks-1 && len(r) > limit {
			out = append(out, string(r[:limit-utf8.RuneCountInString(truncMark)])+truncMark)
			break
		}
		if len(r) <= limit {
			out = append(out, string(r))
			break
		}
		cut := limit
		for i := limit; i > limit/2; i-- {
			if r[i] == '\n' {
				cut = i
				break
			}
		}
		out = append(out, string(r[:cut]))
		r = r[cut:]
		if len(r) > 0 && r[0] == '\n' {
			r = r[1:]
		}
	}
	return out
}

// truncate cuts s to at most n characters, ending with a marker when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-utf8.RuneCountInString(truncMark)]) + truncMark
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// ErrMetadataTooLong is returned by RenderModal when a modal's private
// metadata exceeds Slack's 3000 characters; cutting it would corrupt it.
var ErrMetadataTooLong = errors.New("modal private metadata exceeds 3000 characters")

// RenderModal renders m as a modal view. Each input becomes an input block
// whose block ID and action ID are both Input.ID, which ViewValues relies on.
func RenderModal(m bot.Modal) (slack.ModalViewRequest, error) {
	if utf8.RuneCountInString(m.PrivateMetadata) > maxMetadata {
		return slack.ModalViewRequest{}, ErrMetadataTooLong
	}
	title := oneLine(m.Title)
	if title == "" {
		title = "opsbot"
	}
	submit := oneLine(m.Submit)
	if submit == "" {
		submit = "Submit"
	}
	v := slack.ModalViewRequest{
		Type: slack.VTModal, Title: plain(truncate(title, maxModalTitle)),
		Submit: plain(truncate(submit, maxModalButton)), Close: plain("Cancel"),
		CallbackID: m.CallbackID, PrivateMetadata: m.PrivateMetadata,
	}
	for _, in := range m.Inputs {
		var placeholder *slack.TextBlockObject
		if p := oneLine(in.Placeholder); p != "" {
			placeholder = plain(truncate(p, maxPlaceholder))
		}
		var el slack.BlockElement
		switch in.Kind {
		case bot.InputSelect:
			var opts []*slack.OptionBlockObject
			var initial *slack.OptionBlockObject
			for i, o := range in.Options {
				if i == maxSelectOptions {
					break
				}
				opt := slack.NewOptionBlockObject(truncate(o, maxOptionValue), plain(truncate(o, maxOptionText)), nil)
				if o == in.Initial {
					initial = opt
				}
				opts = append(opts, opt)
			}
			sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, placeholder, in.ID, opts...)
			sel.InitialOption = initial
			el = sel
		case bot.InputUser:
			sel := slack.NewOptionsSelectBlockElement(slack.OptTypeUser, placeholder, in.ID)
			sel.InitialUser = in.Initial
			el = sel
		case bot.InputCheckbox:
			// One option whose text is the label; the input block above it
			// needs a label too, which Slack shows as a heading.
			opt := slack.NewOptionBlockObject("true", plain(truncate(oneLine(in.Label), maxOptionText)), nil)
			cb := slack.NewCheckboxGroupsBlockElement(in.ID, opt)
			if in.Initial == "true" {
				cb.InitialOptions = []*slack.OptionBlockObject{opt}
			}
			el = cb
			in.Optional = true // a required checkbox could not be left unticked
		default:
			pt := slack.NewPlainTextInputBlockElement(placeholder, in.ID)
			pt.Multiline = in.Kind == bot.InputMultiline
			pt.InitialValue = in.Initial
			pt.MaxLength = in.MaxLength
			el = pt
		}
		label := oneLine(in.Label)
		if label == "" {
			label = in.ID
		}
		ib := slack.NewInputBlock(in.ID, plain(truncate(label, maxInputLabel)), nil, el)
		ib.Optional = in.Optional
		v.Blocks.BlockSet = append(v.Blocks.BlockSet, ib)
	}
	return v, nil
}

// ViewValues flattens a submitted modal's state into values by input ID
// (the action ID): the text typed, the value of the option chosen, the ID
// of the user picked, or "true" for a ticked checkbox.
// Inputs left empty are present with "".
func ViewValues(state *slack.ViewState) map[string]string {
	out := map[string]string{}
	if state == nil {
		return out
	}
	for blockID, actions := range state.Values {
		for actionID, a := range actions {
			key := actionID
			if key == "" {
				key = blockID
			}
			v := a.Value
			switch {
			case a.SelectedOption.Value != "":
				v = a.SelectedOption.Value
			case a.SelectedUser != "":
				v = a.SelectedUser
			case a.Type == slack.ActionType(slack.METCheckboxGroups):
				for _, o := range a.SelectedOptions {
					if o.Value == "true" {
						v = "true"
					}
				}
			}
			out[key] = v
		}
	}
	return out
}
