package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	chrome "github.com/buildmaster/buildmaster/internal/testkit/browser"
	"github.com/buildmaster/buildmaster/messages"
)

// The browser helpers, shared with test/.
var (
	browser = chrome.Start
	tab     = chrome.Tab
	run     = chrome.Run
)

// value runs one browser action under chrome.Deadline.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	return chrome.Value(t, ctx, a)
}

// call sends a DevTools command to the tab.
func call[P any](t *testing.T, ctx context.Context, cmd cdp.Command[P, cdp.Empty], params P) {
	t.Helper()
	if _, err := chromedp.Call(ctx, cmd, params); err != nil {
		t.Fatalf("browser: %s: %v", cmd.Method, err)
	}
}

// site serves the UI over the fixture, with the test hub at /ws.
type site struct {
	*fixture
	rec *recorder
	hub *hub
	url string
}

// newSite serves the fixture at the real time (the live tests add builds
// now); opts may change that.
func newSite(t *testing.T, opts ...func(*Options)) *site {
	f := newFixture(t)
	s := &site{fixture: f, rec: newRecorder(), hub: newHub()}
	u := newUI(t, f.store, s.rec, append([]func(*Options){func(o *Options) { o.Now = time.Now }}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle("/ws", s.hub)
	mux.Handle("/", u)
	srv := httptest.NewServer(mux) // bound on 127.0.0.1:0
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// buildEvent is a build as /api/v2 shows it, as the event bus sends it.
func buildEvent(b *messages.Build) map[string]any {
	return map[string]any{"buildid": b.Id, "builderid": b.Builderid, "number": b.Number, "results": b.Results,
		"complete": b.Results != nil, "state_string": b.StateString, "started_at": b.StartedAt, "complete_at": b.CompleteAt}
}

func TestBrowserPages(t *testing.T) {
	ctx := browser(t)
	s := newSite(t)
	for _, tc := range []struct{ path, sel, want string }{
		{"/", "#builders", "linux"},
		{"/", "#queue", "docs please"},
		{"/", "#running", "windows #2"},
		{"/?tag=docs", "#builders", "docs"},
		{"/builders/linux", "#history", "#2"},
		{"/builders/docs", "details.force summary", "Force a build (force)"},
		{"/builders/linux/builds/2", "#log", "--- FAIL: TestLex"},
		{"/builders/windows/builds/2", "#log", "compiling 2"},
		{"/console", "#console", "Fix <the> lexer & tests"},
		{"/grid", "#grid", "main"},
		{"/workers", "#workers", "build-01"},
		{"/changes", "#changes", "Document it"},
		{"/schedulers", "main", "on-main"},
		{"/requests", "#requests", "a feature"},
		{"/master", "#master", "builder:linux"},
	} {
		t.Run(tc.path+" "+tc.sel, func(t *testing.T) {
			tctx := tab(t, ctx)
			run(t, tctx, chromedp.Navigate(s.url+tc.path))
			if text := value(t, tctx, chromedp.Text(chromedp.CSS(tc.sel))); !strings.Contains(text, tc.want) {
				t.Errorf("no %q in %q", tc.want, text)
			}
		})
	}
	// The failing builder is red; tiles name results as Buildbot does.
	tctx := tab(t, ctx)
	sel := fmt.Sprintf(`.tile[data-builder="%d"]`, s.linux)
	run(t, tctx, chromedp.Navigate(s.url+"/"))
	if class := value(t, tctx, chromedp.AttributeValue(chromedp.CSS(sel), "class")); class.Value != "tile r-failure" {
		t.Errorf("linux's tile is %q", class.Value)
	}
	if bg := value(t, tctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('`+sel+`')).backgroundColor`)); bg != "rgb(238, 119, 119)" {
		t.Errorf("a failing tile's colour is %s", bg)
	}
}

// TestBrowserLive: a published build-finished event turns a builder red on
// Home without a reload, and the page's regions are re-fetched (failing
// builders first).
func TestBrowserLive(t *testing.T) {
	ctx := tab(t, browser(t))
	s := newSite(t)
	tile := fmt.Sprintf(`.tile[data-builder="%d"]`, s.docs)
	run(t, ctx, chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.CSS("#live.on")),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	s.hub.waitConsuming(t, "builds/*/finished")

	res := s.do(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
		Builderid: s.docs, Buildrequestid: s.queued, Workerid: s.w1, Masterid: 1, StartedAt: time.Now().Unix(), ClaimBrids: []uint64{s.queued}}}})
	s.do(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
		Buildid: res.Id, Results: state.ResultFailure, CompleteAt: time.Now().Unix(), StateString: "failed", Brids: []uint64{s.queued}}}})
	b := state.Lookup(s.store.Read(), state.TableBuilds, res.Id).(*messages.Build)
	s.hub.publish(fmt.Sprintf("builds/%d/finished", b.Id), buildEvent(b))
	s.hub.publish(fmt.Sprintf("buildrequests/%d/complete", s.queued), map[string]any{"buildrequestid": s.queued, "builderid": s.docs, "complete": true, "results": 2})

	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(tile+".r-failure")))
	// The tiles are re-fetched too: docs (failing, and first by name) leads.
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`.tiles > a:first-child[data-builder="`+fmt.Sprint(s.docs)+`"]`)))
	// The queue is re-fetched: it lost the request the build took.
	run(t, ctx, chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf(`#queue form[action="/requests/%d/cancel"]`, s.queued))))
	if !value(t, ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Errorf("the page was reloaded")
	}
}

// TestBrowserLog: the running step's log is shown and followed: appended
// lines appear without a reload, and when the next step starts its log
// takes the place of the last.
func TestBrowserLog(t *testing.T) {
	ctx := tab(t, browser(t))
	s := newSite(t)
	run(t, ctx, chromedp.Navigate(s.url+"/builders/windows/builds/2"), chromedp.WaitVisible(chromedp.CSS("#live.on")),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	logTopic := fmt.Sprintf("logs/%d/*", s.runningLog)
	s.hub.waitConsuming(t, logTopic)

	appendLines(s.world, s.runningLog, 2, 3000, 2500)
	s.hub.publish(fmt.Sprintf("logs/%d/append", s.runningLog), map[string]any{"logid": s.runningLog, "num_lines": 3002})
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("L3002")))
	want := `<span id="L2501" class="e"><a href="#L2501">2501</a>the linker said: <span class="fg1">error:</span> undefined symbol 2500</span>`
	if html := value(t, ctx, chromedp.OuterHTML(chromedp.ID("L2501"))); html != want {
		t.Errorf("appended line:\n got %s\nwant %s", html, want)
	}

	// The next step starts: its log is shown and followed.
	next := s.do(&messages.Command{Kind: &messages.Command_FinishStep{FinishStep: &messages.FinishStep{
		Stepid: s.runningStep, Results: state.ResultSuccess, CompleteAt: time.Now().Unix(), StateString: "compiled",
		Next: &messages.AddStep{Name: "test", StartedAt: time.Now().Unix(), LogNames: []string{"stdio"}}}}})
	stepid, logid := next.Ids[0], next.Ids[1]
	s.hub.publish(fmt.Sprintf("builds/%d/steps/2/started", s.running), map[string]any{"stepid": stepid, "buildid": s.running, "number": 2})
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#log[data-logid="%d"]`, logid))))
	s.hub.waitConsuming(t, fmt.Sprintf("logs/%d/*", logid))
	testkit.Eventually(t, "the page leaving the finished step's log", func() bool { return !s.hub.consuming(logTopic) })
	s.do(&messages.Command{Kind: &messages.Command_AppendLog{AppendLog: &messages.AppendLog{Logid: logid, Content: "o=== RUN TestNext\n"}}})
	s.hub.publish(fmt.Sprintf("logs/%d/append", logid), map[string]any{"logid": logid, "num_lines": 1})
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("L1")))
	if text := value(t, ctx, chromedp.Text(chromedp.ID("log"))); !strings.Contains(text, "=== RUN TestNext") {
		t.Errorf("the new step's log shows %q", text)
	}
	if !value(t, ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Errorf("the page was reloaded")
	}
}

// TestBrowserActions: buttons call the Control (over JSON-RPC with
// JavaScript, as plain forms without), and the Control's refusal is shown.
func TestBrowserActions(t *testing.T) {
	bctx := browser(t)
	s := newSite(t)
	click := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }
	for _, tc := range []struct {
		name, path string
		steps      []chromedp.Action[chromedp.Void]
		call       string
	}{
		{"stop", "/builders/windows/builds/2", []chromedp.Action[chromedp.Void]{click(`form[data-method="stop"] button`)},
			"stop windows #2 (id 4): stopped from the web page"},
		{"rebuild", "/builders/linux/builds/2", []chromedp.Action[chromedp.Void]{click(`form[data-method="rebuild"] button`)},
			"rebuild linux #2"},
		{"cancel", "/requests", []chromedp.Action[chromedp.Void]{click(`form[action="/requests/6/cancel"] button`)},
			"cancel 6: "},
		{"pause", "/workers", []chromedp.Action[chromedp.Void]{click(`#w-w1 form[data-method="pause"] button`)},
			"pause w1: "},
		{"kill, confirmed", "/workers", []chromedp.Action[chromedp.Void]{
			chromedp.Evaluate[chromedp.Void](`window.confirm = function () { return true; }`),
			click(`#w-w1 form[data-method="kill"] button`)},
			"kill w1"},
		{"disable", "/schedulers", []chromedp.Action[chromedp.Void]{click(`form[action="/schedulers/on-main/disable"] button`)},
			"enable on-main false"},
		{"force", "/builders/docs", []chromedp.Action[chromedp.Void]{
			click(`details.force summary`),
			chromedp.SetValue(chromedp.CSS(`input[name="reason"]`), "from the browser"),
			chromedp.SetValue(chromedp.CSS(`input[name="branch"]`), "main"),
			chromedp.SetValue(chromedp.CSS(`textarea[name="props"]`), "extra=1"),
			click(`details.force button`)},
			`force force on docs: reason="from the browser" branch="main" revision="" props=deploy=no,extra=1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tab(t, bctx)
			run(t, ctx, chromedp.Navigate(s.url+tc.path), chromedp.WaitVisible(chromedp.CSS("#live.on")))
			run(t, ctx, tc.steps...)
			if got := testkit.Recv(t, tc.name+" call", s.rec.got); got != tc.call {
				t.Errorf("called %q, want %q", got, tc.call)
			}
			run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#flash:not(:empty)`)))
			if flash := value(t, ctx, chromedp.Text(chromedp.ID("flash"))); !strings.HasSuffix(flash, ": done") {
				t.Errorf("flash %q", flash)
			}
			if path := value(t, ctx, chromedp.Evaluate[string](`location.pathname`)); path != tc.path {
				t.Errorf("the page went to %s (JavaScript should have posted JSON-RPC)", path)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		s.rec.mu.Lock()
		s.rec.fail["docs"] = fmt.Errorf("the force scheduler is busy: %w", ErrInvalid)
		s.rec.mu.Unlock()
		ctx := tab(t, bctx)
		run(t, ctx, chromedp.Navigate(s.url+"/builders/docs"), chromedp.WaitVisible(chromedp.CSS("#live.on")),
			click(`details.force summary`), click(`details.force button`))
		testkit.Recv(t, "force call", s.rec.got)
		run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#flash.error`)))
		want := "force forceschedulers/force/builders/docs: the force scheduler is busy: invalid request"
		if flash := value(t, ctx, chromedp.Text(chromedp.ID("flash"))); flash != want {
			t.Errorf("flash %q, want %q", flash, want)
		}
	})

	t.Run("without JavaScript", func(t *testing.T) {
		ctx := tab(t, bctx)
		call(t, ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		run(t, ctx, chromedp.Navigate(s.url+"/workers?x=1"), click(`#w-w2 form[data-method="pause"] button`))
		if got := testkit.Recv(t, "pause call", s.rec.got); got != "pause w2: " {
			t.Errorf("called %q", got)
		}
		// Redirected back to the page, which JavaScript did not make live.
		run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#workers`)))
		if live := value(t, ctx, chromedp.Text(chromedp.ID("live"))); live != "offline" {
			t.Errorf("live %q with JavaScript off", live)
		}
		if loc := value(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/workers?x=1") {
			t.Errorf("after the form post: at %s", loc)
		}
	})
}

// TestBrowserScreenshots writes docs/ui-home.png, docs/ui-home-dark.png
// and docs/ui-build.png with -update.
func TestBrowserScreenshots(t *testing.T) {
	if !testkit.Update() {
		t.Skip("writes docs/*.png with -update")
	}
	ctx := tab(t, browser(t))
	s := newSite(t, func(o *Options) { o.Now = func() time.Time { return t0 } })
	showcase(s.world)
	dir := filepath.Join("..", "..", "docs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(path, file, scheme string) {
		call(t, ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		run(t, ctx, chromedp.Navigate(s.url+path), chromedp.WaitVisible(chromedp.CSS("#live.on")))
		png := value(t, ctx, chromedp.CaptureScreenshot())
		if err := os.WriteFile(filepath.Join(dir, file), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("/", "ui-home.png", "light")
	shot("/", "ui-home-dark.png", "dark")
	shot("/builders/linux/builds/2", "ui-build.png", "light")
}

// showcase adds builders and builds so that the screenshots look like a
// master at work.
func showcase(w *world) {
	now := t0
	results := []int32{0, 0, 0, 2, 0, 1, 0, 0, 4, 0, 0, 6, 0, 0, 0, 2, 0, 0, 3, 0}
	for i := range 40 {
		name := fmt.Sprintf("%s-%s", []string{"linux", "macos", "windows", "freebsd"}[i%4], []string{"amd64", "arm64", "race", "lint", "docs", "integration", "bench", "fuzz", "release", "coverage"}[i/4])
		id := w.do(&messages.Command{Kind: &messages.Command_FindOrAddBuilder{FindOrAddBuilder: &messages.FindOrAddBuilder{Name: name}}}).Id
		start := now.Add(-time.Duration(10+i*3) * time.Minute)
		res := w.do(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
			Builderid: id, Workerid: 1, Masterid: 1, StartedAt: start.Unix(), StateString: "build"}}})
		if i%9 == 4 {
			continue // running
		}
		w.do(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
			Buildid: res.Id, Results: results[i%len(results)], CompleteAt: start.Add(time.Duration(3+i%7) * time.Minute).Unix()}}})
	}
}
