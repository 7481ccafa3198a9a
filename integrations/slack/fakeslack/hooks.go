package fakeslack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// handleUpload receives the file body of the external upload flow: the
// upload_url returned by files.getUploadURLExternal, posted as multipart by
// slack-go with the bot token.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	if r.Header.Get("Authorization") != "Bearer "+s.botToken {
		http.Error(w, "invalid_auth", http.StatusUnauthorized)
		return
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, "missing file", http.StatusBadRequest)
		return
	}
	defer file.Close()
	content, err := io.ReadAll(io.LimitReader(file, 50<<20))
	if err != nil {
		http.Error(w, "read failed", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	f, ok := s.files[id]
	if ok {
		f.Content = content
	}
	s.calls = append(s.calls, Call{Method: "upload", Params: url.Values{"file_id": {id}}, Time: time.Now(), Status: http.StatusOK})
	s.notifyLocked()
	s.mu.Unlock()
	if !ok {
		http.Error(w, "file_not_found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "OK - %d", len(content))
}

// handleResponseURL serves the response_url of slash commands and block
// actions: JSON with text/blocks, response_type, replace_original and
// delete_original, as slack-go's MsgOptionResponseURL sends it.
func (s *Server) handleResponseURL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	var body struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ThreadTS        string          `json:"thread_ts"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if string(body.Blocks) == "null" {
		body.Blocks = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	call := Call{Method: "response_url", Time: time.Now(), Params: url.Values{
		"response_type": {body.ResponseType}, "text": {body.Text},
		"replace_original": {fmt.Sprint(body.ReplaceOriginal)}, "delete_original": {fmt.Sprint(body.DeleteOriginal)},
	}}
	fail := func(status int, code string) {
		call.Status, call.Error = status, code
		s.calls = append(s.calls, call)
		writeJSON(w, status, obj{"ok": false, "error": code})
	}
	if q := s.fails["response_url"]; len(q) > 0 {
		s.fails["response_url"] = q[1:]
		fail(http.StatusOK, q[0])
		return
	}
	target, ok := s.responses[id]
	if !ok {
		fail(http.StatusNotFound, "invalid_response_url")
		return
	}
	if code := validateBlocks(string(body.Blocks)); code != "" {
		fail(http.StatusOK, code)
		return
	}
	c := s.channels[target.channel]
	var orig *Message
	if c != nil && target.messageTS != "" {
		orig = c.find(target.messageTS)
	}
	switch {
	case body.DeleteOriginal:
		if orig == nil {
			fail(http.StatusOK, "message_not_found")
			return
		}
		orig.Deleted = true
	case body.ReplaceOriginal:
		if orig == nil {
			fail(http.StatusOK, "message_not_found")
			return
		}
		orig.Text, orig.Blocks, orig.Edited = body.Text, body.Blocks, true
	case body.ResponseType == "in_channel":
		if c == nil {
			fail(http.StatusOK, "channel_not_found")
			return
		}
		s.appendMessageLocked(c, &Message{User: BotUserID, BotID: BotID, Text: body.Text, Blocks: body.Blocks, ThreadTS: body.ThreadTS})
	default:
		s.ephemerals = append(s.ephemerals, Ephemeral{Channel: target.channel, User: target.user,
			ThreadTS: body.ThreadTS, Text: body.Text, Blocks: body.Blocks, Via: "response_url", Time: call.Time})
	}
	call.Status = http.StatusOK
	s.calls = append(s.calls, call)
	writeJSON(w, http.StatusOK, obj{"ok": true})
}
