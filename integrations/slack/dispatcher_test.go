package slack

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/slack/fakeslack"
)

// recorder is a Dispatcher that keeps what Listen submits and refuses
// every modal submission with one field error.
type recorder struct {
	mu        sync.Mutex
	submitted []*bot.Request
	validated int
	got       chan struct{}
}

func (r *recorder) Submit(_ context.Context, req *bot.Request) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.submitted = append(r.submitted, req)
	r.got <- struct{}{}
	return nil
}

func (r *recorder) ValidateView(*bot.ViewSubmission) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.validated++
	return map[string]string{"title": "no"}
}

// Immediate answers nothing at once: every command goes to Submit.
func (r *recorder) Immediate(*bot.Request) (bot.Immediate, bool) { return bot.Immediate{}, false }

func (r *recorder) Answered(*bot.Request, bot.Immediate, time.Duration) {}

func (r *recorder) count() (submitted, validated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.submitted), r.validated
}

// Listen needs only the Dispatcher: it acks, then submits, and a modal
// refused before the ack is never submitted.
func TestListenFeedsAnyDispatcher(t *testing.T) {
	fs := fakeslack.New(t)
	fs.AddUser(fakeslack.User{ID: alice, Name: "alice"})
	general := fs.AddChannel("general", alice)
	c, _, _ := newClient(t, fs)
	rec := &recorder{got: make(chan struct{}, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Listen(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Listen did not return after cancel")
		}
	})
	if err := fs.WaitConnections(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	view, err := fs.SendViewSubmission(fakeslack.ViewSubmission{UserID: alice, CallbackID: "declare", Values: map[string]string{"title": ""}})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := fs.WaitAck(waitCtx(t), view.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	var payload struct {
		Errors map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(ack.Payload, &payload); err != nil || payload.Errors["title"] != "no" {
		t.Errorf("ack payload %s, want the dispatcher's field error", ack.Payload)
	}

	sent, err := fs.SendSlashCommand(fakeslack.SlashCommand{Command: "/echo", Text: "say hi", UserID: alice, ChannelID: general})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitAck(waitCtx(t), sent.EnvelopeID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.got:
	case <-waitCtx(t).Done():
		t.Fatal("the slash command was not submitted")
	}
	if n, v := rec.count(); n != 1 || v != 1 {
		t.Errorf("submitted %d, validated %d; want the command submitted and the refused modal only validated", n, v)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.submitted[0]; got.Command != "/echo" || got.Text != "say hi" || got.EnvelopeID != sent.EnvelopeID {
		t.Errorf("submitted %+v, want /echo say hi with its envelope ID", got)
	}
}
