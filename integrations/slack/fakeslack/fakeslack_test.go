package fakeslack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

func client(fs *fakeslack.Server, token string) *slack.Client {
	return slack.New(token, slack.OptionAPIURL(fs.APIURL()), slack.OptionAppLevelToken(fs.AppToken()))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func code(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestAuth(t *testing.T) {
	fs := fakeslack.New(t)
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{name: "bot token", token: fs.BotToken(), want: ""},
		{name: "wrong token", token: "xoxb-wrong", want: "invalid_auth"},
		{name: "app token on a web method", token: fs.AppToken(), want: "not_allowed_token_type"},
		{name: "no token", token: "", want: "not_authed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(fs, tt.token).AuthTestContext(ctx(t))
			if got := code(err); got != tt.want {
				t.Errorf("auth.test error = %q, want %q", got, tt.want)
			}
		})
	}
	// apps.connections.open wants the app token, not the bot token.
	wrong := slack.New(fs.BotToken(), slack.OptionAPIURL(fs.APIURL()), slack.OptionAppLevelToken(fs.BotToken()))
	if _, _, err := wrong.StartSocketModeContext(ctx(t)); code(err) != "not_allowed_token_type" {
		t.Errorf("apps.connections.open with bot token: %v, want not_allowed_token_type", err)
	}
	calls := fs.Calls("auth.test")
	if len(calls) != 4 {
		t.Fatalf("recorded %d auth.test calls, want 4", len(calls))
	}
	if calls[1].Error != "invalid_auth" {
		t.Errorf("recorded error = %q, want invalid_auth", calls[1].Error)
	}
	for _, c := range calls {
		if c.Params.Has("token") {
			t.Error("recorded params keep the token")
		}
	}
}

func TestInjectedFailuresAndLatency(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	api := client(fs, fs.BotToken())

	fs.FailNext("chat.postMessage", "fatal_error")
	if _, _, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionText("a", false)); code(err) != "fatal_error" {
		t.Errorf("first post: %v, want fatal_error", err)
	}
	if _, _, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionText("b", false)); err != nil {
		t.Errorf("second post: %v, want success", err)
	}

	fs.RateLimitNext("chat.postMessage", 1500*time.Millisecond)
	_, _, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionText("c", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
		t.Errorf("rate limited post: %v, want RateLimitedError with 2s (rounded up)", err)
	}
	if got := len(fs.Messages(general)); got != 1 {
		t.Errorf("messages = %d, want 1", got)
	}

	fs.SetLatency(20 * time.Millisecond)
	start := time.Now()
	for i := 0; i < 3; i++ {
		if _, err := api.AuthTestContext(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("3 sequential calls took %v, want at least 3×20ms", took)
	}
}

func TestHistoryAndReplies(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	api := client(fs, fs.BotToken())
	a := fs.AddMessage(general, "U1", "a", "")
	r1 := fs.AddMessage(general, "U2", "r1", a)
	b := fs.AddMessage(general, "U1", "b", "")
	r2 := fs.AddMessage(general, "U2", "r2", r1) // a reply to a reply joins the thread

	hist, err := api.GetConversationHistoryContext(ctx(t), &slack.GetConversationHistoryParameters{ChannelID: general})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range hist.Messages {
		got = append(got, m.Timestamp)
	}
	if diff := cmp.Diff([]string{b, a}, got); diff != "" {
		t.Errorf("history, newest first, no replies (-want +got):\n%s", diff)
	}
	if hist.Messages[1].ReplyCount != 2 {
		t.Errorf("reply_count = %d, want 2", hist.Messages[1].ReplyCount)
	}

	one, err := api.GetConversationHistoryContext(ctx(t), &slack.GetConversationHistoryParameters{
		ChannelID: general, Latest: a, Oldest: a, Inclusive: true, Limit: 1})
	if err != nil || len(one.Messages) != 1 || one.Messages[0].Text != "a" {
		t.Errorf("inclusive window on a = %+v, %v", one, err)
	}
	none, _ := api.GetConversationHistoryContext(ctx(t), &slack.GetConversationHistoryParameters{
		ChannelID: general, Latest: a, Oldest: a, Limit: 1})
	if len(none.Messages) != 0 {
		t.Errorf("exclusive window on a = %d messages, want 0", len(none.Messages))
	}

	msgs, _, _, err := api.GetConversationRepliesContext(ctx(t), &slack.GetConversationRepliesParameters{ChannelID: general, Timestamp: r2})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range msgs {
		got = append(got, m.Text)
	}
	if diff := cmp.Diff([]string{"a", "r1", "r2"}, got); diff != "" {
		t.Errorf("thread (-want +got):\n%s", diff)
	}
	if _, _, _, err := api.GetConversationRepliesContext(ctx(t), &slack.GetConversationRepliesParameters{ChannelID: general, Timestamp: "1.2"}); code(err) != "thread_not_found" {
		t.Errorf("replies of unknown ts: %v, want thread_not_found", err)
	}
}

func TestInviteSemantics(t *testing.T) {
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: "U1"})
	fs.AddUser(fakeslack.User{ID: "U2"})
	general := fs.AddChannel("general", "U1")
	api := client(fs, fs.BotToken())

	if _, err := api.InviteUsersToConversationContext(ctx(t), general, "U1", "U2"); code(err) != "already_in_channel" {
		t.Errorf("invite with a member: %v, want already_in_channel", err)
	}
	if diff := cmp.Diff([]string{fakeslack.BotUserID, "U1"}, fs.Members(general)); diff != "" {
		t.Errorf("a failed batch changed members (-want +got):\n%s", diff)
	}
	if _, err := api.ForceInviteUsersToConversationContext(ctx(t), general, "U1", "U2"); code(err) != "already_in_channel" {
		t.Errorf("forced invite: %v, want already_in_channel reported", err)
	}
	if diff := cmp.Diff([]string{fakeslack.BotUserID, "U1", "U2"}, fs.Members(general)); diff != "" {
		t.Errorf("forced invite members (-want +got):\n%s", diff)
	}
}

func TestViewsOpenNeedsAFreshTrigger(t *testing.T) {
	fs := fakeslack.New(t)
	api := client(fs, fs.BotToken())
	view := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject("plain_text", "Hi", false, false), CallbackID: "cb"}
	if _, err := api.OpenViewContext(ctx(t), "made.up", view); code(err) != "invalid_trigger_id" {
		t.Errorf("made-up trigger: %v, want invalid_trigger_id", err)
	}

	sm := socketmode.New(api)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sm.RunContext(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		for range sm.Events {
		}
	}()
	if err := fs.WaitConnections(ctx(t), 1); err != nil {
		t.Fatal(err)
	}
	sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/x", UserID: "U1", ChannelID: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.OpenViewContext(ctx(t), sent.TriggerID, view); err != nil {
		t.Fatalf("fresh trigger: %v", err)
	}
	if _, err := api.OpenViewContext(ctx(t), sent.TriggerID, view); code(err) != "exchanged_trigger_id" {
		t.Errorf("reused trigger: %v, want exchanged_trigger_id", err)
	}
	if vs := fs.Views(); len(vs) != 1 || vs[0].CallbackID != "cb" || vs[0].Title != "Hi" {
		t.Errorf("views = %+v", vs)
	}
}

func TestBlocksBeyondSlackLimitsAreRejected(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	api := client(fs, fs.BotToken())
	long := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("x", 3001), false, false), nil, nil)
	if _, _, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionBlocks(long)); code(err) != "invalid_blocks" {
		t.Errorf("3001-char section: %v, want invalid_blocks", err)
	}
	ok := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("x", 3000), false, false), nil, nil)
	if _, _, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionBlocks(ok)); err != nil {
		t.Errorf("3000-char section: %v", err)
	}
}

func TestSocketModeAckRecorded(t *testing.T) {
	fs, err := fakeslack.Start(fakeslack.WithPingInterval(10 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if _, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/x"}); !errors.Is(err, fakeslack.ErrNoConnection) {
		t.Errorf("send without connection: %v, want ErrNoConnection", err)
	}
	sm := socketmode.New(client(fs, fs.BotToken()), socketmode.OptionPingInterval(100*time.Millisecond))
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sm.RunContext(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	cmds := make(chan slack.SlashCommand, 1)
	go func() {
		for evt := range sm.Events {
			if evt.Type == socketmode.EventTypeSlashCommand {
				cmds <- evt.Data.(slack.SlashCommand)
				_ = sm.Ack(*evt.Request, map[string]string{"text": "hi"})
			}
		}
	}()
	if err := fs.WaitConnections(ctx(t), 1); err != nil {
		t.Fatal(err)
	}
	// Pings every 10ms keep a client with a 100ms ping timeout connected.
	time.Sleep(300 * time.Millisecond)
	if n := fs.TotalConnections(); n != 1 {
		t.Fatalf("connections = %d, want 1 (pings must keep it alive)", n)
	}
	sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: "list", UserID: "U1", ChannelID: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := fs.WaitAck(ctx(t), sent.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]string
	if err := json.Unmarshal(ack.Payload, &payload); err != nil || payload["text"] != "hi" {
		t.Errorf("ack payload = %s", ack.Payload)
	}
	if ack.Received.Before(ack.Sent) {
		t.Errorf("ack received %v before sent %v", ack.Received, ack.Sent)
	}
	got := <-cmds
	if got.TriggerID != sent.TriggerID || got.ResponseURL != sent.ResponseURL || got.Command != "/incident" || got.TeamID != fakeslack.TeamID {
		t.Errorf("slash command = %+v, want trigger %s", got, sent.TriggerID)
	}
}

// TestSlashCommandAnsweredInAck: an ack payload answers the command as Slack
// shows it (ephemeral by default, in_channel on request), and an ack of
// MaxAckSize or more is dropped whole, as Slack drops it: the envelope stays
// unacknowledged and nothing is shown. A raw websocket client is used because
// slack-go refuses to send such an ack at all.
func TestSlashCommandAnsweredInAck(t *testing.T) {
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice"})
	general := fs.AddChannel("general", "U0ALICE")
	_, url, err := client(fs, fs.AppToken()).StartSocketModeContext(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var hello map[string]any
	if err := ws.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
		t.Fatalf("hello = %v, %v", hello, err)
	}
	send := func(text string) string {
		t.Helper()
		sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/incident", Text: text, UserID: "U0ALICE", ChannelID: general})
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			EnvelopeID             string `json:"envelope_id"`
			AcceptsResponsePayload bool   `json:"accepts_response_payload"`
		}
		if err := ws.ReadJSON(&env); err != nil || env.EnvelopeID != sent.EnvelopeID || !env.AcceptsResponsePayload {
			t.Fatalf("envelope = %+v, %v; want %s accepting a response payload", env, err, sent.EnvelopeID)
		}
		return env.EnvelopeID
	}
	ack := func(id string, payload any) {
		t.Helper()
		if err := ws.WriteJSON(map[string]any{"envelope_id": id, "payload": payload}); err != nil {
			t.Fatal(err)
		}
	}

	id := send("help")
	ack(id, map[string]any{"response_type": "ephemeral", "text": "the help",
		"blocks": []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*the help*"}}}})
	a, err := fs.WaitAck(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	eph := fs.Ephemerals(general, "U0ALICE")
	if len(eph) != 1 || eph[0].Via != "ack" || !strings.Contains(eph[0].Rendered(), "*the help*") || eph[0].Time.Before(a.Sent) {
		t.Errorf("ephemerals = %+v, want the help via the ack", eph)
	}

	id = send("say")
	ack(id, map[string]any{"response_type": "in_channel", "text": "for all"})
	if _, err := fs.WaitAck(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if msgs := fs.Messages(general); len(msgs) != 1 || msgs[0].Text != "for all" || msgs[0].BotID == "" {
		t.Errorf("messages = %+v, want the bot's in_channel answer", msgs)
	}

	id = send("big")
	ack(id, map[string]any{"text": strings.Repeat("x", fakeslack.MaxAckSize)})
	ack(id+"-after", nil) // a later message proves the big one was read
	if _, err := fs.WaitAck(ctx(t), id+"-after"); err != nil {
		t.Fatal(err)
	}
	if got := fs.DroppedAcks(); got != 1 {
		t.Errorf("dropped acks = %d, want 1", got)
	}
	for _, a := range fs.Acks() {
		if a.EnvelopeID == id {
			t.Errorf("the oversized ack was recorded: %d bytes", a.Size)
		}
	}
	if got := len(fs.Ephemerals(general, "U0ALICE")); got != 1 {
		t.Errorf("ephemerals = %d, want only the first", got)
	}
}

// TestMessageMetadata: metadata posted with a message comes back from
// conversations.history only with include_all_metadata, survives an edit
// that sends none, is replaced by an edit that sends some, and malformed
// metadata is refused with Slack's codes.
func TestMessageMetadata(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	api := client(fs, fs.BotToken())
	meta := slack.SlackMetadata{EventType: "alert_group_message", EventPayload: map[string]any{"group": "g1", "episode": "2"}}
	_, ts, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionText("firing", false), slack.MsgOptionMetadata(meta))
	if err != nil {
		t.Fatal(err)
	}
	history := func(all bool) slack.Message {
		t.Helper()
		h, err := api.GetConversationHistoryContext(ctx(t), &slack.GetConversationHistoryParameters{ChannelID: general, IncludeAllMetadata: all})
		if err != nil || len(h.Messages) != 1 {
			t.Fatalf("history: %+v, %v", h, err)
		}
		return h.Messages[0]
	}
	if got := history(false).Metadata; got.EventType != "" || got.EventPayload != nil {
		t.Errorf("metadata without include_all_metadata: %+v, want none", got)
	}
	if diff := cmp.Diff(meta, history(true).Metadata); diff != "" {
		t.Errorf("metadata with include_all_metadata (-want +got):\n%s", diff)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx(t), general, ts, slack.MsgOptionText("resolved", false)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta, history(true).Metadata); diff != "" {
		t.Errorf("metadata after an edit without metadata (-want +got):\n%s", diff)
	}
	meta2 := slack.SlackMetadata{EventType: "alert_group_message", EventPayload: map[string]any{"group": "g1", "episode": "3"}}
	if _, _, _, err := api.UpdateMessageContext(ctx(t), general, ts, slack.MsgOptionText("again", false), slack.MsgOptionMetadata(meta2)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta2, history(true).Metadata); diff != "" {
		t.Errorf("metadata after an edit with metadata (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name, metadata, want string
	}{
		{"not JSON", `{"event_type":`, "invalid_metadata_format"},
		{"no event type", `{"event_payload":{"a":"b"}}`, "invalid_metadata_schema"},
		{"payload not an object", `{"event_type":"x","event_payload":"b"}`, "invalid_metadata_schema"},
		{"too large", `{"event_type":"x","event_payload":{"a":"` + strings.Repeat("b", 9000) + `"}}`, "metadata_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.PostForm(fs.APIURL()+"chat.postMessage", url.Values{"token": {fs.BotToken()},
				"channel": {general}, "text": {"x"}, "metadata": {tc.metadata}})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if body.OK || body.Error != tc.want {
				t.Errorf("got ok=%v error %q, want %q", body.OK, body.Error, tc.want)
			}
		})
	}
	if n := len(fs.Messages(general)); n != 1 {
		t.Errorf("%d messages after the refused posts, want 1", n)
	}
}

// TestHistoryPages: conversations.history pages with next_cursor, newest
// first, until has_more is false.
func TestHistoryPages(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	api := client(fs, fs.BotToken())
	var want []string
	for i := 0; i < 7; i++ {
		want = append([]string{fs.AddMessage(general, "U1", fmt.Sprint(i), "")}, want...)
	}
	params := &slack.GetConversationHistoryParameters{ChannelID: general, Limit: 3, Oldest: want[5], Inclusive: true}
	var got []string
	pages := 0
	for {
		h, err := api.GetConversationHistoryContext(ctx(t), params)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, m := range h.Messages {
			got = append(got, m.Timestamp)
		}
		if !h.HasMore {
			if h.ResponseMetaData.NextCursor != "" {
				t.Errorf("a cursor on the last page")
			}
			break
		}
		params.Cursor = h.ResponseMetaData.NextCursor
	}
	if diff := cmp.Diff(want[:6], got); diff != "" || pages != 2 {
		t.Errorf("%d pages (-want +got):\n%s", pages, diff)
	}
	if _, err := api.GetConversationHistoryContext(ctx(t), &slack.GetConversationHistoryParameters{ChannelID: general, Cursor: "bogus"}); code(err) != "invalid_cursor" {
		t.Errorf("bad cursor: %v, want invalid_cursor", err)
	}
}

// TestDeleteMessage: the bot deletes its own messages, not people's.
func TestDeleteMessage(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	api := client(fs, fs.BotToken())
	_, ts, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionText("oops", false))
	if err != nil {
		t.Fatal(err)
	}
	theirs := fs.AddMessage(general, "U1", "mine", "")
	if _, _, err := api.DeleteMessageContext(ctx(t), general, ts); err != nil {
		t.Fatal(err)
	}
	if _, ok := fs.Message(general, ts); ok {
		t.Error("the deleted message is still there")
	}
	if _, _, err := api.DeleteMessageContext(ctx(t), general, ts); code(err) != "message_not_found" {
		t.Errorf("second delete: %v, want message_not_found", err)
	}
	if _, _, err := api.DeleteMessageContext(ctx(t), general, theirs); code(err) != "cant_delete_message" {
		t.Errorf("deleting a person's message: %v, want cant_delete_message", err)
	}
}

// TestLostAndHeldAnswers: a dropped answer leaves the call done and the
// client with an error; a held answer arrives once released.
func TestLostAndHeldAnswers(t *testing.T) {
	fs := fakeslack.New(t)
	general := fs.AddChannel("general")
	api := client(fs, fs.BotToken())
	landed := fs.DropAnswerNext("chat.postMessage")
	if _, _, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionText("lost", false)); err == nil {
		t.Fatal("the post whose answer was dropped succeeded")
	}
	if c := <-landed; c.Params.Get("text") != "lost" || len(fs.Messages(general)) != 1 {
		t.Errorf("landed %+v; %d messages, want the post to have taken effect", c, len(fs.Messages(general)))
	}

	landed, release := fs.HoldAnswerNext("chat.postMessage")
	done := make(chan error, 1)
	go func() {
		_, _, err := api.PostMessageContext(ctx(t), general, slack.MsgOptionText("held", false))
		done <- err
	}()
	<-landed
	if n := len(fs.Messages(general)); n != 2 {
		t.Fatalf("%d messages while the answer is held, want 2", n)
	}
	select {
	case err := <-done:
		t.Fatalf("the held answer arrived before its release: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("the released answer: %v", err)
	}
}
