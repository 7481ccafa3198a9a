package fakeslack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ErrNoConnection is returned when an envelope is sent while no Socket Mode
// client is connected.
var ErrNoConnection = errors.New("fakeslack: no socket mode connection")

// Ack is a Socket Mode acknowledgement the fake received.
type Ack struct {
	EnvelopeID string
	// Payload is the ack's payload (e.g. a view_submission response
	// action, or a slash command's answer), or nil for a plain ack.
	Payload json.RawMessage
	// Size is the websocket message's length in bytes.
	Size int
	// Sent is when the envelope was (last) sent; Received when the ack came.
	Sent     time.Time
	Received time.Time
}

// MaxAckSize is Slack's limit on a Socket Mode response: Slack silently
// drops messages of 20 KB or more, so the envelope stays unacknowledged (and
// is redelivered) and its answer is never shown. The fake does the same and
// counts them (DroppedAcks).
const MaxAckSize = 20 * 1024

// Sent describes an envelope the fake sent.
type Sent struct {
	EnvelopeID string
	// TriggerID is set for slash commands and interactions.
	TriggerID string
	// EventID is set for events.
	EventID string
	// ResponseURL is set for slash commands and block actions.
	ResponseURL string
	At          time.Time
}

type envelope struct {
	ID                     string          `json:"envelope_id"`
	Type                   string          `json:"type"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	RetryAttempt           int             `json:"retry_attempt"`
	RetryReason            string          `json:"retry_reason"`
	Payload                json.RawMessage `json:"payload"`

	triggerID, eventID, responseURL string
	// answer is who sees a slash command's answer sent in its ack.
	answer responseTarget
	sentAt time.Time
}

type wsConn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	done    chan struct{}
	once    sync.Once
}

func (c *wsConn) write(v any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

// kill closes the TCP connection without a close frame, like a network drop.
func (c *wsConn) kill() {
	c.once.Do(func() { close(c.done) })
	_ = c.ws.UnderlyingConn().Close()
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket] && !s.closed
	delete(s.tickets, ticket)
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.totalConns++
	n := len(s.conns)
	s.mu.Unlock()

	hello := obj{"type": "hello", "num_connections": n,
		"debug_info":      obj{"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": obj{"app_id": AppID}}
	if err := c.write(hello); err != nil {
		s.dropConn(c)
		return
	}
	// Announce the connection only after hello, so a test that waits for
	// it may send envelopes at once.
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
	go s.pingLoop(c)
	s.readLoop(c)
}

func (s *Server) pingLoop(c *wsConn) {
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.writeMu.Lock()
			err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second))
			c.writeMu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

func (s *Server) readLoop(c *wsConn) {
	defer s.dropConn(c)
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		if len(raw) >= MaxAckSize {
			s.mu.Lock()
			s.droppedAcks++
			s.notifyLocked()
			s.mu.Unlock()
			continue
		}
		var msg struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(raw, &msg); err != nil {
			return
		}
		s.mu.Lock()
		ack := Ack{EnvelopeID: msg.EnvelopeID, Payload: msg.Payload, Size: len(raw), Received: now}
		if env, ok := s.envelopes[msg.EnvelopeID]; ok {
			ack.Sent = env.sentAt
			if env.Type == "slash_commands" && len(msg.Payload) > 0 && string(msg.Payload) != "null" {
				s.answerInAckLocked(env, msg.Payload, now)
			}
		}
		s.acks = append(s.acks, ack)
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// answerInAckLocked shows a slash command's answer sent in its ack, as Slack
// does: to the user who typed it (response_type ephemeral, the default) or
// in the channel (in_channel). A payload Slack would refuse (invalid blocks,
// nothing to show) shows nothing. s.mu must be held.
func (s *Server) answerInAckLocked(env *envelope, payload json.RawMessage, at time.Time) {
	var body struct {
		Text         string          `json:"text"`
		Blocks       json.RawMessage `json:"blocks"`
		ResponseType string          `json:"response_type"`
	}
	if json.Unmarshal(payload, &body) != nil {
		return
	}
	if string(body.Blocks) == "null" {
		body.Blocks = nil
	}
	if (strings.TrimSpace(body.Text) == "" && body.Blocks == nil) || validateBlocks(string(body.Blocks)) != "" {
		return
	}
	t := env.answer
	if body.ResponseType == "in_channel" {
		if c := s.channels[t.channel]; c != nil {
			s.appendMessageLocked(c, &Message{User: BotUserID, BotID: BotID, Text: body.Text, Blocks: body.Blocks})
		}
		return
	}
	s.ephemerals = append(s.ephemerals, Ephemeral{Channel: t.channel, User: t.user, Text: body.Text,
		Blocks: body.Blocks, Via: "ack", Time: at})
}

// DroppedAcks is how many Socket Mode responses were too big (MaxAckSize)
// and dropped, as Slack drops them.
func (s *Server) DroppedAcks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.droppedAcks
}

func (s *Server) dropConn(c *wsConn) {
	c.kill()
	s.mu.Lock()
	delete(s.conns, c)
	s.notifyLocked()
	s.mu.Unlock()
}

// connList returns the open connections; s.mu must be held.
func (s *Server) connList() []*wsConn {
	out := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// OpenConnections is how many Socket Mode connections are open now.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnections waits until n connections have been opened since the
// server started and at least one is open. After DropConnections, waiting
// for one more than before proves the client reconnected.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	return s.WaitUntil(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.totalConns >= n && len(s.conns) > 0
	})
}

// TotalConnections is how many connections have been opened since start.
func (s *Server) TotalConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totalConns
}

// DropConnections cuts every websocket without a close frame, as a network
// failure would. slack-go's client notices and reconnects.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		s.dropConn(c)
	}
}

// Disconnect sends Slack's polite {"type":"disconnect"} message (reason e.g.
// "refresh_requested" or "warning") on every connection; the client is
// expected to close it and reconnect.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	conns := s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.write(obj{"type": "disconnect", "reason": reason,
			"debug_info": obj{"host": "applink-fake"}})
	}
}

// Acks returns every ack received, in order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack{}, s.acks...)
}

// WaitAck waits for an ack of envelopeID received after the envelope was
// last sent, and returns it.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	var found Ack
	err := s.WaitUntil(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		var since time.Time
		if env, ok := s.envelopes[envelopeID]; ok {
			since = env.sentAt
		}
		for i := len(s.acks) - 1; i >= 0; i-- {
			if a := s.acks[i]; a.EnvelopeID == envelopeID && !a.Received.Before(since) {
				found = a
				return true
			}
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("ack of envelope %s: %w", envelopeID, err)
	}
	return found, nil
}

// send writes env on one open connection, in turn (Slack spreads envelopes
// over an app's connections).
func (s *Server) send(env *envelope) (Sent, error) {
	s.mu.Lock()
	conns := s.connList()
	if len(conns) == 0 {
		s.mu.Unlock()
		return Sent{}, ErrNoConnection
	}
	s.rr++
	c := conns[s.rr%len(conns)]
	env.sentAt = time.Now()
	s.envelopes[env.ID] = env
	sent := Sent{EnvelopeID: env.ID, TriggerID: env.triggerID, EventID: env.eventID,
		ResponseURL: env.responseURL, At: env.sentAt}
	s.mu.Unlock()
	if err := c.write(env); err != nil {
		return Sent{}, fmt.Errorf("fakeslack: send envelope %s: %w", env.ID, err)
	}
	return sent, nil
}

// Redeliver sends an envelope again with the same envelope_id and
// retry_attempt one higher, as Slack does when an ack is late.
func (s *Server) Redeliver(envelopeID string) (Sent, error) {
	s.mu.Lock()
	env, ok := s.envelopes[envelopeID]
	if !ok {
		s.mu.Unlock()
		return Sent{}, fmt.Errorf("fakeslack: unknown envelope %s", envelopeID)
	}
	cp := *env
	cp.RetryAttempt++
	cp.RetryReason = "timeout"
	s.mu.Unlock()
	return s.send(&cp)
}

// Resend sends a copy of an envelope under a new envelope_id with the same
// payload (same trigger_id or event_id), as happens when Slack delivers one
// action to two connections or replicas.
func (s *Server) Resend(envelopeID string) (Sent, error) {
	s.mu.Lock()
	env, ok := s.envelopes[envelopeID]
	if !ok {
		s.mu.Unlock()
		return Sent{}, fmt.Errorf("fakeslack: unknown envelope %s", envelopeID)
	}
	cp := *env
	cp.ID = newEnvelopeID()
	cp.RetryAttempt, cp.RetryReason = 0, ""
	s.mu.Unlock()
	return s.send(&cp)
}

// SendRaw writes v (marshalled to JSON) as is on one open connection, for
// malformed or unusual envelopes.
func (s *Server) SendRaw(v any) error {
	s.mu.Lock()
	conns := s.connList()
	s.mu.Unlock()
	if len(conns) == 0 {
		return ErrNoConnection
	}
	return conns[0].write(v)
}
