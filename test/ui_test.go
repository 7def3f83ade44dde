package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/testkit/browser"
)

// TestBrowserOnARealMaster drives Chromium against the master and a real
// buildworker: Home lists the builders; a build forced from the builder
// page's form runs, its log lines stream into the build page without a
// reload, and its stop button stops it; a queued request is cancelled
// from /requests; a worker is paused from /workers; a failing build turns
// its builder red on an open Home page. With -update it writes
// docs/master-home.png (a build page's screenshot would show the test
// machine's environment in its log header: docs/ui-build.png is
// internal/ui's, over a fake store).
func TestBrowserOnARealMaster(t *testing.T) {
	bctx := browser.Start(t)
	m, gate, _ := gatedMaster(t, "")
	startWorker(t, m, "w1", "pw1")
	url := "http://" + m.www
	click := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }
	live := chromedp.WaitVisible(chromedp.CSS("#live.on"))

	// Home, left open: the failing builder must turn red on it later.
	home := browser.Tab(t, bctx)
	browser.Run(t, home, chromedp.Navigate(url+"/"), live, chromedp.WaitVisible(chromedp.CSS(`.tile[data-builder]`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	if got := browser.Value(t, home, chromedp.Text(chromedp.CSS("#builders"))); !strings.Contains(got, "gated") || !strings.Contains(got, "failing") {
		t.Fatalf("Home's builders: %q", got)
	}

	// Force from the form.
	page := browser.Tab(t, bctx)
	browser.Run(t, page, chromedp.Navigate(url+"/builders/gated"), live,
		click(`details.force summary`),
		chromedp.SetValue(chromedp.CSS(`input[name="reason"]`), "from chromium"),
		click(`details.force button`),
		chromedp.WaitVisible(chromedp.CSS(`#flash:not(:empty)`)))
	if flash := browser.Value(t, page, chromedp.Text(chromedp.ID("flash"))); !strings.HasSuffix(flash, ": done") {
		t.Fatalf("force: flash %q", flash)
	}
	m.waitStepLog("gated", 1, "wait", "waiting")

	// The build page shows the running step's log and follows it.
	browser.Run(t, page, chromedp.Navigate(url+"/builders/gated/builds/1"), live,
		chromedp.WaitVisible(chromedp.CSS(`#log[data-follow]`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	if got := browser.Value(t, page, chromedp.Text(chromedp.ID("log"))); !strings.Contains(got, "waiting") {
		t.Fatalf("the build page's log: %q", got)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	browser.Run(t, page, chromedp.Poll[chromedp.Void](`document.getElementById("log").textContent.includes("line-after-gate")`, chromedp.WithPollingTimeout(browser.Deadline)))
	if !browser.Value(t, page, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Fatal("the build page was reloaded to show the new log line")
	}

	// A second request queues behind it (w1 takes one build at a time),
	// and is cancelled from /requests.
	m.force("gated")
	m.waitAPI("/api/v2/buildrequests?claimed=false&complete=false", `"buildrequestid":2`)
	reqs := browser.Tab(t, bctx)
	browser.Run(t, reqs, chromedp.Navigate(url+"/requests"), live, click(`form[action="/requests/2/cancel"] button`),
		chromedp.WaitVisible(chromedp.CSS(`#flash:not(:empty)`)))
	m.waitAPI("/api/v2/buildrequests/2", `"complete":true`, `"results":6`)
	browser.Run(t, reqs, chromedp.WaitNotPresent(chromedp.CSS(`form[action="/requests/2/cancel"]`)))

	// Stop the running build from its page.
	browser.Run(t, page, click(`form[data-method="stop"] button`), chromedp.WaitVisible(chromedp.CSS(`#flash:not(:empty)`)))
	if b := m.waitBuild("gated", 1); *b.Results != 6 {
		t.Fatalf("gated #1 after stop: results %d, want CANCELLED", *b.Results)
	}
	browser.Run(t, page, chromedp.WaitNotPresent(chromedp.CSS(`form[data-method="stop"]`)))

	// A failing build turns its builder red on the open Home page.
	m.force("failing")
	m.waitBuild("failing", 1)
	browser.Run(t, home, chromedp.WaitVisible(chromedp.CSS(`.tile.r-failure`)))
	if got := browser.Value(t, home, chromedp.Text(chromedp.CSS(`.tile.r-failure`))); !strings.Contains(got, "failing") {
		t.Fatalf("the red tile: %q", got)
	}
	if !browser.Value(t, home, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Fatal("Home was reloaded")
	}
	if testkit.Update() {
		screenshot(t, home, "master-home.png")
	}

	// Pause the worker from /workers.
	workers := browser.Tab(t, bctx)
	browser.Run(t, workers, chromedp.Navigate(url+"/workers"), live, click(`#w-w1 form[data-method="pause"] button`),
		chromedp.WaitVisible(chromedp.CSS(`#flash:not(:empty)`)))
	m.waitAPI("/api/v2/workers/w1", `"paused":true`)
	browser.Run(t, workers, chromedp.WaitVisible(chromedp.CSS(`#w-w1 form[data-method="unpause"]`)))
}

// screenshot writes the tab's page to docs/NAME.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := browser.Value(t, ctx, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
