package status

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// answer answers url from h, as the golden files show it: status, the
// headers that matter, and the body.
func answer(t *testing.T, h http.Handler, url string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	out := fmt.Sprintf("HTTP %d\n", rec.Code)
	for _, k := range []string{"Content-Type", "Content-Disposition", "Content-Security-Policy", "X-Content-Type-Options"} {
		if v := rec.Header().Get(k); v != "" {
			out += k + ": " + v + "\n"
		}
	}
	return out + "\n" + rec.Body.String()
}

func submit(t *testing.T, rt *service.Runtime, k proto.Message) {
	t.Helper()
	if _, err := rt.DB.Submit(messages.NewCommand(k)).Wait(); err != nil {
		t.Fatalf("%T: %v", k, err)
	}
}

// TestLogReads reads logs from their files (testdata/logs/NAME.golden): a
// log being written, one that lost lines, one whose file is damaged, and
// one whose contents a horizon removed.
func TestLogReads(t *testing.T) {
	rt := fixture(t)
	h := Handler(rt)

	// Log 4 (html, build 2 running) is being written: readers see every
	// line added so far, those still in the writer's buffer too.
	w, err := rt.Logs.Create(4, logchunk.HTML)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, line := range []string{"<p>one</p>", "<script>alert(1)</script>"} {
		if _, err := w.Append(logchunk.NoStream, []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(logchunk.NoStream, []byte("<p>buffered</p>")); err != nil {
		t.Fatal(err)
	}

	// Log 2's file holds 2 lines; the state says it had 5, of which 2…3
	// were lost when written and 4 torn off by a crash.
	submit(t, rt, &messages.SetLogLines{Logs: []*messages.LogLines{{Logid: 2, NumLines: 5,
		Lost: []*messages.LineRange{{From: 2, To: 4}, {From: 4, To: 5}}}}})

	// Log 3's file is damaged in its one chunk.
	damage(t, rt.Logs, 3)

	for _, c := range []struct{ name, url string }{
		{"writing_contents", "/api/v2/logs/4/contents"},
		{"writing_contents_from_buffer", "/api/v2/logs/4/contents?offset=2"},
		{"writing_raw_inline_html", "/api/v2/logs/4/raw_inline"},
		{"raw_inline_stdio", "/api/v2/logs/1/raw_inline"},
		{"raw_inline_deep", "/api/v2/builders/linux/builds/1/steps/git/logs/stdio/raw_inline"},
		{"contents_deep", "/api/v2/builds/1/steps/compile/logs/stdio/contents?offset=1"},
		{"lost_contents", "/api/v2/logs/2/contents"},
		{"lost_contents_range", "/api/v2/logs/2/contents?offset=1&limit=2"},
		{"lost_raw", "/api/v2/logs/2/raw"},
		{"lost_row", "/api/v2/logs/2"},
		{"damaged_contents", "/api/v2/logs/3/contents"},
		{"damaged_raw", "/api/v2/logs/3/raw"},
	} {
		t.Run(c.name, func(t *testing.T) {
			testkit.Golden(t, filepath.Join("testdata", "logs", c.name+".golden"), []byte(answer(t, h, c.url)))
		})
	}

	// Build 1 expires its logs' contents: listed with type d, no lines,
	// no files.
	submit(t, rt, &messages.Expire{LogContents: []uint64{1, 2}})
	for _, c := range []struct{ name, url string }{
		{"expired_row", "/api/v2/logs/1"},
		{"expired_contents", "/api/v2/logs/1/contents"},
		{"expired_raw", "/api/v2/logs/1/raw"},
	} {
		t.Run(c.name, func(t *testing.T) {
			testkit.Golden(t, filepath.Join("testdata", "logs", c.name+".golden"), []byte(answer(t, h, c.url)))
		})
	}
}

// damage flips a byte in the payload of the first chunk of log logid
// (its file, or its record in a segment of small logs).
func damage(t *testing.T, logs *logchunk.Store, logid uint64) {
	t.Helper()
	path, off, _, err := logs.Locate(logid)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off+logchunk.FileHeaderSize+logchunk.ChunkHeaderLen] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJSONStringIsEncodingJSON: the contents' streamed escaping is what
// encoding/json (HTML unescaped) writes, for every byte and bad UTF-8.
func TestJSONStringIsEncodingJSON(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for _, s := range []string{string(all), "caf\xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \xff\xfe <&> \"q\" \\", "\xe2\x82", "ok"} {
		want := strings.TrimSuffix(jsonEncode(t, s), "\n")
		if got := `"` + string(jsonString([]byte(s), nil)) + `"`; got != want {
			t.Errorf("jsonString(%q) = %s, want %s", s, got, want)
		}
	}
}

func jsonEncode(t *testing.T, s string) string {
	rec := httptest.NewRecorder()
	writeJSON(rec, s)
	return rec.Body.String()
}

// TestLogReadsAllocateLittle: reading a log allocates a small, fixed amount
// however long it is (issue 13.11): one chunk or two and a write buffer,
// never the log.
func TestLogReadsAllocateLittle(t *testing.T) {
	rt := fixture(t)
	h := Handler(rt)
	w, err := rt.Logs.Create(4, logchunk.HTML)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("<p>a line of html output, as a long test prints it</p>", 2))
	for range 200_000 { // 22 MB
		if _, err := w.Append(logchunk.NoStream, line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	submit(t, rt, &messages.SetLogLines{Logs: []*messages.LogLines{{Logid: 4, NumLines: 200_000}}})
	for _, url := range []string{"/api/v2/logs/4/contents", "/api/v2/logs/4/raw", "/api/v2/logs/4/contents?offset=150000&limit=50000"} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		n := serveTo(h, url)
		runtime.ReadMemStats(&after)
		if n < 20<<20 && !strings.Contains(url, "offset") {
			t.Fatalf("%s: %d bytes answered", url, n)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
			t.Errorf("%s: %d bytes allocated to answer %d bytes, want under 2 MiB", url, alloc, n)
		}
	}
}

// serveTo answers url into a writer that keeps nothing, and returns the
// bytes it answered.
func serveTo(h http.Handler, url string) int64 {
	d := &discard{header: http.Header{}}
	h.ServeHTTP(d, httptest.NewRequest(http.MethodGet, url, nil))
	return d.n
}

type discard struct {
	header http.Header
	n      int64
}

func (d *discard) Header() http.Header { return d.header }
func (d *discard) WriteHeader(int)     {}
func (d *discard) Write(b []byte) (int, error) {
	d.n += int64(len(b))
	return len(b), nil
}

var _ io.Writer = (*discard)(nil)
