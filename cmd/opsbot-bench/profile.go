package main

import (
	"context"
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

// profileTurn sends one more turn to opsbot while its CPU profile and an
// execution trace are taken, then saves its heap, allocation, mutex, block
// and goroutine profiles (cumulative since start) into -profile.
func profileTurn(ctx context.Context, bot *opsbotTarget, o options) error {
	if err := os.MkdirAll(o.profile, 0o755); err != nil {
		return err
	}
	n := profileCommands(o)
	secs := 2
	if o.rate > 0 {
		secs = max(int(float64(n)/o.rate+0.999), 1)
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
			errs[i] = fetch(ctx, base+p.path, filepath.Join(o.profile, p.file))
		}()
	}
	// Both collectors are listening before the load starts.
	time.Sleep(100 * time.Millisecond)
	t := &bot.target
	measured := len(t.batches)
	turnErr := turn(ctx, t, o, t.users(n), true)
	t.batches = t.batches[:measured] // not part of the figures
	wg.Wait()
	for _, p := range []string{"heap", "allocs", "mutex", "block", "goroutine"} {
		if err := fetch(ctx, base+p, filepath.Join(o.profile, p+".pprof")); err != nil {
			errs = append(errs, err)
		}
	}
	if turnErr != nil {
		return turnErr
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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
