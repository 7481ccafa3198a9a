// Package browsertest gives tests a real headless Chromium, driven over the
// DevTools protocol with chromedp: one browser per test binary (started on
// first use, stopped by Stop from TestMain), a new tab per test.
//
// Environment:
//
//   - OPSBOT_CHROMIUM: the browser to run. Otherwise chromium,
//     chromium-browser, google-chrome or google-chrome-stable on PATH.
//   - OPSBOT_REQUIRE_BROWSER=1: fail instead of skipping when there is no
//     browser (CI sets it).
//
// The browser runs without network access beyond the loopback servers the
// tests start: background networking, component updates, sync and QUIC are
// off, and every run gets a new, empty profile.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Find returns the path of the browser to use, or "" when there is none.
func Find() string {
	if p := os.Getenv("OPSBOT_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Required reports whether a missing browser fails the tests
// (OPSBOT_REQUIRE_BROWSER=1).
func Required() bool { return os.Getenv("OPSBOT_REQUIRE_BROWSER") == "1" }

// browser is one running Chromium.
type browser struct {
	dir    string
	ctx    context.Context
	cancel func()
}

var shared struct {
	sync.Mutex
	started bool
	err     error
	b       *browser
}

// startTimeout bounds the browser's start; generous, as the machine may be
// busy.
const startTimeout = 60 * time.Second

func start() (*browser, error) {
	path := Find()
	if path == "" {
		return nil, fmt.Errorf("no Chromium found (set OPSBOT_CHROMIUM, or install chromium)")
	}
	dir, err := os.MkdirTemp("", "opsbot-chromium-")
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	b := &browser{dir: dir, ctx: ctx, cancel: func() {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(dir)
	}}
	// The first action starts the browser. Its context must not carry a
	// deadline (that would end the browser with it), so the deadline is
	// kept by hand.
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err = <-done:
	case <-time.After(startTimeout):
		err = fmt.Errorf("did not start within %s", startTimeout)
	}
	if err != nil {
		b.cancel()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return b, nil
}

// unavailable skips the test, or fails it under OPSBOT_REQUIRE_BROWSER=1.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("browser required (OPSBOT_REQUIRE_BROWSER=1): %v", err)
	}
	t.Skipf("skipping browser test: %v; set OPSBOT_CHROMIUM or install chromium (CI sets OPSBOT_REQUIRE_BROWSER=1 to fail instead)", err)
}

// Tab returns the context of a new tab in the test binary's shared browser,
// closed when the test ends; the package's TestMain must call Stop. With no
// browser the test is skipped, or failed under OPSBOT_REQUIRE_BROWSER=1.
func Tab(t testing.TB) context.Context {
	t.Helper()
	shared.Lock()
	if !shared.started {
		shared.started = true
		shared.b, shared.err = start()
	}
	b, err := shared.b, shared.err
	shared.Unlock()
	if err != nil {
		unavailable(t, err)
	}
	return tab(t, b)
}

// Own starts a browser for this test alone, stopped when it ends: for a
// package with one browser test, which then needs no TestMain.
func Own(t testing.TB) context.Context {
	t.Helper()
	b, err := start()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(b.cancel)
	return tab(t, b)
}

func tab(t testing.TB, b *browser) context.Context {
	t.Helper()
	tab, closeTab := chromedp.NewContext(b.ctx)
	t.Cleanup(closeTab)
	// The first action opens the tab, and must not carry a deadline (that
	// would close the tab with it); everything after does, so that a page
	// that never loads fails the test instead of hanging it.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, TabTimeout)
	t.Cleanup(cancel)
	return ctx
}

// TabTimeout bounds everything a test does in one tab.
var TabTimeout = 2 * time.Minute

// Stop ends the shared browser and removes its profile. Call it from
// TestMain after m.Run.
func Stop() {
	shared.Lock()
	defer shared.Unlock()
	if shared.b != nil {
		shared.b.cancel()
		shared.b = nil
	}
}
