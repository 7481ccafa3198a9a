package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// ackTimeout bounds queueing one ack.
const ackTimeout = 2 * time.Second

// Dispatcher is what Listen hands envelopes to; *bot.Engine is one.
type Dispatcher interface {
	// Submit queues an acknowledged request, blocking while the queue is
	// full, until ctx ends.
	Submit(ctx context.Context, req *bot.Request) error
	// ValidateView checks a modal submission before the ack, which carries
	// its field errors; it must be fast and do no I/O.
	ValidateView(v *bot.ViewSubmission) map[string]string
	// Immediate returns the answer to a request that needs no I/O (help,
	// usage, argument errors), which travels in the ack; Answered records
	// that it was delivered.
	Immediate(req *bot.Request) (bot.Immediate, bool)
	Answered(req *bot.Request, im bot.Immediate, took time.Duration)
}

var _ Dispatcher = (*bot.Engine)(nil)

// Listen connects to Slack in Socket Mode and feeds every envelope to engine
// until ctx ends (then it returns nil) or the connection fails for good (bad
// token: it returns the error). slack-go reconnects by itself after dropped
// sockets and Slack's disconnect requests.
//
// Each envelope is converted to a request in memory (no I/O), acknowledged,
// and only then submitted: Slack wants the ack within 3 seconds whatever the
// work takes. A modal submission's synchronous validation also runs before
// the ack, because field errors travel in the ack.
func (c *Client) Listen(ctx context.Context, engine Dispatcher) error {
	smc := socketmode.New(c.api, socketmode.OptionLog(zap.NewStdLog(c.log)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- smc.RunContext(ctx) }()
	defer c.connected.Store(false)

	for {
		select {
		case <-ctx.Done():
			<-runErr
			return nil
		case err := <-runErr:
			if ctx.Err() != nil {
				return nil
			}
			return c.wrap("apps.connections.open", fmt.Errorf("socket mode stopped: %w", err))
		case evt := <-smc.Events:
			c.dispatch(ctx, smc, engine, evt)
		}
	}
}

func (c *Client) dispatch(ctx context.Context, smc *socketmode.Client, engine Dispatcher, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		c.connected.Store(false)
		c.log.Info("connecting to slack")
	case socketmode.EventTypeConnected:
		c.connected.Store(true)
		c.log.Info("connected to slack")
	case socketmode.EventTypeHello:
		c.connected.Store(true)
	case socketmode.EventTypeConnectionError:
		c.connected.Store(false)
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			c.log.Warn("slack connection failed; retrying", zap.Duration("backoff", ce.Backoff),
				zap.String("error", redactString(fmt.Sprint(ce.ErrorObj), c.secrets)))
		}
	case socketmode.EventTypeInvalidAuth:
		c.connected.Store(false)
		c.log.Error("slack rejected the app token")
	case socketmode.EventTypeDisconnect:
		c.connected.Store(false)
		c.log.Info("slack asked to reconnect")
	case socketmode.EventTypeIncomingError:
		// Also sent for a malformed frame on a healthy connection; a real
		// drop is followed by EventTypeConnecting, which clears the flag.
		c.log.Warn("slack connection read failed")
	case socketmode.EventTypeErrorWriteFailed:
		if we, ok := evt.Data.(*socketmode.ErrorWriteFailed); ok && we.Response != nil {
			c.log.Error("ack not written", zap.String("envelope_id", we.Response.EnvelopeID), zap.Error(we.Cause))
		}
	case socketmode.EventTypeErrorBadMessage:
		c.badMessage(ctx, smc, evt)
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
		c.envelope(ctx, smc, engine, evt)
	}
}

// envelope acks one envelope and submits the request it carries. A slash
// command whose answer needs no I/O (help, usage, an argument error) is
// answered in the ack itself: one round trip, no Web API call, no worker.
func (c *Client) envelope(ctx context.Context, smc *socketmode.Client, engine Dispatcher, evt socketmode.Event) {
	received := time.Now()
	if evt.Request == nil {
		return
	}
	typ := string(evt.Type)
	env := evt.Request
	c.metrics.received.WithLabelValues(typ).Inc()

	req, ackPayload, err := c.convert(evt, engine)
	if err != nil {
		c.envLog(env, typ).Warn("envelope not understood; acknowledged and dropped", zap.Error(err))
	}
	var (
		answer   bot.Immediate
		answered bool
	)
	if req != nil && req.Kind == bot.KindCommand {
		req.EnvelopeID = env.EnvelopeID
		if im, ok := engine.Immediate(req); ok {
			if p, fits := c.ackAnswer(env.EnvelopeID, im.Response); fits {
				ackPayload, answer, answered = p, im, true
			} else {
				// Slack drops acks of 20 KB or more: the answer goes the
				// way of every other, posted by a worker after a plain ack.
				c.envLog(env, typ).Info("answer too big for the ack; posting it", zap.Int("bytes", len(p)))
			}
		}
	}
	// AckCtx only queues the ack for slack-go's writer; the deadline keeps a
	// stalled connection from blocking the loop (Slack will redeliver).
	actx, cancel := context.WithTimeout(ctx, ackTimeout)
	aerr := smc.AckCtx(actx, env.EnvelopeID, ackPayload)
	cancel()
	if aerr != nil && answered && !errors.Is(aerr, context.DeadlineExceeded) && !errors.Is(aerr, context.Canceled) {
		// Refused before it was queued (slack-go checks the size too):
		// acknowledge plainly and post the answer instead.
		c.envLog(env, typ).Warn("answer not accepted in the ack; posting it", zap.Error(aerr))
		answered = false
		actx, cancel := context.WithTimeout(ctx, ackTimeout)
		aerr = smc.AckCtx(actx, env.EnvelopeID, nil)
		cancel()
	}
	if aerr != nil {
		c.envLog(env, typ).Error("ack failed", zap.Error(aerr))
		return
	}
	c.metrics.acked.WithLabelValues(typ).Inc()
	took := time.Since(received)
	c.metrics.ackLatency.Observe(took.Seconds())
	if req == nil {
		return
	}
	req.EnvelopeID = env.EnvelopeID
	req.RetryAttempt = env.RetryAttempt
	req.Received = c.now()
	if answered {
		engine.Answered(req, answer, took)
		return
	}
	if ce := c.log.Check(zap.DebugLevel, "envelope acknowledged"); ce != nil {
		ce.Write(zap.String("envelope_id", env.EnvelopeID), zap.String("type", typ), zap.Int("retry_attempt", env.RetryAttempt),
			zap.String("kind", string(req.Kind)), zap.String("dedupe_key", req.DedupeKey))
	}
	// Submit blocks while the engine's queue is full. That is deliberate
	// backpressure: this envelope is acked and will run, and the envelopes
	// behind it stay unacked, so Slack redelivers them (possibly to another
	// replica) instead of the bot accepting work it cannot start.
	if err := engine.Submit(ctx, req); err != nil {
		c.envLog(env, typ).Error("request not queued", zap.Error(err))
	}
}

// envLog is the logger for one envelope. Built only when something is
// logged: fields made for every envelope and never written cost an
// allocation each on the ack path.
func (c *Client) envLog(env *socketmode.Request, typ string) *zap.Logger {
	return c.log.With(zap.String("envelope_id", env.EnvelopeID), zap.String("type", typ),
		zap.Int("retry_attempt", env.RetryAttempt))
}

// maxAck is Slack's limit on a Socket Mode response: Slack silently drops
// one of 20 KB or more (slack-go's AckCtx refuses it too).
const maxAck = 20 * 1024

// commandAnswer is a slash command's answer in its ack, as Slack reads it
// from a slash command's response.
type commandAnswer struct {
	ResponseType string        `json:"response_type"`
	Text         string        `json:"text"`
	Blocks       []slack.Block `json:"blocks,omitempty"`
}

// answerCacheSize bounds the rendered answers kept: help texts, usage lines
// and the commoner refusals.
const answerCacheSize = 256

// answerKey identifies an answer made of text alone, which is what help,
// usage and argument errors are.
type answerKey struct {
	vis  bot.Visibility
	text string
}

// ackAnswer renders resp as a slash command's ack payload. fits is false
// when the whole ack (envelope ID and payload, as slack-go writes it) would
// reach Slack's size limit. Answers of text alone are rendered once and
// kept: the same help goes out thousands of times, and rendering it (Block
// Kit, then JSON) was most of the allocation on the ack path.
func (c *Client) ackAnswer(envelopeID string, resp bot.Response) (payload json.RawMessage, fits bool) {
	m := resp.Message
	textOnly := m.Title == "" && len(m.Fields) == 0 && m.Code == "" && len(m.Buttons) == 0 && m.Context == "" && m.ThreadTS == ""
	key := answerKey{vis: resp.Visibility, text: m.Text}
	if textOnly {
		if raw, ok := c.answers.Get(key); ok {
			return raw, ackFits(envelopeID, raw)
		}
	}
	raw, fits := ackAnswer(envelopeID, resp)
	if textOnly && raw != nil {
		c.answers.Add(key, raw)
	}
	return raw, fits
}

// ackFits reports whether an ack with this payload stays under Slack's limit:
// {"envelope_id":"…","payload":…}.
func ackFits(envelopeID string, payload json.RawMessage) bool {
	return len(`{"envelope_id":"","payload":}`)+len(envelopeID)+len(payload) < maxAck
}

// ackAnswer renders resp as a slash command's ack payload; see
// Client.ackAnswer.
func ackAnswer(envelopeID string, resp bot.Response) (payload json.RawMessage, fits bool) {
	text, blocks := RenderMessage(resp.Message)
	a := commandAnswer{ResponseType: slack.ResponseTypeEphemeral, Text: text, Blocks: blocks}
	if resp.Visibility == bot.InChannel {
		a.ResponseType = slack.ResponseTypeInChannel
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return nil, false
	}
	return raw, ackFits(envelopeID, raw)
}

// convert turns an envelope into a request. A nil request means there is
// nothing to run (an event the bot ignores, a rejected modal); ack is the ack
// payload, if any.
func (c *Client) convert(evt socketmode.Event, engine Dispatcher) (req *bot.Request, ack any, err error) {
	switch data := evt.Data.(type) {
	case slack.SlashCommand:
		return &bot.Request{
			Kind: bot.KindCommand, DedupeKey: data.TriggerID, TriggerID: data.TriggerID,
			TeamID: data.TeamID, UserID: data.UserID, UserName: data.UserName,
			ChannelID: data.ChannelID, ChannelName: data.ChannelName,
			Command: data.Command, Text: data.Text, ResponseURL: data.ResponseURL,
		}, nil, nil
	case slack.InteractionCallback:
		return c.convertInteraction(data, engine)
	case slackevents.EventsAPIEvent:
		req, err := convertEvent(data)
		return req, nil, err
	}
	return nil, nil, fmt.Errorf("unexpected %T payload", evt.Data)
}

func (c *Client) convertInteraction(cb slack.InteractionCallback, engine Dispatcher) (*bot.Request, any, error) {
	req := &bot.Request{TriggerID: cb.TriggerID, DedupeKey: cb.TriggerID, TeamID: cb.Team.ID,
		UserID: cb.User.ID, UserName: cb.User.Name, ChannelID: cb.Channel.ID, ChannelName: cb.Channel.Name,
		ResponseURL: cb.ResponseURL}
	if req.TeamID == "" {
		req.TeamID = cb.User.TeamID
	}
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		if len(cb.ActionCallback.BlockActions) == 0 {
			return nil, nil, errors.New("block_actions without actions")
		}
		a := cb.ActionCallback.BlockActions[0]
		value := a.Value
		if a.SelectedOption.Value != "" {
			value = a.SelectedOption.Value
		}
		channel := cb.Channel.ID
		if channel == "" {
			channel = cb.Container.ChannelID
		}
		ts := cb.Container.MessageTs
		if ts == "" {
			ts = cb.Message.Timestamp
		}
		if cb.Container.IsEphemeral {
			// Ephemeral messages cannot be edited by ts, only through the
			// response URL.
			ts = ""
		}
		req.Kind = bot.KindAction
		req.ChannelID = channel
		req.Action = &bot.Action{ID: a.ActionID, Value: value,
			Message: bot.MessageRef{Channel: channel, TS: ts}}
		if req.DedupeKey == "" {
			req.DedupeKey = "action:" + a.ActionTs + ":" + cb.User.ID
		}
		return req, nil, nil
	case slack.InteractionTypeViewSubmission:
		vs := &bot.ViewSubmission{CallbackID: cb.View.CallbackID, PrivateMetadata: cb.View.PrivateMetadata,
			Values: ViewValues(cb.View.State)}
		if errs := engine.ValidateView(vs); len(errs) > 0 {
			return nil, slack.NewErrorsViewSubmissionResponse(errs), nil
		}
		req.Kind = bot.KindView
		req.View = vs
		if req.DedupeKey == "" {
			req.DedupeKey = "view:" + cb.View.ID + ":" + cb.View.Hash
		}
		return req, nil, nil
	}
	// view_closed, shortcuts and the like: acknowledged, nothing to run.
	return nil, nil, nil
}

func convertEvent(ev slackevents.EventsAPIEvent) (*bot.Request, error) {
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok {
		return nil, nil // app_rate_limited and other non-callback events
	}
	req := &bot.Request{Kind: bot.KindEvent, DedupeKey: cb.EventID, TeamID: cb.TeamID}
	e := &bot.Event{ID: cb.EventID, Time: time.Unix(int64(cb.EventTime), 0).UTC()}
	switch inner := ev.InnerEvent.Data.(type) {
	case *slackevents.ReactionAddedEvent:
		e.Type, e.Reaction, e.ItemUser = bot.EventReactionAdded, inner.Reaction, inner.ItemUser
		e.Item = bot.MessageRef{Channel: inner.Item.Channel, TS: inner.Item.Timestamp}
		e.Time = eventTime(inner.EventTimestamp, e.Time)
		req.UserID, req.ChannelID = inner.User, inner.Item.Channel
	case *slackevents.ReactionRemovedEvent:
		e.Type, e.Reaction, e.ItemUser = bot.EventReactionRemoved, inner.Reaction, inner.ItemUser
		e.Item = bot.MessageRef{Channel: inner.Item.Channel, TS: inner.Item.Timestamp}
		e.Time = eventTime(inner.EventTimestamp, e.Time)
		req.UserID, req.ChannelID = inner.User, inner.Item.Channel
	case *slackevents.MemberJoinedChannelEvent:
		e.Type, e.Inviter = bot.EventMemberJoined, inner.Inviter
		e.Item = bot.MessageRef{Channel: inner.Channel}
		e.Time = eventTime(inner.EventTimestamp, e.Time)
		req.UserID, req.ChannelID = inner.User, inner.Channel
	case *slackevents.MessageEvent:
		req.ChannelID = inner.Channel
		e.Time = eventTime(inner.EventTimeStamp, e.Time)
		switch inner.SubType {
		case "message_changed":
			if inner.Message == nil {
				return nil, errors.New("message_changed without message")
			}
			e.Type, e.Text, e.ItemUser = bot.EventMessageChanged, inner.Message.Text, inner.Message.User
			e.Item = bot.MessageRef{Channel: inner.Channel, TS: inner.Message.Timestamp}
			req.UserID = inner.Message.User
		case "message_deleted":
			e.Type = bot.EventMessageDeleted
			ts := inner.DeletedTimeStamp
			if inner.PreviousMessage != nil {
				if ts == "" {
					ts = inner.PreviousMessage.Timestamp
				}
				e.ItemUser = inner.PreviousMessage.User
				req.UserID = inner.PreviousMessage.User
			}
			e.Item = bot.MessageRef{Channel: inner.Channel, TS: ts}
		default:
			return nil, nil // new messages are not subscribed to by the bot
		}
	default:
		return nil, nil
	}
	req.Event = e
	return req, nil
}

func eventTime(ts string, fallback time.Time) time.Time {
	if t := bot.ParseTS(ts); !t.IsZero() {
		return t
	}
	return fallback
}

// badMessage acks an envelope slack-go could not parse, so that Slack does
// not redeliver it forever.
func (c *Client) badMessage(ctx context.Context, smc *socketmode.Client, evt socketmode.Event) {
	bad, ok := evt.Data.(*socketmode.ErrorBadMessage)
	if !ok {
		return
	}
	var env struct {
		EnvelopeID string `json:"envelope_id"`
		Type       string `json:"type"`
	}
	_ = json.Unmarshal(bad.Message, &env)
	log := c.log.With(zap.String("envelope_id", env.EnvelopeID), zap.String("type", env.Type))
	log.Warn("unreadable envelope", zap.String("error", redactString(fmt.Sprint(bad.Cause), c.secrets)))
	if env.EnvelopeID == "" {
		return
	}
	actx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := smc.AckCtx(actx, env.EnvelopeID, nil); err != nil {
		log.Error("ack failed", zap.Error(err))
	}
}
