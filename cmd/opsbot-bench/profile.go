package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profileCommands is how many commands the profiled turn sends: about five
// seconds' worth, enough for the CPU profile to have samples, outside the
// measured rounds so the profiler's own cost is in no figure.
func profileCommands(o options) int {
	if o.rate == 0 {
		return 5000
	}
	return min(max(int(5*o.rate), 500), 10000)
}

// profileTurn sends one more turn to opsbot while its profiles are taken
// (see profiled), into -profile.
func profileTurn(ctx context.Context, bot *opsbotTarget, o options) error {
	n := profileCommands(o)
	secs := 5
	if o.rate > 0 {
		secs = max(int(float64(n)/o.rate+0.999), 1)
	}
	t := &bot.target
	measured := len(t.batches)
	defer func() { t.batches = t.batches[:measured] }() // not part of the figures
	return profiled(ctx, bot, o.profile, "", secs, func() error { return turn(ctx, t, o, t.users(n), true) })
}

// profiled runs load while opsbot's CPU profile and an execution trace are
// taken for secs, then saves its heap, allocation, mutex, block and
// goroutine profiles (cumulative since start) into dir, each file name
// starting with prefix.
func profiled(ctx context.Context, bot *opsbotTarget, dir, prefix string, secs int, load func() error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := "http://" + bot.httpAddr + "/debug/pprof/"
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []struct{ path, file string }{
		{fmt.Sprintf("profile?seconds=%d", secs), "cpu.pprof"},
		{fmt.Sprintf("trace?seconds=%d", secs), "trace.out"},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fetch(ctx, base+p.path, filepath.Join(dir, prefix+p.file))
		}()
	}
	// Both collectors are listening before the load starts.
	time.Sleep(100 * time.Millisecond)
	loadErr := load()
	wg.Wait()
	for _, p := range []string{"heap", "allocs", "mutex", "block", "goroutine"} {
		if err := fetch(ctx, base+p, filepath.Join(dir, prefix+p+".pprof")); err != nil {
			errs = append(errs, err)
		}
	}
	if loadErr != nil {
		return loadErr
	}
	return errors.Join(errs...)
}

func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	return f.Close()
}
