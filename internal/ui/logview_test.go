package ui

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// appendLines appends lines first…first+n-1 ("o line NNNN") to log, as the
// botmaster does, errLine's text saying "error: …".
func appendLines(w *world, logid uint64, first, n, errLine int) {
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			w.do(&messages.Command{Kind: &messages.Command_AppendLog{AppendLog: &messages.AppendLog{Logid: logid, Content: b.String()}}})
			b.Reset()
		}
	}
	for i := first; i < first+n; i++ {
		if i == errLine {
			fmt.Fprintf(&b, "ethe linker said: \x1b[31merror:\x1b[0m undefined symbol %d\n", i)
		} else {
			fmt.Fprintf(&b, "oline %04d\n", i)
		}
		if b.Len() > 60_000 {
			flush()
		}
	}
	flush()
}

func TestLogPaging(t *testing.T) {
	f := newFixture(t)
	appendLines(f.world, f.runningLog, 2, 2498, 1799)
	u := newUI(t, f.store, newRecorder())
	const page = "/builders/windows/builds/2"

	body := get(t, u, page).Body.String()
	for _, want := range []string{`<span>lines 1501–2500</span>`, `id="L1501"`, `oline 2499`[1:], `data-next="2500"`, "data-follow", `id="follow" checked`} {
		if !strings.Contains(body, want) {
			t.Errorf("the tail page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="L1500"`) || strings.Contains(body, "line 0100") {
		t.Errorf("the tail page holds lines before its window")
	}

	body = get(t, u, page+"?step=1&log=stdio&from=0").Body.String()
	for _, want := range []string{`<span>lines 1–1000</span>`, `from=1000">next →</a>`, `<a href="/builders/windows/builds/2?step=1&amp;log=stdio">last</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the first page lacks %q", want)
		}
	}
	if strings.Contains(body, "data-follow") {
		t.Errorf("a page before the tail follows the log")
	}

	res := get(t, u, page+"?step=1&log=stdio&find=error")
	if loc := res.Header().Get("Location"); res.Code != http.StatusSeeOther || loc != page+"?step=1&log=stdio&from=1779&error=1799#L1800" {
		t.Fatalf("find=error: %d → %q", res.Code, loc)
	}
	body = get(t, u, page+"?step=1&log=stdio&from=1779&error=1799").Body.String()
	if !strings.Contains(body, `<span id="L1800" class="e err"><a href="#L1800">1800</a>the linker said: <span class="fg1">error:</span> undefined symbol 1799</span>`) {
		t.Errorf("the error line is not highlighted:\n%s", body[strings.Index(body, `id="L1799"`):][:400])
	}
	if body := get(t, u, "/builders/linux/builds/2?step=0&log=stdio&find=error").Body.String(); !strings.Contains(body, "No line of this log looks like an error.") {
		t.Errorf("find=error without an error line")
	}

	res = get(t, u, page+"?step=1&log=stdio&fragment=lines&from=2490")
	if res.Code != http.StatusOK || res.Header().Get("X-Next-Line") != "2500" || res.Header().Get("X-Log-Complete") != "false" {
		t.Fatalf("lines: %d %v", res.Code, res.Header())
	}
	testkit.Golden(t, filepath.Join("testdata", "lines.golden"), res.Body.Bytes())
	if res := get(t, u, page+"?fragment=lines&from=x&step=1&log=stdio"); res.Code != http.StatusBadRequest {
		t.Errorf("lines from=x: %d", res.Code)
	}
	if res := get(t, u, "/builders/linux/builds/1?fragment=lines&from=0"); res.Code != http.StatusBadRequest {
		t.Errorf("lines without a log: %d", res.Code)
	}

	// A finished log says so, so that live.js stops following it.
	f.do(&messages.Command{Kind: &messages.Command_FinishLog{FinishLog: &messages.FinishLog{Logid: f.runningLog}}})
	res = get(t, u, page+"?step=1&log=stdio&fragment=lines&from=2500")
	if res.Body.Len() != 0 || res.Header().Get("X-Next-Line") != "2500" || res.Header().Get("X-Log-Complete") != "true" {
		t.Errorf("lines of a finished log: %q %v", res.Body, res.Header())
	}
}

func TestANSI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain <b> & \"q\"", "plain &lt;b&gt; &amp; &#34;q&#34;"},
		{"\x1b[31mred\x1b[0m back", `<span class="fg1">red</span> back`},
		{"\x1b[1;32mok\x1b[22m thin\x1b[m", `<span class="fg2 b">ok</span><span class="fg2"> thin</span>`},
		{"\x1b[91;44mhi\x1b[39;49m", `<span class="fg9 bg4">hi</span>`},
		{"\x1b[38;5;196mx\x1b[38;5;244my\x1b[38;2;0;0;250mz", `<span class="fg9">x</span><span class="fg8">y</span><span class="fg4">z</span>`},
		{"\x1b[3;4mit\x1b[23;24m", `<span class="i u">it</span>`},
		{"\x1b[2Kcleared\x1b[1A", "cleared"},
		{"\x1b]0;title\x07after", "after"},
		{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"10%\r50%\r100% done", "100% done"},
		{"bell\x07 and \x00nul\ttab", "bell and nul\ttab"},
		{"cut \x1b[3", "cut "},
		{"\x1b[38;5mbad\x1b[38;2;1m", "bad"},
		{"bad utf8 \xff!", "bad utf8 \uFFFD!"},
	} {
		var out bytes.Buffer
		st := plain
		writeANSI(&out, []byte(tc.in), &st)
		if out.String() != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, out.String(), tc.want)
		}
	}
	// A style carries from one line to the next, as on a terminal.
	var out bytes.Buffer
	st := plain
	writeANSI(&out, []byte("\x1b[33mone"), &st)
	writeANSI(&out, []byte("two\x1b[0m three"), &st)
	if want := `<span class="fg3">one</span><span class="fg3">two</span> three`; out.String() != want {
		t.Errorf("carried style: %s", out.String())
	}
}

func TestDuration(t *testing.T) {
	for s, want := range map[int64]string{-5: "0s", 0: "0s", 59: "59s", 60: "1m 00s", 3599: "59m 59s", 3600: "1h 00m", 86399: "23h 59m", 90061: "1d 1h"} {
		if got := duration(s); got != want {
			t.Errorf("duration(%d) = %q, want %q", s, got, want)
		}
	}
}

func TestLooksLikeError(t *testing.T) {
	var scratch []byte
	for line, want := range map[string]bool{
		"error: undefined":                   true,
		"main.go:3: Error in call":           true,
		"\x1b[1;31mERROR\x1b[0m boom":        true,
		"--- FAIL: TestX":                    true,
		"panic: runtime error":               true,
		"Traceback (most recent call last):": true,
		"build failed":                       true,
		"0 errors, 0 warnings":               false,
		"errorhandling.go compiled":          false,
		"fails_test.go ok":                   false,
		"error 10%\rall is fine":             false,
	} {
		if got := looksLikeError([]byte(line), &scratch); got != want {
			t.Errorf("looksLikeError(%q) = %v, want %v", line, got, want)
		}
	}
}

// countingLogs counts the lines its reader hands over.
type countingLogs struct {
	LogReader
	lines int64
}

func (c *countingLogs) Read(ctx context.Context, logid uint64, offset, limit int64, fn func(logchunk.Line) error) (logchunk.ReadResult, error) {
	return c.LogReader.Read(ctx, logid, offset, limit, func(l logchunk.Line) error {
		c.lines++
		return fn(l)
	})
}

// TestFindErrorReadsEachLineOnce: ?find=error reads a log's lines once;
// searched again, a log being written is read only in its new lines, and
// a log whose error was found is not read at all.
func TestFindErrorReadsEachLineOnce(t *testing.T) {
	f := newFixture(t)
	appendLines(f.world, f.runningLog, 2, 998, -1)
	logs := &countingLogs{LogReader: legacyLogs{f.store}}
	u := newUI(t, f.store, newRecorder(), func(o *Options) { o.Logs = logs })
	const page = "/builders/windows/builds/2"
	// The page itself reads its window of the log (the tail), and so does
	// its load before a search.
	find := func(wantLoc string, wantRead int64) {
		t.Helper()
		start := logs.lines
		get(t, u, page+"?step=1&log=stdio")
		window := logs.lines - start
		start = logs.lines
		res := get(t, u, page+"?step=1&log=stdio&find=error")
		switch {
		case wantLoc == "" && !strings.Contains(res.Body.String(), "No line of this log looks like an error."):
			t.Errorf("found an error line: %d %q", res.Code, res.Header().Get("Location"))
		case wantLoc != "" && res.Header().Get("Location") != wantLoc:
			t.Errorf("find=error: %d → %q, want %q", res.Code, res.Header().Get("Location"), wantLoc)
		}
		if read := logs.lines - start - window; read != wantRead {
			t.Errorf("the search read %d lines, want %d", read, wantRead)
		}
	}
	find("", 1000)
	find("", 0)
	appendLines(f.world, f.runningLog, 1000, 100, 1050)
	find(page+"?step=1&log=stdio&from=1030&error=1050#L1051", 51)
	find(page+"?step=1&log=stdio&from=1030&error=1050#L1051", 0)
}
