package redis

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// Environment of the re-executed child in TestTimelineSurvivesKill.
const (
	killChildSpool = "OPSBOT_TEST_TIMELINE_CHILD_SPOOL"
	killChildAddr  = "OPSBOT_TEST_TIMELINE_CHILD_ADDR"
	killEvents     = 50
)

func killEventName(i int) string { return fmt.Sprintf("k%03d", i) }

// TestTimelineSurvivesKill appends events in a child process while Redis is
// down, SIGKILLs the child with every event still held, and checks that a
// new Timeline on the same spool writes each of them exactly once, in order.
func TestTimelineSurvivesKill(t *testing.T) {
	if dir := os.Getenv(killChildSpool); dir != "" {
		runKillChild(dir, os.Getenv(killChildAddr))
		return
	}
	srv := redistest.NewServer(t)
	srv.Stop()
	dir := t.TempDir()

	cmd := exec.Command(os.Args[0], "-test.run=^TestTimelineSurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildSpool+"="+dir, killChildAddr+"="+srv.Addr())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	var status string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "HELD ") || strings.HasPrefix(sc.Text(), "FAIL ") {
			status = sc.Text()
			break
		}
	}
	if want := fmt.Sprintf("HELD %d", killEvents); status != want {
		t.Fatalf("child said %q, want %q; stderr:\n%s", status, want, stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait()

	srv.Start()
	// Also as if an earlier drain had died before emptying the spool: the
	// first events are already in Redis.
	c := srv.Client()
	for i := 0; i < 5; i++ {
		ev := event("INC-9", killEventName(i))
		ev.Time = ev.Time.Add(time.Duration(i) * time.Second)
		err := storeScript.Run(testCtx(t), c, storeKeys(ev), storeArgs(ev, mustJSON(t, ev))...).Err()
		if err != nil {
			t.Fatalf("pre-store: %v", err)
		}
	}
	tl := newTimeline(t, c, dir)
	if got := tl.Pending(); got != killEvents {
		t.Fatalf("Pending() after restart = %d, want %d", got, killEvents)
	}
	startRun(t, tl)
	waitDrained(t, tl)

	var want []string
	for i := 0; i < killEvents; i++ {
		want = append(want, killEventName(i))
	}
	got := mustEvents(t, tl, "INC-9")
	if diff := cmp.Diff(want, texts(got)); diff != "" {
		t.Fatalf("Events() after kill and restart mismatch (-want +got):\n%s", diff)
	}
	if n := c.XLen(testCtx(t), StreamKey("INC-9")).Val(); n != killEvents {
		t.Fatalf("stream length = %d, want %d (each event once)", n, killEvents)
	}
	if n := spoolBytes(t, dir); n != 0 {
		t.Fatalf("spools after drain hold %d bytes; want none", n)
	}
}

// runKillChild is the child's side: append with Redis down, report, and
// wait to be killed.
func runKillChild(dir, addr string) {
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialerRetries: 1, MaxRetries: 1})
	tl, err := NewTimeline(TimelineConfig{Client: c, SpoolDir: dir, Logger: zap.NewNop(), AppendTimeout: 200 * time.Millisecond})
	if err != nil {
		fmt.Printf("FAIL %v\n", err)
		os.Exit(1)
	}
	for i := 0; i < killEvents; i++ {
		ev := event("INC-9", killEventName(i))
		ev.Time = ev.Time.Add(time.Duration(i) * time.Second)
		if err := tl.Append(context.Background(), ev); err != nil {
			fmt.Printf("FAIL append %d: %v\n", i, err)
			os.Exit(1)
		}
	}
	fmt.Printf("HELD %d\n", tl.Pending())
	// Killed by the parent; the limit only stops an orphan.
	time.Sleep(2 * time.Minute)
	os.Exit(3)
}
