package fakeslack

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// All methods here run with s.mu held.

func (s *Server) authTest(url.Values) (obj, string) {
	return obj{"url": "https://" + TeamDomain + ".slack.com/", "team": "Fake", "user": "opsbot",
		"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID}, ""
}

func (s *Server) appsConnectionsOpen(url.Values) (obj, string) {
	s.seq++
	ticket := fmt.Sprintf("ticket-%d", s.seq)
	s.tickets[ticket] = true
	ws := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link/?ticket=" + ticket + "&app_id=" + AppID
	return obj{"url": ws}, ""
}

// channelLocked resolves a channel parameter: a channel ID, or a user ID,
// which Slack treats as the bot's DM with that user.
func (s *Server) channelLocked(id string) (*channelState, string) {
	if id == "" {
		return nil, "channel_not_found"
	}
	if c, ok := s.channels[id]; ok {
		return c, ""
	}
	if u, ok := s.users[id]; ok {
		if dm, ok := s.dms[u.ID]; ok {
			return s.channels[dm], ""
		}
		c := s.newChannelLocked("", s.nextIDLocked("D"))
		c.IsIM = true
		c.Members = []string{BotUserID, u.ID}
		s.dms[u.ID] = c.ID
		return c, ""
	}
	return nil, "channel_not_found"
}

func (s *Server) chatPostMessage(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	if c.Archived {
		return nil, "is_archived"
	}
	text, blocks := p.Get("text"), p.Get("blocks")
	if strings.TrimSpace(text) == "" && blocks == "" && p.Get("attachments") == "" {
		return nil, "no_text"
	}
	if code := validateBlocks(blocks); code != "" {
		return nil, code
	}
	meta, code := parseMetadata(p.Get("metadata"))
	if code != "" {
		return nil, code
	}
	m := s.appendMessageLocked(c, &Message{User: BotUserID, BotID: BotID, Text: text,
		Blocks: rawOrNil(blocks), ThreadTS: p.Get("thread_ts"), Metadata: meta})
	return obj{"channel": c.ID, "ts": m.TS, "message": messageJSON(m, false)}, ""
}

// maxMetadata bounds a message's metadata; Slack refuses larger ones with
// metadata_too_large.
const maxMetadata = 8 << 10

// parseMetadata checks chat.postMessage's and chat.update's metadata
// argument as Slack does: JSON, an event_type and an event_payload object.
func parseMetadata(raw string) (*Metadata, string) {
	if strings.TrimSpace(raw) == "" {
		return nil, ""
	}
	if len(raw) > maxMetadata {
		return nil, "metadata_too_large"
	}
	var v struct {
		EventType    *string         `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, "invalid_metadata_format"
	}
	var payload map[string]any
	if v.EventType == nil || *v.EventType == "" || json.Unmarshal(v.EventPayload, &payload) != nil || payload == nil {
		return nil, "invalid_metadata_schema"
	}
	return &Metadata{EventType: *v.EventType, Payload: v.EventPayload}, ""
}

// chatDelete deletes a message the bot posted.
func (s *Server) chatDelete(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	m := c.find(p.Get("ts"))
	if m == nil {
		return nil, "message_not_found"
	}
	if m.BotID == "" {
		return nil, "cant_delete_message"
	}
	m.Deleted = true
	return obj{"channel": c.ID, "ts": m.TS}, ""
}

func (s *Server) chatUpdate(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	m := c.find(p.Get("ts"))
	if m == nil {
		return nil, "message_not_found"
	}
	if m.BotID == "" {
		return nil, "cant_update_message"
	}
	blocks := p.Get("blocks")
	if code := validateBlocks(blocks); code != "" {
		return nil, code
	}
	if p.Has("text") {
		m.Text = p.Get("text")
	}
	meta, code := parseMetadata(p.Get("metadata"))
	if code != "" {
		return nil, code
	}
	if p.Has("blocks") {
		m.Blocks = rawOrNil(blocks)
	}
	if meta != nil {
		// Without the argument the message keeps its metadata.
		m.Metadata = meta
	}
	m.Edited = true
	return obj{"channel": c.ID, "ts": m.TS, "text": m.Text, "message": messageJSON(m, false)}, ""
}

func (s *Server) chatPostEphemeral(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	user := p.Get("user")
	if _, ok := s.users[user]; !ok {
		return nil, "user_not_found"
	}
	text, blocks := p.Get("text"), p.Get("blocks")
	if strings.TrimSpace(text) == "" && blocks == "" {
		return nil, "no_text"
	}
	if code := validateBlocks(blocks); code != "" {
		return nil, code
	}
	s.ephemerals = append(s.ephemerals, Ephemeral{Channel: c.ID, User: user, ThreadTS: p.Get("thread_ts"),
		Text: text, Blocks: rawOrNil(blocks), Via: "chat.postEphemeral", Time: time.Now()})
	return obj{"message_ts": s.nextTSLocked()}, ""
}

func (s *Server) chatGetPermalink(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	m := c.find(p.Get("message_ts"))
	if m == nil {
		return nil, "message_not_found"
	}
	link := fmt.Sprintf("https://%s.slack.com/archives/%s/p%s", TeamDomain, c.ID, strings.ReplaceAll(m.TS, ".", ""))
	if m.isReply() {
		link += "?thread_ts=" + m.ThreadTS + "&cid=" + c.ID
	}
	return obj{"channel": c.ID, "permalink": link}, ""
}

var channelNameChars = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (s *Server) conversationsCreate(p url.Values) (obj, string) {
	name := p.Get("name")
	switch {
	case name == "":
		return nil, "invalid_name_required"
	case utf8.RuneCountInString(name) > 80:
		return nil, "invalid_name_maxlength"
	case !channelNameChars.MatchString(name):
		return nil, "invalid_name_specials"
	case s.byNameLocked(name) != nil:
		return nil, "name_taken"
	}
	c := s.newChannelLocked(name, "")
	c.IsPrivate = p.Get("is_private") == "true"
	return obj{"channel": channelJSON(c)}, ""
}

func (s *Server) memberChannelLocked(id string) (*channelState, string) {
	c, code := s.channelLocked(id)
	if code != "" {
		return nil, code
	}
	if c.Archived {
		return nil, "is_archived"
	}
	if !contains(c.Members, BotUserID) {
		return nil, "not_in_channel"
	}
	return c, ""
}

func (s *Server) conversationsInvite(p url.Values) (obj, string) {
	c, code := s.memberChannelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	users := splitList(p.Get("users"))
	if len(users) == 0 {
		return nil, "no_user"
	}
	force := p.Get("force") == "true"
	var errs []obj
	var add []string
	for _, u := range users {
		switch {
		case s.users[u] == nil:
			errs = append(errs, obj{"user": u, "ok": false, "error": "user_not_found"})
		case contains(c.Members, u) || contains(add, u):
			errs = append(errs, obj{"user": u, "ok": false, "error": "already_in_channel"})
		default:
			add = append(add, u)
		}
	}
	// Without force, Slack invites nobody when any user fails.
	if len(errs) > 0 && (!force || len(add) == 0) {
		return obj{"errors": errs}, errs[0]["error"].(string)
	}
	c.Members = append(c.Members, add...)
	if len(errs) > 0 {
		return obj{"errors": errs, "channel": channelJSON(c)}, errs[0]["error"].(string)
	}
	return obj{"channel": channelJSON(c)}, ""
}

func (s *Server) conversationsSetTopic(p url.Values) (obj, string) {
	c, code := s.memberChannelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	if utf8.RuneCountInString(p.Get("topic")) > 250 {
		return nil, "too_long"
	}
	c.Topic = p.Get("topic")
	return obj{"channel": channelJSON(c)}, ""
}

func (s *Server) conversationsSetPurpose(p url.Values) (obj, string) {
	c, code := s.memberChannelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	if utf8.RuneCountInString(p.Get("purpose")) > 250 {
		return nil, "too_long"
	}
	c.Purpose = p.Get("purpose")
	return obj{"channel": channelJSON(c)}, ""
}

func (s *Server) conversationsArchive(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	if c.Archived {
		return nil, "already_archived"
	}
	c.Archived = true
	return obj{}, ""
}

func (s *Server) conversationsInfo(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	return obj{"channel": channelJSON(c)}, ""
}

func (s *Server) conversationsMembers(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	return obj{"members": append([]string{}, c.Members...), "response_metadata": obj{"next_cursor": ""}}, ""
}

// conversationsHistory lists top-level messages newest first within
// oldest/latest (exclusive unless inclusive=1), a page of limit at a time
// with a cursor to the next, as Slack does; metadata only with
// include_all_metadata.
func (s *Server) conversationsHistory(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	win := newWindow(p)
	from := ""
	if cur := p.Get("cursor"); cur != "" {
		b, err := base64.StdEncoding.DecodeString(cur)
		ts, ok := strings.CutPrefix(string(b), "next_ts:")
		if err != nil || !ok {
			return nil, "invalid_cursor"
		}
		from = ts
	}
	msgs := []obj{}
	next := ""
	for i := len(c.messages) - 1; i >= 0; i-- {
		m := c.messages[i]
		if m.Deleted || m.isReply() || !win.contains(m.TS) || (from != "" && compareTS(m.TS, from) > 0) {
			continue
		}
		if len(msgs) == win.limit {
			next = base64.StdEncoding.EncodeToString([]byte("next_ts:" + m.TS))
			break
		}
		msgs = append(msgs, messageJSON(m, win.metadata))
	}
	return obj{"messages": msgs, "has_more": next != "", "pin_count": len(c.Pins),
		"response_metadata": obj{"next_cursor": next}}, ""
}

// conversationsReplies lists a thread oldest first, parent included; ts may
// name the parent or any reply.
func (s *Server) conversationsReplies(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	m := c.find(p.Get("ts"))
	if m == nil {
		return nil, "thread_not_found"
	}
	root := m.TS
	if m.isReply() {
		root = m.ThreadTS
	}
	win := newWindow(p)
	msgs := []obj{}
	more := false
	for _, x := range c.messages {
		if x.Deleted || (x.TS != root && x.ThreadTS != root) || !win.contains(x.TS) {
			continue
		}
		if len(msgs) == win.limit {
			more = true
			break
		}
		msgs = append(msgs, messageJSON(x, win.metadata))
	}
	return obj{"messages": msgs, "has_more": more, "response_metadata": obj{"next_cursor": ""}}, ""
}

type window struct {
	oldest, latest string
	inclusive      bool
	limit          int
	// metadata: include_all_metadata was asked for.
	metadata bool
}

func newWindow(p url.Values) window {
	w := window{oldest: p.Get("oldest"), latest: p.Get("latest"), inclusive: p.Get("inclusive") == "1" || p.Get("inclusive") == "true", limit: 100,
		metadata: p.Get("include_all_metadata") == "1" || p.Get("include_all_metadata") == "true"}
	if n, err := strconv.Atoi(p.Get("limit")); err == nil && n > 0 && n < 1000 {
		w.limit = n
	}
	return w
}

func (w window) contains(ts string) bool {
	if w.oldest != "" {
		if c := compareTS(ts, w.oldest); c < 0 || (c == 0 && !w.inclusive) {
			return false
		}
	}
	if w.latest != "" {
		if c := compareTS(ts, w.latest); c > 0 || (c == 0 && !w.inclusive) {
			return false
		}
	}
	return true
}

// compareTS orders Slack timestamps numerically.
func compareTS(a, b string) int {
	fa, _ := strconv.ParseFloat(a, 64)
	fb, _ := strconv.ParseFloat(b, 64)
	switch {
	case a == b:
		return 0
	case fa < fb || (fa == fb && a < b):
		return -1
	default:
		return 1
	}
}

func (s *Server) pinsAdd(p url.Values) (obj, string) {
	c, code := s.channelLocked(p.Get("channel"))
	if code != "" {
		return nil, code
	}
	ts := p.Get("timestamp")
	if ts == "" {
		return nil, "no_item_specified"
	}
	if c.find(ts) == nil {
		return nil, "message_not_found"
	}
	if contains(c.Pins, ts) {
		return nil, "already_pinned"
	}
	c.Pins = append(c.Pins, ts)
	return obj{}, ""
}

func (s *Server) usersInfo(p url.Values) (obj, string) {
	u, ok := s.users[p.Get("user")]
	if !ok {
		return nil, "user_not_found"
	}
	return obj{"user": userJSON(u)}, ""
}

func (s *Server) usersLookupByEmail(p url.Values) (obj, string) {
	email := strings.ToLower(p.Get("email"))
	for _, id := range s.userOrder {
		if u := s.users[id]; u.Email != "" && strings.ToLower(u.Email) == email && !u.Deleted {
			return obj{"user": userJSON(u)}, ""
		}
	}
	return nil, "users_not_found"
}

func (s *Server) usergroupsList(p url.Values) (obj, string) {
	out := []obj{}
	for _, id := range s.ugOrder {
		out = append(out, usergroupJSON(s.usergroups[id], p.Get("include_users") == "true"))
	}
	return obj{"usergroups": out}, ""
}

func (s *Server) usergroupsUsersList(p url.Values) (obj, string) {
	g, ok := s.usergroups[p.Get("usergroup")]
	if !ok {
		return nil, "no_such_subteam"
	}
	return obj{"users": append([]string{}, g.Users...)}, ""
}

func (s *Server) usergroupsUsersUpdate(p url.Values) (obj, string) {
	g, ok := s.usergroups[p.Get("usergroup")]
	if !ok {
		return nil, "no_such_subteam"
	}
	users := splitList(p.Get("users"))
	for _, u := range users {
		if s.users[u] == nil {
			return nil, "invalid_users"
		}
	}
	g.Users = users
	return obj{"usergroup": usergroupJSON(g, true)}, ""
}

func (s *Server) viewsOpen(p url.Values) (obj, string) {
	trigger := p.Get("trigger_id")
	used, issued := s.triggers[trigger]
	switch {
	case trigger == "" || !issued:
		return nil, "invalid_trigger_id"
	case used:
		return nil, "exchanged_trigger_id"
	}
	raw := p.Get("view")
	var v struct {
		Type            string                `json:"type"`
		CallbackID      string                `json:"callback_id"`
		PrivateMetadata string                `json:"private_metadata"`
		Title           struct{ Text string } `json:"title"`
		Blocks          []json.RawMessage     `json:"blocks"`
	}
	if raw == "" || json.Unmarshal([]byte(raw), &v) != nil || v.Type != "modal" {
		return obj{"response_metadata": obj{"messages": []string{"[ERROR] must provide a modal view"}}}, "invalid_arguments"
	}
	if n := utf8.RuneCountInString(v.Title.Text); n == 0 || n > 24 {
		return obj{"response_metadata": obj{"messages": []string{"[ERROR] title must be 1-24 characters [json-pointer:/view/title/text]"}}}, "invalid_arguments"
	}
	if len(v.Blocks) > 100 || utf8.RuneCountInString(v.PrivateMetadata) > 3000 {
		return obj{"response_metadata": obj{"messages": []string{"[ERROR] view exceeds Slack's limits"}}}, "invalid_arguments"
	}
	s.triggers[trigger] = true
	view := View{ID: s.nextIDLocked("V"), TriggerID: trigger, CallbackID: v.CallbackID,
		PrivateMetadata: v.PrivateMetadata, Title: v.Title.Text, JSON: json.RawMessage(raw)}
	s.views = append(s.views, view)
	out := obj{}
	_ = json.Unmarshal([]byte(raw), &out)
	out["id"], out["team_id"], out["hash"] = view.ID, TeamID, "1."+view.ID
	return obj{"view": out}, ""
}

func (s *Server) filesGetUploadURLExternal(p url.Values) (obj, string) {
	name := p.Get("filename")
	if name == "" {
		return nil, "invalid_arguments"
	}
	if n, err := strconv.Atoi(p.Get("length")); err != nil || n <= 0 {
		return nil, "invalid_arguments"
	}
	id := s.nextIDLocked("F")
	s.files[id] = &File{ID: id, Name: name}
	s.fileOrder = append(s.fileOrder, id)
	base := s.srv.URL
	if s.reqHost != "" {
		base = "http://" + s.reqHost
	}
	return obj{"upload_url": base + "/upload/" + id, "file_id": id}, ""
}

func (s *Server) filesCompleteUploadExternal(p url.Values) (obj, string) {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if json.Unmarshal([]byte(p.Get("files")), &files) != nil || len(files) == 0 {
		return nil, "invalid_arguments"
	}
	for _, f := range files {
		if st, ok := s.files[f.ID]; !ok || st.Content == nil {
			return nil, "file_not_found"
		}
	}
	channel := p.Get("channel_id")
	if channel == "" {
		channel = p.Get("channels")
	}
	var c *channelState
	if channel != "" {
		var code string
		if c, code = s.channelLocked(channel); code != "" {
			return nil, code
		}
	}
	out := []obj{}
	ids := []string{}
	for _, f := range files {
		st := s.files[f.ID]
		st.Title = f.Title
		if st.Title == "" {
			st.Title = st.Name
		}
		st.Comment, st.ThreadTS, st.Shared = p.Get("initial_comment"), p.Get("thread_ts"), c != nil
		if c != nil {
			st.Channel = c.ID
		}
		ids = append(ids, f.ID)
		out = append(out, obj{"id": f.ID, "title": st.Title})
	}
	if c != nil {
		s.appendMessageLocked(c, &Message{User: BotUserID, BotID: BotID, Text: p.Get("initial_comment"),
			ThreadTS: p.Get("thread_ts"), Files: ids})
	}
	return obj{"files": out}, ""
}

func channelJSON(c *channelState) obj {
	return obj{
		"id": c.ID, "name": c.Name, "is_channel": !c.IsIM && !c.IsPrivate, "is_group": c.IsPrivate,
		"is_im": c.IsIM, "is_private": c.IsPrivate, "is_archived": c.Archived, "is_member": contains(c.Members, BotUserID),
		"created": c.Created.Unix(), "creator": BotUserID, "num_members": len(c.Members),
		"topic":   obj{"value": c.Topic, "creator": BotUserID, "last_set": 0},
		"purpose": obj{"value": c.Purpose, "creator": BotUserID, "last_set": 0},
	}
}

func userJSON(u *User) obj {
	return obj{
		"id": u.ID, "team_id": u.TeamID, "name": u.Name, "real_name": u.RealName, "deleted": u.Deleted,
		"is_bot": u.IsBot, "is_restricted": u.IsRestricted, "is_ultra_restricted": u.IsUltraRestricted,
		"tz": cmp.Or(u.TZ, "UTC"), "profile": obj{"email": u.Email, "real_name": u.RealName, "display_name": u.Name},
	}
}

func usergroupJSON(g *Usergroup, withUsers bool) obj {
	o := obj{"id": g.ID, "team_id": TeamID, "handle": g.Handle, "name": g.Name, "is_usergroup": true,
		"user_count": len(g.Users)}
	if withUsers {
		o["users"] = append([]string{}, g.Users...)
	}
	return o
}

// messageJSON is a message as Slack shows it; its metadata only when asked
// for (conversations.history and .replies with include_all_metadata).
func messageJSON(m *Message, withMetadata bool) obj {
	o := obj{"type": "message", "user": m.User, "text": m.Text, "ts": m.TS, "team": TeamID}
	if withMetadata && m.Metadata != nil {
		o["metadata"] = obj{"event_type": m.Metadata.EventType, "event_payload": m.Metadata.Payload}
	}
	if m.BotID != "" {
		o["bot_id"], o["app_id"] = m.BotID, AppID
	}
	if len(m.Blocks) > 0 {
		o["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		o["thread_ts"] = m.ThreadTS
	}
	if m.Replies > 0 {
		o["reply_count"] = m.Replies
	}
	if m.Edited {
		o["edited"] = obj{"user": m.User, "ts": m.TS}
	}
	if len(m.Files) > 0 {
		fs := []obj{}
		for _, id := range m.Files {
			fs = append(fs, obj{"id": id})
		}
		o["files"] = fs
	}
	return o
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func splitList(s string) []string {
	out := []string{}
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// validateBlocks enforces the Block Kit limits Slack rejects messages for
// (invalid_blocks), so a renderer that breaks them fails here as it would in
// production.
func validateBlocks(raw string) string {
	if raw == "" {
		return ""
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return "invalid_blocks_format"
	}
	if len(blocks) > 50 {
		return "invalid_blocks"
	}
	textLen := func(v any) int {
		if m, ok := v.(map[string]any); ok {
			if s, ok := m["text"].(string); ok {
				return utf8.RuneCountInString(s)
			}
		}
		return 0
	}
	for _, b := range blocks {
		switch b["type"] {
		case "header":
			if n := textLen(b["text"]); n == 0 || n > 150 {
				return "invalid_blocks"
			}
		case "section":
			if textLen(b["text"]) > 3000 {
				return "invalid_blocks"
			}
			fields, _ := b["fields"].([]any)
			if len(fields) > 10 {
				return "invalid_blocks"
			}
			for _, f := range fields {
				if textLen(f) > 2000 {
					return "invalid_blocks"
				}
			}
			if b["text"] == nil && len(fields) == 0 {
				return "invalid_blocks"
			}
		case "actions":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 25 {
				return "invalid_blocks"
			}
			for _, e := range els {
				em, _ := e.(map[string]any)
				if n := textLen(em["text"]); n == 0 || n > 75 {
					return "invalid_blocks"
				}
				if v, _ := em["value"].(string); utf8.RuneCountInString(v) > 2000 {
					return "invalid_blocks"
				}
			}
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				return "invalid_blocks"
			}
			for _, e := range els {
				if textLen(e) > 3000 {
					return "invalid_blocks"
				}
			}
		}
	}
	return ""
}
