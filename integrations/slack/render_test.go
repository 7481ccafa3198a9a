package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
	"github.com/slack-go/slack"
)

// blockJSON renders m and returns its blocks as generic JSON.
func blockJSON(t *testing.T, m bot.Message) (string, []map[string]any) {
	t.Helper()
	text, blocks := RenderMessage(m)
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return text, out
}

func types(blocks []map[string]any) []string {
	out := []string{}
	for _, b := range blocks {
		out = append(out, b["type"].(string))
	}
	return out
}

func textOf(b map[string]any) string {
	if t, ok := b["text"].(map[string]any); ok {
		return t["text"].(string)
	}
	return ""
}

func TestRenderMessage(t *testing.T) {
	manyFields := make([]bot.Field, 23)
	for i := range manyFields {
		manyFields[i] = bot.Field{Label: fmt.Sprintf("L%d", i), Value: "v"}
	}
	manyButtons := make([]bot.Button, 30)
	for i := range manyButtons {
		manyButtons[i] = bot.Button{ID: fmt.Sprintf("b%d", i), Text: "B"}
	}
	tests := []struct {
		name      string
		msg       bot.Message
		wantTypes []string
		wantText  string
		check     func(t *testing.T, blocks []map[string]any)
	}{
		{
			name:      "text only",
			msg:       bot.Message{Text: "hello *world*"},
			wantTypes: []string{"section"},
			wantText:  "hello *world*",
			check: func(t *testing.T, b []map[string]any) {
				if got := b[0]["text"].(map[string]any)["type"]; got != "mrkdwn" {
					t.Errorf("text type = %v, want mrkdwn", got)
				}
			},
		},
		{
			name:      "everything",
			msg:       bot.Message{Title: "INC-7 declared", Text: "checkout errors", Fields: []bot.Field{{Label: "Severity", Value: "sev2"}, {Label: "Commander", Value: "<@U1>"}}, Code: "ok", Buttons: []bot.Button{{ID: "resolve", Text: "Resolve", Value: "INC-7", Style: bot.ButtonDanger}}, Context: "opsbot"},
			wantTypes: []string{"header", "section", "section", "section", "actions", "context"},
			wantText:  "INC-7 declared\ncheckout errors",
			check: func(t *testing.T, b []map[string]any) {
				if got := textOf(b[0]); got != "INC-7 declared" {
					t.Errorf("header = %q", got)
				}
				fields := b[2]["fields"].([]any)
				if got := fields[0].(map[string]any)["text"]; got != "*Severity*\nsev2" {
					t.Errorf("field = %q", got)
				}
				if got := textOf(b[3]); got != "```\nok\n```" {
					t.Errorf("code = %q", got)
				}
				btn := b[4]["elements"].([]any)[0].(map[string]any)
				want := map[string]any{"type": "button", "action_id": "resolve", "value": "INC-7", "style": "danger",
					"text": map[string]any{"type": "plain_text", "text": "Resolve", "emoji": true}}
				if diff := cmp.Diff(want, btn); diff != "" {
					t.Errorf("button (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:      "fields only fallback",
			msg:       bot.Message{Fields: []bot.Field{{Label: "On call", Value: "<@U1>"}}},
			wantTypes: []string{"section"},
			wantText:  "On call: <@U1>",
		},
		{
			name:      "long title is cut to one header",
			msg:       bot.Message{Title: strings.Repeat("t", 200) + "\nsecond line"},
			wantTypes: []string{"header"},
			check: func(t *testing.T, b []map[string]any) {
				h := textOf(b[0])
				if n := utf8.RuneCountInString(h); n != maxHeaderText || !strings.HasSuffix(h, truncMark) {
					t.Errorf("header has %d chars ending %q, want %d ending with the marker", n, h[len(h)-5:], maxHeaderText)
				}
			},
		},
		{
			name:      "long text splits over sections at line breaks",
			msg:       bot.Message{Text: strings.Repeat(strings.Repeat("x", 99)+"\n", 70)},
			wantTypes: []string{"section", "section", "section"},
			check: func(t *testing.T, b []map[string]any) {
				for i, s := range b {
					txt := textOf(s)
					if utf8.RuneCountInString(txt) > maxSectionText {
						t.Errorf("section %d has %d chars", i, utf8.RuneCountInString(txt))
					}
					for _, line := range strings.Split(strings.TrimSuffix(txt, "\n"), "\n") {
						if len(line) != 99 {
							t.Errorf("section %d has a line of %d chars, want every line whole (99)", i, len(line))
							break
						}
					}
				}
			},
		},
		{
			name:      "huge text is cut with a marker",
			msg:       bot.Message{Text: strings.Repeat("é", 100_000)},
			wantTypes: []string{"section", "section", "section", "section", "section", "section", "section", "section", "section", "section"},
			check: func(t *testing.T, b []map[string]any) {
				if last := textOf(b[9]); !strings.HasSuffix(last, truncMark) {
					t.Error("last section lacks the truncation marker")
				}
			},
		},
		{
			name:      "more than ten fields",
			msg:       bot.Message{Fields: manyFields},
			wantTypes: []string{"section", "section", "section"},
			check: func(t *testing.T, b []map[string]any) {
				for i, want := range []int{10, 10, 3} {
					if got := len(b[i]["fields"].([]any)); got != want {
						t.Errorf("section %d has %d fields, want %d", i, got, want)
					}
				}
			},
		},
		{
			name:      "long code keeps the end",
			msg:       bot.Message{Code: strings.Repeat("line\n", 2000) + "exit status 3\n"},
			wantTypes: []string{"section"},
			check: func(t *testing.T, b []map[string]any) {
				code := textOf(b[0])
				if utf8.RuneCountInString(code) > maxSectionText {
					t.Errorf("code has %d chars", utf8.RuneCountInString(code))
				}
				if !strings.HasSuffix(code, "exit status 3\n```") || !strings.Contains(code, "characters cut") {
					t.Errorf("code = %q…%q, want the end kept and a cut marker", code[:60], code[len(code)-30:])
				}
			},
		},
		{
			name:      "backticks in code cannot close the block",
			msg:       bot.Message{Code: "a```b"},
			wantTypes: []string{"section"},
			check: func(t *testing.T, b []map[string]any) {
				if got := textOf(b[0]); strings.Count(got, "```") != 2 {
					t.Errorf("code = %q, want exactly the opening and closing fences", got)
				}
			},
		},
		{
			name:      "code is raw text: markup in it is shown, not sent",
			msg:       bot.Message{Code: `["probe", "--msg=<!channel> <@U0BOB> <https://evil.example|ok> & done"]`},
			wantTypes: []string{"section"},
			wantText:  `["probe", "--msg=&lt;!channel&gt; &lt;@U0BOB&gt; &lt;https://evil.example|ok&gt; &amp; done"]`,
			check: func(t *testing.T, b []map[string]any) {
				got := textOf(b[0])
				if strings.ContainsAny(strings.Trim(got, "`\n"), "<>") || !strings.Contains(got, "&lt;!channel&gt;") {
					t.Errorf("code = %q, want every bracket escaped", got)
				}
			},
		},
		{
			name:      "at most 25 buttons",
			msg:       bot.Message{Text: "t", Buttons: manyButtons},
			wantTypes: []string{"section", "actions"},
			check: func(t *testing.T, b []map[string]any) {
				if got := len(b[1]["elements"].([]any)); got != maxButtons {
					t.Errorf("buttons = %d, want %d", got, maxButtons)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, blocks := blockJSON(t, tt.msg)
			if diff := cmp.Diff(tt.wantTypes, types(blocks)); diff != "" {
				t.Errorf("block types (-want +got):\n%s", diff)
			}
			if tt.wantText != "" && text != tt.wantText {
				t.Errorf("fallback text = %q, want %q", text, tt.wantText)
			}
			if text == "" {
				t.Error("fallback text is empty")
			}
			if tt.check != nil && len(blocks) == len(tt.wantTypes) {
				tt.check(t, blocks)
			}
		})
	}
}

// TestBigMessagesAreAcceptedBySlack posts oversized messages to the fake,
// which rejects blocks beyond Slack's limits as Slack does.
func TestBigMessagesAreAcceptedBySlack(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	c, _, _ := newClient(t, fs)
	fields := make([]bot.Field, 100)
	for i := range fields {
		fields[i] = bot.Field{Label: strings.Repeat("L", 50), Value: strings.Repeat("v", 3000)}
	}
	buttons := make([]bot.Button, 40)
	for i := range buttons {
		buttons[i] = bot.Button{ID: fmt.Sprintf("b%d", i), Text: strings.Repeat("B", 100), Value: strings.Repeat("v", 3000)}
	}
	msgs := []bot.Message{
		{Channel: general, Title: strings.Repeat("T", 500), Text: strings.Repeat("word ", 50_000), Fields: fields,
			Code: strings.Repeat("out\n", 10_000), Buttons: buttons, Context: strings.Repeat("c", 5000)},
		{Channel: general, Fields: fields},
		{Channel: general, Code: strings.Repeat("é", 9000)},
	}
	for i, m := range msgs {
		if _, err := c.Post(context.Background(), m); err != nil {
			t.Errorf("message %d rejected: %v", i, err)
		}
		_, blocks := RenderMessage(m)
		if len(blocks) > maxBlocks {
			t.Errorf("message %d has %d blocks, want at most %d", i, len(blocks), maxBlocks)
		}
	}
}

func TestRenderModalAndReadValues(t *testing.T) {
	m := bot.Modal{CallbackID: "declare", Title: "Declare a new incident please", Submit: "Declare", PrivateMetadata: "C1",
		Inputs: []bot.Input{
			{ID: "title", Label: "Title", Kind: bot.InputText, Placeholder: "What is broken?", MaxLength: 80},
			{ID: "severity", Label: "Severity", Kind: bot.InputSelect, Options: []string{"sev1", "sev2", "sev3"}, Initial: "sev3"},
			{ID: "description", Label: "Description", Kind: bot.InputMultiline, Optional: true},
			{ID: "who", Label: "Commander", Kind: bot.InputUser, Initial: "U0BOB"},
		}}
	v, err := RenderModal(m)
	if err != nil {
		t.Fatal(err)
	}
	if v.Type != slack.VTModal || v.CallbackID != "declare" || v.PrivateMetadata != "C1" {
		t.Errorf("view = %+v", v)
	}
	if n := utf8.RuneCountInString(v.Title.Text); n > maxModalTitle {
		t.Errorf("title has %d chars, want at most %d", n, maxModalTitle)
	}
	if len(v.Blocks.BlockSet) != 4 {
		t.Fatalf("blocks = %d, want 4", len(v.Blocks.BlockSet))
	}
	who := v.Blocks.BlockSet[3].(*slack.InputBlock).Element.(*slack.SelectBlockElement)
	if who.Type != slack.OptTypeUser || who.ActionID != "who" || who.InitialUser != "U0BOB" {
		t.Errorf("user select = %+v", who)
	}
	title := v.Blocks.BlockSet[0].(*slack.InputBlock)
	if title.BlockID != "title" || title.Element.(*slack.PlainTextInputBlockElement).ActionID != "title" ||
		title.Element.(*slack.PlainTextInputBlockElement).MaxLength != 80 {
		t.Errorf("title input = %+v", title)
	}
	sev := v.Blocks.BlockSet[1].(*slack.InputBlock).Element.(*slack.SelectBlockElement)
	if sev.Type != slack.OptTypeStatic || len(sev.Options) != 3 || sev.InitialOption == nil || sev.InitialOption.Value != "sev3" {
		t.Errorf("severity select = %+v", sev)
	}
	desc := v.Blocks.BlockSet[2].(*slack.InputBlock)
	if !desc.Optional || !desc.Element.(*slack.PlainTextInputBlockElement).Multiline {
		t.Errorf("description input = %+v", desc)
	}

	if _, err := RenderModal(bot.Modal{Title: "x", PrivateMetadata: strings.Repeat("m", 3001)}); err == nil {
		t.Error("oversized metadata: got nil error")
	}

	state := &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
		"title":       {"title": {Type: "plain_text_input", Value: "checkout down"}},
		"severity":    {"severity": {Type: "static_select", SelectedOption: slack.OptionBlockObject{Value: "sev2"}}},
		"description": {"description": {Type: "plain_text_input"}},
		"who":         {"who": {Type: "users_select", SelectedUser: "U0CAROL"}},
	}}
	want := map[string]string{"title": "checkout down", "severity": "sev2", "description": "", "who": "U0CAROL"}
	if diff := cmp.Diff(want, ViewValues(state)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if got := ViewValues(nil); len(got) != 0 {
		t.Errorf("ViewValues(nil) = %v, want empty", got)
	}
}

func TestRenderModalCheckboxAndReadIt(t *testing.T) {
	v, err := RenderModal(bot.Modal{CallbackID: "cb", Title: "Declare", Inputs: []bot.Input{
		{ID: "drill", Label: "Drill: rehearse", Kind: bot.InputCheckbox}}})
	if err != nil {
		t.Fatal(err)
	}
	ib := v.Blocks.BlockSet[0].(*slack.InputBlock)
	cb, ok := ib.Element.(*slack.CheckboxGroupsBlockElement)
	if !ok || cb.ActionID != "drill" || len(cb.Options) != 1 || cb.Options[0].Value != "true" || cb.Options[0].Text.Text != "Drill: rehearse" {
		t.Fatalf("element = %#v, want one checkbox with value true", ib.Element)
	}
	if !ib.Optional {
		t.Error("a checkbox input must be optional, or it could not be left unticked")
	}
	tests := []struct {
		name     string
		selected []slack.OptionBlockObject
		want     string
	}{
		{name: "ticked", selected: []slack.OptionBlockObject{{Value: "true"}}, want: "true"},
		{name: "unticked", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
				"drill": {"drill": {Type: "checkboxes", SelectedOptions: tt.selected}}}}
			if got := ViewValues(state)["drill"]; got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
		})
	}
}
