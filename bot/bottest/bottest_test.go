package bottest_test

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

func TestClockStandsStillUntilMoved(t *testing.T) {
	t0 := time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC)
	c := bottest.NewClock(t0)
	steps := []struct {
		name string
		move func()
		want time.Time
	}{
		{"as created", func() {}, t0},
		{"add", func() { c.Add(90 * time.Minute) }, t0.Add(90 * time.Minute)},
		{"add backwards", func() { c.Add(-time.Hour) }, t0.Add(30 * time.Minute)},
		{"set", func() { c.Set(t0.AddDate(0, 1, 0)) }, t0.AddDate(0, 1, 0)},
	}
	for _, s := range steps {
		s.move()
		if got := c.Now(); !got.Equal(s.want) {
			t.Errorf("%s: Now() = %s, want %s", s.name, got, s.want)
		}
	}
}

// TestClockConcurrentUse is for the race detector: the code under test reads
// the clock from its own goroutines while the test moves it.
func TestClockConcurrentUse(t *testing.T) {
	c := bottest.NewClock(time.Unix(0, 0).UTC())
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); c.Add(time.Second) }()
		go func() { defer wg.Done(); _ = c.Now() }()
	}
	wg.Wait()
	if got := c.Now(); !got.Equal(time.Unix(4, 0).UTC()) {
		t.Errorf("Now() = %s after four one-second steps, want %s", got, time.Unix(4, 0).UTC())
	}
}

func TestChatRecordsWhatTheWorkspaceShows(t *testing.T) {
	ctx := context.Background()
	c := bottest.NewChat()
	ref, err := c.Post(ctx, bot.Message{Channel: "C1", Text: "first", Buttons: []bot.Button{{ID: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	dm, err := c.Post(ctx, bot.Message{Channel: "UBOB", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if dm.Channel != "DUBOB" || dm.TS == ref.TS {
		t.Errorf("DM ref %+v, want the DM channel DUBOB and its own ts (channel post %s)", dm, ref.TS)
	}
	if err := c.Update(ctx, ref, bot.Message{Channel: "C1", Text: "edited"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, bot.MessageRef{Channel: "C1", TS: "1.000009"}, bot.Message{Text: "x"}); err == nil {
		t.Error("editing a message never posted succeeded, want message_not_found")
	}
	if err := c.Update(ctx, bot.MessageRef{Channel: "C2", TS: ref.TS}, bot.Message{Text: "x"}); err == nil {
		t.Error("editing a message in the wrong channel succeeded, want message_not_found")
	}
	if err := c.Update(ctx, bot.MessageRef{Channel: "UBOB", TS: dm.TS}, bot.Message{Text: "x"}); err == nil {
		t.Error("editing a DM by the person's ID succeeded, want the DM channel's ID")
	}
	if err := c.PostEphemeral(ctx, "UALICE", bot.Message{Channel: "C1", Text: "only you"}); err != nil {
		t.Fatal(err)
	}
	if got := c.Latest(ref.TS).Text; got != "edited" {
		t.Errorf("Latest = %q, want the edit", got)
	}
	if got := c.Updates(ref.TS); len(got) != 1 || got[0].Text != "edited" {
		t.Errorf("Updates = %+v, want the one edit", got)
	}
	if got := len(c.Posts()); got != 2 {
		t.Errorf("%d posts, want 2", got)
	}
	if got := c.ChannelPosts(); len(got) != 1 || got[0].Text != "first" {
		t.Errorf("ChannelPosts = %+v, want the channel post only", got)
	}
	if got := c.DMs(); len(got) != 1 || got[0].Channel != "UBOB" {
		t.Errorf("DMs = %+v, want the one to UBOB", got)
	}
	if got := c.PostsIn("UBOB"); len(got) != 1 {
		t.Errorf("PostsIn(UBOB) = %+v, want the DM", got)
	}
	if got := c.Ephemerals(); len(got) != 1 || got[0].Text != "only you" {
		t.Errorf("Ephemerals = %+v", got)
	}
	want := []string{"Post C1", "Post UBOB", "Update C1 " + ref.TS, "Update C1 1.000009", "Update C2 " + ref.TS, "Update UBOB " + dm.TS,
		"PostEphemeral C1 UALICE"}
	if diff := cmp.Diff(want, c.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if _, err := c.User(ctx, "UNOBODY"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff(want, c.Mutations()); diff != "" {
		t.Errorf("mutations (-want +got): lookups are not mutations\n%s", diff)
	}
}

func TestChatChannels(t *testing.T) {
	ctx := context.Background()
	c := bottest.NewChat()
	c.TakeName("taken")
	c.RejectName("rejected")
	tests := []struct {
		name string
		want error
	}{
		{"inc-1", nil},
		{"inc-1", bot.ErrNameTaken},
		{"taken", bot.ErrNameTaken},
		{"rejected", bot.ErrInvalidName},
		{strings.Repeat("x", 81), bot.ErrInvalidName},
	}
	for _, tt := range tests {
		_, err := c.CreateChannel(ctx, tt.name)
		if !errors.Is(err, tt.want) {
			t.Errorf("create %q: got %v, want %v", tt.name, err, tt.want)
		}
	}
	info, _ := c.CreateChannel(ctx, "inc-2")
	_ = c.Invite(ctx, info.ID, "UA", "UB")
	_ = c.SetTopic(ctx, info.ID, "topic")
	_ = c.SetPurpose(ctx, info.ID, "purpose")
	_ = c.Pin(ctx, bot.MessageRef{Channel: info.ID, TS: "1.1"})
	_ = c.Archive(ctx, info.ID)
	if got := c.Invites(info.ID); !cmp.Equal(got, []string{"UA", "UB"}) {
		t.Errorf("invites %v", got)
	}
	if c.Topics()[info.ID] != "topic" || c.Purposes()[info.ID] != "purpose" {
		t.Errorf("topic %q purpose %q", c.Topics()[info.ID], c.Purposes()[info.ID])
	}
	if got := c.Pins(); len(got) != 1 || got[0].TS != "1.1" {
		t.Errorf("pins %v", got)
	}
	if got := c.Archived(); !cmp.Equal(got, []string{info.ID}) {
		t.Errorf("archived %v", got)
	}
}

func TestChatDirectoryAndMessages(t *testing.T) {
	ctx := context.Background()
	c := bottest.NewChat()
	c.AddUser(bot.User{ID: "UANNA", Email: "anna@example.com", TZ: "Europe/Berlin"})
	c.SetGroup("SONCALL", "UANNA")
	if u, err := c.UserByEmail(ctx, "anna@example.com"); err != nil || u.ID != "UANNA" {
		t.Errorf("by e-mail: %+v, %v", u, err)
	}
	if _, err := c.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown e-mail: %v, want ErrNotFound", err)
	}
	c.EditUser("UANNA", func(u *bot.User) { u.Deleted = true })
	if u, _ := c.User(ctx, "UANNA"); !u.Deleted || u.TZ != "Europe/Berlin" {
		t.Errorf("edited user %+v, want deleted and the rest kept", u)
	}
	if err := c.SetUsergroupMembers(ctx, "SONCALL", []string{"UBEN"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.UsergroupMembers(ctx, "SONCALL"); !cmp.Equal(got, []string{"UBEN"}) || !cmp.Equal(c.Group("SONCALL"), got) {
		t.Errorf("members %v, want [UBEN]", got)
	}
	if got, err := c.UsergroupMembers(ctx, "SNONE"); err != nil || len(got) != 0 {
		t.Errorf("unknown group: %v, %v; want no members", got, err)
	}
	said := bot.ChatMessage{Ref: bot.MessageRef{Channel: "C1", TS: "1.000100"}, User: "UANNA", Text: "502s"}
	c.AddMessage(said)
	if got, err := c.Message(ctx, said.Ref); err != nil || got != said {
		t.Errorf("message %+v, %v", got, err)
	}
	if _, err := c.Message(ctx, bot.MessageRef{Channel: "C1", TS: "1.000200"}); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown message: %v, want ErrNotFound", err)
	}
	if err := c.Upload(ctx, bot.File{Channel: "C1", Name: "a.md"}); err != nil || len(c.Uploads()) != 1 {
		t.Errorf("upload: %v, %d", err, len(c.Uploads()))
	}
	if err := c.OpenModal(ctx, "TRIG", bot.Modal{CallbackID: "v"}); err != nil || len(c.Modals()) != 1 {
		t.Errorf("modal: %v, %d", err, len(c.Modals()))
	}
}

func TestChatFailsOnDemand(t *testing.T) {
	ctx := context.Background()
	c := bottest.NewChat()
	boom := errors.New("ratelimited")
	c.Fail("UsergroupMembers", boom)
	for i := 0; i < 2; i++ {
		if _, err := c.UsergroupMembers(ctx, "S1"); !errors.Is(err, boom) {
			t.Errorf("call %d: %v, want the injected error", i, err)
		}
	}
	c.Fail("UsergroupMembers", nil)
	if _, err := c.UsergroupMembers(ctx, "S1"); err != nil {
		t.Errorf("after clearing: %v", err)
	}
	c.FailNext("Post", 2, boom)
	var errs []bool
	for i := 0; i < 3; i++ {
		_, err := c.Post(ctx, bot.Message{Channel: "C1"})
		errs = append(errs, err != nil)
	}
	if !cmp.Equal(errs, []bool{true, true, false}) {
		t.Errorf("failed posts %v, want the first two", errs)
	}
	if n := len(c.Posts()); n != 1 {
		t.Errorf("%d posts kept, want only the one that succeeded", n)
	}
	if n := len(c.CallsMatching("Post")); n != 3 {
		t.Errorf("%d Post calls logged, want 3 (failed calls too)", n)
	}
}

// TestOnlyTestsImportBottest keeps the fakes out of the product: no
// non-test file in the module imports this package.
func TestOnlyTestsImportBottest(t *testing.T) {
	const self = "github.com/opsbot/opsbot/bot/bottest"
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		if f.Name.Name == "bottest" {
			return nil
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s imports %s; only tests may", rel, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked %d files under %s, want the whole module", checked, root)
	}
}

// TestChatFindsAndDeletesItsPosts: the bot's posts are found by their
// metadata (kept through an edit that sends none), thread replies and
// deleted posts are not, and deleting twice is not an error.
func TestChatFindsAndDeletesItsPosts(t *testing.T) {
	ctx := context.Background()
	c := bottest.NewChat()
	meta := &bot.MessageMetadata{EventType: "alert_group_message", Payload: map[string]string{"group": "g1", "episode": "1"}}
	match := bot.MessageMetadata{EventType: "alert_group_message", Payload: map[string]string{"group": "g1"}}
	if _, err := c.Post(ctx, bot.Message{Channel: "C1", Text: "other", Metadata: &bot.MessageMetadata{EventType: "x"}}); err != nil {
		t.Fatal(err)
	}
	first, _ := c.Post(ctx, bot.Message{Channel: "C1", Text: "first", Metadata: meta})
	second, _ := c.Post(ctx, bot.Message{Channel: "C1", Text: "second", Metadata: meta})
	_, _ = c.Post(ctx, bot.Message{Channel: "C1", ThreadTS: first.TS, Text: "reply", Metadata: meta})
	if err := c.Update(ctx, first, bot.Message{Text: "first, edited"}); err != nil {
		t.Fatal(err)
	}
	if got, found, err := c.FindPosted(ctx, "C1", time.Time{}, match); err != nil || !found || got != first {
		t.Errorf("found %+v %v %v, want %+v", got, found, err, first)
	}
	if _, found, _ := c.FindPosted(ctx, "C2", time.Time{}, match); found {
		t.Error("found a post of another channel")
	}
	for i := 0; i < 2; i++ {
		if err := c.Delete(ctx, first); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	if got, _, _ := c.FindPosted(ctx, "C1", time.Time{}, match); got != second || !c.Deleted(first.TS) {
		t.Errorf("after deleting the first: %+v, want %+v", got, second)
	}
	if err := c.Update(ctx, first, bot.Message{Text: "x"}); err == nil {
		t.Error("a deleted message was edited")
	}
}
