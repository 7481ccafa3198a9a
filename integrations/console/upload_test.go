package console

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
)

func TestUploadPrintsTextAndWritesImagesToFiles(t *testing.T) {
	var out bytes.Buffer
	ws := NewWorkspace(&out, bot.ClockFunc(func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }), "T1")
	ws.AddChannel("C1", "general")
	dir := t.TempDir()
	ws.SetFilesDir(dir)
	ctx := context.Background()

	if err := ws.Upload(ctx, bot.File{Channel: "C1", Name: "inc-1-postmortem.md", Content: []byte("# INC-1\nall good\n")}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "│ # INC-1") {
		t.Errorf("text upload not printed:\n%s", out.String())
	}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
	out.Reset()
	if err := ws.Upload(ctx, bot.File{Channel: "C1", Name: "../../stats.png", Content: png}); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`image/png written to (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no path printed:\n%s", out.String())
	}
	if filepath.Dir(m[1]) != dir {
		t.Errorf("written to %s, want inside %s", m[1], dir)
	}
	got, err := os.ReadFile(m[1])
	if err != nil || !bytes.Equal(got, png) {
		t.Errorf("file content %q, %v; want the upload", got, err)
	}
}
