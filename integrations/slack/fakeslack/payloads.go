package fakeslack

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// verificationToken is the deprecated per-app token Slack still puts in
// payloads; clients must not rely on it.
const verificationToken = "fakeverificationtoken"

func newEnvelopeID() string { return uuid.NewString() }

// issueTriggerLocked makes a trigger_id the fake will accept once in
// views.open.
func (s *Server) issueTriggerLocked() string {
	s.seq++
	t := fmt.Sprintf("%d.%d.%s", s.seq, time.Now().UnixNano()%1e9, uuid.NewString()[:12])
	s.triggers[t] = false
	return t
}

func (s *Server) issueResponseURLLocked(target responseTarget) string {
	s.seq++
	id := fmt.Sprintf("%s/%d/%s", TeamID, s.seq, uuid.NewString()[:8])
	s.responses[id] = target
	return s.srv.URL + "/response/" + id
}

func (s *Server) userNameLocked(id string) string {
	if u, ok := s.users[id]; ok {
		return u.Name
	}
	return id
}

func (s *Server) channelNameLocked(id string) string {
	if c, ok := s.channels[id]; ok {
		if c.IsIM {
			return "directmessage"
		}
		return c.Name
	}
	return id
}

// SlashCommand is what a user typed. Empty names are looked up from state.
type SlashCommand struct {
	Command     string // with the slash, e.g. "/incident"
	Text        string
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string
	// TeamID is the workspace the command comes from; empty means TeamID.
	TeamID string
}

// SendSlashCommand delivers a slash_commands envelope, as Slack does when a
// user submits the command.
func (s *Server) SendSlashCommand(cmd SlashCommand) (Sent, error) {
	s.mu.Lock()
	if cmd.UserName == "" {
		cmd.UserName = s.userNameLocked(cmd.UserID)
	}
	if cmd.ChannelName == "" {
		cmd.ChannelName = s.channelNameLocked(cmd.ChannelID)
	}
	trigger := s.issueTriggerLocked()
	respURL := s.issueResponseURLLocked(responseTarget{channel: cmd.ChannelID, user: cmd.UserID})
	s.mu.Unlock()
	if cmd.TeamID == "" {
		cmd.TeamID = TeamID
	}
	payload := obj{
		"token": verificationToken, "team_id": cmd.TeamID, "team_domain": TeamDomain,
		"channel_id": cmd.ChannelID, "channel_name": cmd.ChannelName,
		"user_id": cmd.UserID, "user_name": cmd.UserName,
		"command": cmd.Command, "text": cmd.Text, "api_app_id": AppID,
		"response_url": respURL, "trigger_id": trigger,
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return Sent{}, fmt.Errorf("fakeslack: marshal slash_commands payload: %w", err)
	}
	return s.send(&envelope{ID: newEnvelopeID(), Type: "slash_commands", AcceptsResponsePayload: true, Payload: raw,
		triggerID: trigger, responseURL: respURL, answer: responseTarget{channel: cmd.ChannelID, user: cmd.UserID}})
}

// BlockAction is a click on a button in a message.
type BlockAction struct {
	UserID    string
	ChannelID string
	// MessageTS is the message holding the button; its content is sent
	// along as Slack does.
	MessageTS string
	ActionID  string
	// BlockID defaults to the block holding the action in the message.
	BlockID string
	Value   string
	// TeamID is the clicker's workspace; empty means TeamID.
	TeamID string
}

// SendBlockAction delivers an interactive block_actions envelope.
func (s *Server) SendBlockAction(a BlockAction) (Sent, error) {
	s.mu.Lock()
	trigger := s.issueTriggerLocked()
	respURL := s.issueResponseURLLocked(responseTarget{channel: a.ChannelID, user: a.UserID, messageTS: a.MessageTS})
	message := obj{}
	buttonText := a.ActionID
	if c, ok := s.channels[a.ChannelID]; ok {
		if m := c.find(a.MessageTS); m != nil {
			message = messageJSON(m, false)
			if blockID, text := findAction(m.Blocks, a.ActionID); blockID != "" {
				if a.BlockID == "" {
					a.BlockID = blockID
				}
				buttonText = text
			}
		}
	}
	if a.BlockID == "" {
		a.BlockID = "actions"
	}
	if a.TeamID == "" {
		a.TeamID = TeamID
	}
	user := obj{"id": a.UserID, "username": s.userNameLocked(a.UserID), "name": s.userNameLocked(a.UserID), "team_id": a.TeamID}
	channel := obj{"id": a.ChannelID, "name": s.channelNameLocked(a.ChannelID)}
	s.mu.Unlock()
	now := fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000)
	payload := obj{
		"type": "block_actions", "token": verificationToken, "api_app_id": AppID,
		"team": obj{"id": a.TeamID, "domain": TeamDomain}, "user": user, "channel": channel,
		"container":  obj{"type": "message", "message_ts": a.MessageTS, "channel_id": a.ChannelID, "is_ephemeral": false},
		"trigger_id": trigger, "response_url": respURL, "message": message,
		"state":                 obj{"values": obj{}},
		"is_enterprise_install": false, "enterprise": nil,
		"actions": []obj{{
			"action_id": a.ActionID, "block_id": a.BlockID, "value": a.Value, "type": "button",
			"action_ts": now, "text": obj{"type": "plain_text", "text": buttonText, "emoji": true},
		}},
	}
	return s.sendPayload("interactive", payload, false, trigger, "", respURL)
}

// findAction returns the block ID and text of the element with actionID.
func findAction(blocks json.RawMessage, actionID string) (string, string) {
	var bs []struct {
		BlockID  string `json:"block_id"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Text     struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"elements"`
	}
	if json.Unmarshal(blocks, &bs) != nil {
		return "", ""
	}
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return b.BlockID, e.Text.Text
			}
		}
	}
	return "", ""
}

// ViewSubmission is a user submitting a modal.
type ViewSubmission struct {
	UserID string
	// ViewID names the opened view; empty means the latest view opened with
	// CallbackID.
	ViewID     string
	CallbackID string
	// Values are the inputs by action ID. For inputs of an opened view the
	// state takes the element's type (plain_text_input value,
	// static_select selected_option, users_select selected_user, or
	// checkboxes selected_options for "true"); others are sent as text inputs whose
	// block ID is their action ID.
	Values map[string]string
	// PrivateMetadata, when set, replaces the opened view's, as a crafted
	// payload would.
	PrivateMetadata string
	// TeamID is the submitter's workspace; empty means TeamID.
	TeamID string
}

// SendViewSubmission delivers an interactive view_submission envelope.
func (s *Server) SendViewSubmission(v ViewSubmission) (Sent, error) {
	s.mu.Lock()
	var opened *View
	for i := len(s.views) - 1; i >= 0; i-- {
		if (v.ViewID != "" && s.views[i].ID == v.ViewID) || (v.ViewID == "" && s.views[i].CallbackID == v.CallbackID) {
			opened = &s.views[i]
			break
		}
	}
	trigger := s.issueTriggerLocked()
	if v.TeamID == "" {
		v.TeamID = TeamID
	}
	user := obj{"id": v.UserID, "username": s.userNameLocked(v.UserID), "name": s.userNameLocked(v.UserID), "team_id": v.TeamID}
	s.mu.Unlock()

	view := obj{}
	if opened != nil {
		_ = json.Unmarshal(opened.JSON, &view)
		view["id"] = opened.ID
	} else {
		view = obj{"id": "V0FAKEVIEW", "type": "modal", "callback_id": v.CallbackID, "blocks": []obj{},
			"title": obj{"type": "plain_text", "text": "Form"}}
	}
	view["team_id"], view["hash"], view["app_id"] = v.TeamID, fmt.Sprintf("%d.hash", time.Now().UnixNano()), AppID
	if v.PrivateMetadata != "" {
		view["private_metadata"] = v.PrivateMetadata
	}
	values := obj{}
	used := map[string]bool{}
	if blocks, ok := view["blocks"].([]any); ok {
		for _, b := range blocks {
			bm, _ := b.(map[string]any)
			if bm["type"] != "input" {
				continue
			}
			el, _ := bm["element"].(map[string]any)
			actionID, _ := el["action_id"].(string)
			blockID, _ := bm["block_id"].(string)
			val, ok := v.Values[actionID]
			used[actionID] = true
			typ, _ := el["type"].(string)
			switch typ {
			case "static_select":
				var opt any
				if ok && val != "" {
					opt = obj{"text": obj{"type": "plain_text", "text": val}, "value": val}
				}
				values[blockID] = obj{actionID: obj{"type": typ, "selected_option": opt}}
			case "users_select":
				var user any
				if ok && val != "" {
					user = val
				}
				values[blockID] = obj{actionID: obj{"type": typ, "selected_user": user}}
			case "checkboxes":
				selected := []obj{}
				if ok && val == "true" {
					selected = append(selected, obj{"text": obj{"type": "plain_text", "text": "ticked"}, "value": "true"})
				}
				values[blockID] = obj{actionID: obj{"type": typ, "selected_options": selected}}
			default:
				var value any
				if ok {
					value = val
				}
				values[blockID] = obj{actionID: obj{"type": typ, "value": value}}
			}
		}
	}
	for k, val := range v.Values {
		if !used[k] {
			values[k] = obj{k: obj{"type": "plain_text_input", "value": val}}
		}
	}
	view["state"] = obj{"values": values}
	payload := obj{
		"type": "view_submission", "token": verificationToken, "api_app_id": AppID,
		"team": obj{"id": v.TeamID, "domain": TeamDomain}, "user": user, "trigger_id": trigger,
		"view": view, "response_urls": []any{}, "is_enterprise_install": false, "enterprise": nil,
	}
	return s.sendPayload("interactive", payload, true, trigger, "", "")
}

// SendEvent delivers an events_api envelope wrapping inner (an Events API
// inner event such as {"type":"reaction_added",…}) in an event_callback.
func (s *Server) SendEvent(inner any) (Sent, error) {
	s.mu.Lock()
	s.seq++
	eventID := fmt.Sprintf("Ev0F%08d", s.seq)
	s.mu.Unlock()
	payload := obj{
		"token": verificationToken, "team_id": TeamID, "api_app_id": AppID, "event": inner,
		"type": "event_callback", "event_id": eventID, "event_time": time.Now().Unix(),
		"authorizations":        []obj{{"team_id": TeamID, "user_id": BotUserID, "is_bot": true, "is_enterprise_install": false}},
		"is_ext_shared_channel": false, "event_context": "4-fake",
	}
	return s.sendPayload("events_api", payload, false, "", eventID, "")
}

// SendReaction delivers reaction_added (or reaction_removed when added is
// false) by user on the message at channel/ts, with item_user looked up.
func (s *Server) SendReaction(added bool, user, reaction, channel, ts string) (Sent, error) {
	s.mu.Lock()
	itemUser := ""
	if m, ok := s.messageLocked(channel, ts); ok {
		itemUser = m.User
	}
	s.mu.Unlock()
	typ := "reaction_added"
	if !added {
		typ = "reaction_removed"
	}
	return s.SendEvent(obj{"type": typ, "user": user, "reaction": reaction, "item_user": itemUser,
		"item": obj{"type": "message", "channel": channel, "ts": ts}, "event_ts": eventTS()})
}

// EditMessage changes a message's text as its author would and delivers the
// message event with subtype message_changed.
func (s *Server) EditMessage(channel, ts, text string) (Sent, error) {
	s.mu.Lock()
	m, ok := s.messageLocked(channel, ts)
	if !ok {
		s.mu.Unlock()
		return Sent{}, fmt.Errorf("fakeslack: no message %s in %s", ts, channel)
	}
	prev := messageJSON(m, false)
	m.Text, m.Edited = text, true
	cur := messageJSON(m, false)
	s.notifyLocked()
	s.mu.Unlock()
	return s.SendEvent(obj{"type": "message", "subtype": "message_changed", "hidden": true, "channel": channel,
		"channel_type": "channel", "ts": eventTS(), "event_ts": eventTS(), "message": cur, "previous_message": prev})
}

// DeleteMessage deletes a message and delivers the message event with
// subtype message_deleted.
func (s *Server) DeleteMessage(channel, ts string) (Sent, error) {
	s.mu.Lock()
	m, ok := s.messageLocked(channel, ts)
	if !ok {
		s.mu.Unlock()
		return Sent{}, fmt.Errorf("fakeslack: no message %s in %s", ts, channel)
	}
	prev := messageJSON(m, false)
	m.Deleted = true
	s.notifyLocked()
	s.mu.Unlock()
	return s.SendEvent(obj{"type": "message", "subtype": "message_deleted", "hidden": true, "channel": channel,
		"channel_type": "channel", "ts": eventTS(), "deleted_ts": ts, "event_ts": eventTS(), "previous_message": prev})
}

func (s *Server) messageLocked(channel, ts string) (*Message, bool) {
	if c, ok := s.channels[channel]; ok {
		if m := c.find(ts); m != nil {
			return m, true
		}
	}
	return nil, false
}

func eventTS() string {
	now := time.Now()
	return fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
}

func (s *Server) sendPayload(typ string, payload obj, acceptsResponse bool, trigger, eventID, respURL string) (Sent, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Sent{}, fmt.Errorf("fakeslack: marshal %s payload: %w", typ, err)
	}
	return s.send(&envelope{ID: newEnvelopeID(), Type: typ, AcceptsResponsePayload: acceptsResponse,
		Payload: raw, triggerID: trigger, eventID: eventID, responseURL: respURL})
}
