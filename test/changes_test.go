package test

// End-to-end tests of changes: `buildmaster sendchange` against the real
// master, the data API that serves them (/api/v2/changes), /debug/db, their
// durability across kill -9, and --ephemeral.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// clientEnv is the environment of client processes: no admin token from the
// environment, and no pause at exit by the race detector (1 s by default).
func clientEnv() []string {
	return append(os.Environ(), "BUILDMASTER_TOKEN=", "BUILDMASTER_MASTER=", "BUILDMASTER_WWW=", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// runClient runs the binary with args (and stdin) and returns its output and
// exit code; err is set only when it could not be run at all. It is safe to
// call from any goroutine.
func runClient(ctx context.Context, stdin string, args ...string) (stdout, stderr string, code int, err error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = clientEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode(), nil
	}
	return out.String(), errb.String(), 0, err
}

// sendchangeArgs is `sendchange --master … --data …` for m, then args.
func (m *master) sendchangeArgs(args ...string) []string {
	return append([]string{"sendchange", "--master", m.remote, "--data", filepath.Join(m.dir, "data")}, args...)
}

// sendchange runs `buildmaster sendchange args…` against m, with stdin.
func (m *master) sendchange(stdin string, args ...string) (stdout, stderr string, code int) {
	m.t.Helper()
	out, errOut, code, err := runClient(context.Background(), stdin, m.sendchangeArgs(args...)...)
	if err != nil {
		m.t.Fatal(err)
	}
	return out, errOut, code
}

// mustSendchange runs sendchange and returns the change id it printed.
func (m *master) mustSendchange(stdin string, args ...string) uint64 {
	m.t.Helper()
	out, errOut, code := m.sendchange(stdin, args...)
	id, ok := parseChangeLine(out)
	if code != 0 || !ok || errOut != "" {
		m.t.Fatalf("sendchange %q: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return id
}

var changeLine = regexp.MustCompile(`^change ([1-9][0-9]*)\n$`)

// parseChangeLine reads sendchange's whole stdout, "change N\n".
func parseChangeLine(out string) (uint64, bool) {
	sm := changeLine.FindStringSubmatch(out)
	if sm == nil {
		return 0, false
	}
	id, err := strconv.ParseUint(sm[1], 10, 64)
	return id, err == nil
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// wwwGet GETs path from the www listener and returns the status and body,
// which must be JSON.
func (m *master) wwwGet(path string) (int, []byte) {
	m.t.Helper()
	code, body, ct := m.wwwGetAny(path)
	if ct != "application/json" {
		m.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	return code, body
}

// wwwGetAny GETs path from the www listener and returns the status, body
// and content type.
func (m *master) wwwGetAny(path string) (int, []byte, string) {
	m.t.Helper()
	resp, err := httpClient.Get("http://" + m.www + path)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		m.t.Fatal(err)
	}
	return resp.StatusCode, b.Bytes(), resp.Header.Get("Content-Type")
}

// apiPage is Buildbot's envelope, rows kept as generic JSON objects so that
// a test sees every key the API sends.
type apiPage struct {
	Changes []map[string]any `json:"changes"`
	Meta    struct {
		Total int `json:"total"`
	} `json:"meta"`
}

// changes GETs path (under /api/v2/changes) and decodes the envelope,
// failing unless the status is 200 and the body has exactly the envelope's
// keys.
func (m *master) changes(path string) apiPage {
	m.t.Helper()
	code, body := m.wwwGet(path)
	if code != http.StatusOK {
		m.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || len(raw) != 2 || raw["changes"] == nil || raw["meta"] == nil {
		m.t.Fatalf("GET %s: not the envelope {changes, meta} (%v): %s", path, err, body)
	}
	var p apiPage
	if err := json.Unmarshal(body, &p); err != nil {
		m.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return p
}

// apiError GETs path and checks it is answered code with {"error": "…"}
// containing want.
func (m *master) apiError(path string, code int, want string) {
	m.t.Helper()
	got, body := m.wwwGet(path)
	var e map[string]string
	if err := json.Unmarshal(body, &e); err != nil || got != code || len(e) != 1 || !strings.Contains(e["error"], want) {
		m.t.Fatalf("GET %s: %d %s; want %d with an error containing %q", path, got, body, code, want)
	}
}

// dbStats is GET /debug/db.
type dbStats struct {
	Durable   bool           `json:"durable"`
	Dir       string         `json:"dir"`
	Rows      map[string]int `json:"rows"`
	LastIndex uint64         `json:"raft_last_index"`
}

func (m *master) db() dbStats {
	m.t.Helper()
	var s dbStats
	if code := m.getJSON("/debug/db", &s); code != http.StatusOK {
		m.t.Fatalf("/debug/db: %d", code)
	}
	if s.Rows == nil {
		m.t.Fatalf("/debug/db has no rows")
	}
	return s
}

func ids(p apiPage) []uint64 {
	var out []uint64
	for _, c := range p.Changes {
		f, _ := c["changeid"].(float64)
		out = append(out, uint64(f))
	}
	return out
}

// jsonObject parses a JSON object literal for comparison with decoded rows.
func jsonObject(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expectation %s: %v", s, err)
	}
	return v
}

func diffRow(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}

func TestSendchangeAndDataAPI(t *testing.T) {
	t.Parallel()
	m := startMaster(t, "")
	if rows := m.db().Rows["changes"]; rows != 0 {
		t.Fatalf("a new master has %d changes", rows)
	}
	const (
		rev1     = "0123456789abcdef0123456789abcdef01234567"
		comments = "Fix the frobnicator\n\nIt was \"broken\" \\ really — ✓\ttabbed, <b>&amp;</b> 🚀"
	)

	// 1: every flag that sets a field, long and short forms, files both ways.
	id := m.mustSendchange("",
		"--who", "Alice Example <alice@example.com>",
		"--repository", "https://git.example.com/app.git",
		"-b", "main",
		"--revision", rev1,
		"--project", "app",
		"--category", "feature",
		"--comments", comments,
		"--codebase", "appcode",
		"--revlink", "https://git.example.com/app/commit/"+rev1,
		"--when", "1700000123",
		"--property", "reviewed:yes",
		"-p", "ticket:APP-7: urgent, with:colons ✓",
		"--file", "src/a.go",
		"--file", "docs/with space.md",
		"x/y.c", "unicode/ファイル.txt",
	)
	if id != 1 {
		t.Fatalf("first change got id %d", id)
	}
	want1 := jsonObject(t, `{
		"changeid": 1,
		"author": "Alice Example <alice@example.com>",
		"committer": "",
		"comments": "Fix the frobnicator\n\nIt was \"broken\" \\ really — ✓\ttabbed, <b>&amp;</b> 🚀",
		"branch": "main",
		"revision": "0123456789abcdef0123456789abcdef01234567",
		"revlink": "https://git.example.com/app/commit/0123456789abcdef0123456789abcdef01234567",
		"when_timestamp": 1700000123,
		"category": "feature",
		"repository": "https://git.example.com/app.git",
		"codebase": "appcode",
		"project": "app",
		"sourcestampid": 1,
		"parent_changeids": [],
		"files": ["src/a.go", "docs/with space.md", "x/y.c", "unicode/ファイル.txt"],
		"properties": {"reviewed": ["yes", "Change"], "ticket": ["APP-7: urgent, with:colons ✓", "Change"]}
	}`)

	// 2: the revision from --revision_file, the comments from --logfile -
	// (stdin), and no --when: the master's clock.
	dir := t.TempDir()
	revFile := filepath.Join(dir, "rev")
	if err := os.WriteFile(revFile, []byte("  feedface\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logText := "line one\nline two: \"quoted\"\n\n  indented\n"
	before := time.Now().Unix()
	if id := m.mustSendchange(logText, "-W", "bob", "--branch", "release/1.x", "--revision_file", revFile, "--logfile", "-"); id != 2 {
		t.Fatalf("second change got id %d", id)
	}
	after := time.Now().Unix()

	// 3: the same line of development and source stamp as 1; its comments
	// from --logfile FILE.
	logFile := filepath.Join(dir, "log")
	if err := os.WriteFile(logFile, []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if id := m.mustSendchange("", "--who", "carol", "--branch", "main", "--repository", "https://git.example.com/app.git",
		"--project", "app", "--codebase", "appcode", "--revision", rev1, "--when", "1700000999", "-F", logFile); id != 3 {
		t.Fatalf("third change got id %d", id)
	}

	all := m.changes("/api/v2/changes")
	if all.Meta.Total != 3 || !slices.Equal(ids(all), []uint64{1, 2, 3}) {
		t.Fatalf("changes: total %d, ids %v", all.Meta.Total, ids(all))
	}
	diffRow(t, "change 1 in the collection", all.Changes[0], want1)

	c2 := all.Changes[1]
	when, _ := c2["when_timestamp"].(float64)
	if int64(when) < before || int64(when) > after {
		t.Fatalf("change 2's when_timestamp %v not between %d and %d", c2["when_timestamp"], before, after)
	}
	want2 := jsonObject(t, fmt.Sprintf(`{"changeid": 2, "author": "bob", "committer": "", "comments": %q,
		"branch": "release/1.x", "revision": "feedface", "revlink": "", "when_timestamp": %d, "category": "",
		"repository": "", "codebase": "", "project": "", "sourcestampid": 2, "parent_changeids": [],
		"files": [], "properties": {}}`, logText, int64(when)))
	diffRow(t, "change 2", c2, want2)

	c3 := all.Changes[2]
	if c3["author"] != "carol" || c3["comments"] != "from a file" || c3["sourcestampid"] != 1.0 ||
		!reflect.DeepEqual(c3["parent_changeids"], []any{1.0}) || c3["when_timestamp"] != 1700000999.0 {
		t.Fatalf("change 3 (same source stamp as 1, child of 1): %v", c3)
	}

	one := m.changes("/api/v2/changes/1")
	if one.Meta.Total != 1 || len(one.Changes) != 1 {
		t.Fatalf("/changes/1: %+v", one)
	}
	diffRow(t, "/api/v2/changes/1", one.Changes[0], want1)

	// Filters, order, pagination, field selection.
	if p := m.changes("/api/v2/changes?branch=main"); p.Meta.Total != 2 || !slices.Equal(ids(p), []uint64{1, 3}) {
		t.Fatalf("?branch=main: total %d ids %v", p.Meta.Total, ids(p))
	}
	if p := m.changes("/api/v2/changes?branch__ne=main&author=bob"); p.Meta.Total != 1 || !slices.Equal(ids(p), []uint64{2}) {
		t.Fatalf("?branch__ne=main&author=bob: total %d ids %v", p.Meta.Total, ids(p))
	}
	if p := m.changes("/api/v2/changes?comments__contains=frobnicator"); !slices.Equal(ids(p), []uint64{1}) {
		t.Fatalf("?comments__contains: ids %v", ids(p))
	}
	if p := m.changes("/api/v2/changes?order=-changeid"); p.Meta.Total != 3 || !slices.Equal(ids(p), []uint64{3, 2, 1}) {
		t.Fatalf("?order=-changeid: total %d ids %v", p.Meta.Total, ids(p))
	}
	if p := m.changes("/api/v2/changes?order=-when_timestamp&limit=2"); !slices.Equal(ids(p), []uint64{2, 3}) {
		t.Fatalf("?order=-when_timestamp&limit=2: ids %v", ids(p))
	}
	if p := m.changes("/api/v2/changes?order=-changeid&limit=1&offset=1"); p.Meta.Total != 3 || !slices.Equal(ids(p), []uint64{2}) {
		t.Fatalf("?order=-changeid&limit=1&offset=1: total %d ids %v", p.Meta.Total, ids(p))
	}
	if p := m.changes("/api/v2/changes?limit=2&offset=2"); p.Meta.Total != 3 || !slices.Equal(ids(p), []uint64{3}) {
		t.Fatalf("?limit=2&offset=2: total %d ids %v", p.Meta.Total, ids(p))
	}
	if p := m.changes("/api/v2/changes?offset=5"); p.Meta.Total != 3 || len(p.Changes) != 0 {
		t.Fatalf("?offset=5: %+v", p)
	}
	p := m.changes("/api/v2/changes?field=changeid&field=author&field=properties&order=changeid")
	if len(p.Changes) != 3 {
		t.Fatalf("field selection: %+v", p)
	}
	diffRow(t, "field selection", p.Changes[0], jsonObject(t,
		`{"changeid": 1, "author": "Alice Example <alice@example.com>", "properties": {"reviewed": ["yes", "Change"], "ticket": ["APP-7: urgent, with:colons ✓", "Change"]}}`))
	one = m.changes("/api/v2/changes/2?field=revision")
	diffRow(t, "/changes/2?field=revision", one.Changes[0], map[string]any{"revision": "feedface"})

	// Errors: 404 for what is not there, 400 for a bad query.
	m.apiError("/api/v2/changes/999", http.StatusNotFound, "no changes with id 999")
	m.apiError("/api/v2/changes/abc", http.StatusNotFound, "Invalid path")
	m.apiError("/api/v2/nope", http.StatusNotFound, "Invalid path: /api/v2/nope")
	m.apiError("/api/v2/changes?limit=abc", http.StatusBadRequest, `limit="abc"`)
	m.apiError("/api/v2/changes?limit=10001", http.StatusBadRequest, "limit=10001: at most 10000")
	m.apiError("/api/v2/changes?nosuchfield=1", http.StatusBadRequest, `no field "nosuchfield"`)
	m.apiError("/api/v2/changes?changeid__like=1", http.StatusBadRequest, `unknown operator "like"`)
	m.apiError("/api/v2/changes?field=bogus", http.StatusBadRequest, `field="bogus"`)
	m.apiError("/api/v2/changes?changeid=x", http.StatusBadRequest, `changeid="x"`)
	m.apiError("/api/v2/changes?order=files", http.StatusBadRequest, `not a simple field`)

	st := m.db()
	if !st.Durable || st.Rows["changes"] != 3 || st.Rows["sourcestamps"] != 2 || st.LastIndex == 0 ||
		st.Dir != filepath.Join(m.dir, "data", "state") {
		t.Fatalf("/debug/db = %+v", st)
	}
}

// sent is what one sendchange client process sent.
type sent struct {
	author, comments, revision, branch string
	when                               int64
	files                              []string
	props                              map[string]string
}

func (s *sent) args() []string {
	a := []string{"--who", s.author, "--comments", s.comments, "--revision", s.revision, "--branch", s.branch,
		"--when", strconv.FormatInt(s.when, 10), "--timeout", "4s", "--file", s.files[0]}
	names := make([]string, 0, len(s.props))
	for k := range s.props {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		a = append(a, "--property", k+":"+s.props[k])
	}
	return append(a, s.files[1:]...)
}

// crashRow is a row of /api/v2/changes, decoded strictly.
type crashRow struct {
	Changeid        uint64              `json:"changeid"`
	Author          string              `json:"author"`
	Committer       string              `json:"committer"`
	Comments        string              `json:"comments"`
	Branch          string              `json:"branch"`
	Revision        string              `json:"revision"`
	Revlink         string              `json:"revlink"`
	WhenTimestamp   int64               `json:"when_timestamp"`
	Category        string              `json:"category"`
	Repository      string              `json:"repository"`
	Codebase        string              `json:"codebase"`
	Project         string              `json:"project"`
	Sourcestampid   uint64              `json:"sourcestampid"`
	ParentChangeids []uint64            `json:"parent_changeids"`
	Files           []string            `json:"files"`
	Properties      map[string][]string `json:"properties"`
}

// allChanges reads every change through the data API, a page at a time.
func (m *master) allChanges(pageSize int) []crashRow {
	m.t.Helper()
	var rows []crashRow
	total := -1
	for offset := 0; ; offset += pageSize {
		path := fmt.Sprintf("/api/v2/changes?order=changeid&limit=%d&offset=%d", pageSize, offset)
		code, body := m.wwwGet(path)
		if code != http.StatusOK {
			m.t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var page struct {
			Changes []crashRow `json:"changes"`
			Meta    struct {
				Total int `json:"total"`
			} `json:"meta"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&page); err != nil {
			m.t.Fatalf("GET %s: %v", path, err)
		}
		if total >= 0 && page.Meta.Total != total {
			m.t.Fatalf("total changed between pages: %d then %d", total, page.Meta.Total)
		}
		total = page.Meta.Total
		rows = append(rows, page.Changes...)
		if len(page.Changes) < pageSize {
			break
		}
	}
	if len(rows) != total {
		m.t.Fatalf("read %d changes over the pages, meta.total says %d", len(rows), total)
	}
	return rows
}

// TestSendchangeCrash: many concurrent sendchange clients, the master killed
// with SIGKILL at random moments over several rounds on one data dir; every
// change whose id was printed is there afterwards, exactly as sent, and no
// change is there that no client sent.
func TestSendchangeCrash(t *testing.T) {
	const (
		rounds  = 4
		workers = 16
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	m := newMaster(t, "")
	var (
		mu       sync.Mutex
		attempts = map[string]*sent{}  // by revision, which is unique per attempt
		acked    = map[uint64]string{} // change id → revision of the attempt it acknowledged
		failures = map[string]int{}    // stderr → count, of attempts that printed no id
	)
	// check verifies the master's changes against what was sent and acked.
	check := func(when string) int {
		rows := m.allChanges(37) // several pages
		mu.Lock()
		defer mu.Unlock()
		byID := map[uint64]*crashRow{}
		byRev := map[string]uint64{}
		for i := range rows {
			r := &rows[i]
			if byID[r.Changeid] != nil {
				t.Fatalf("%s: change id %d twice", when, r.Changeid)
			}
			byID[r.Changeid] = r
			if r.Changeid != uint64(i+1) {
				t.Errorf("%s: ids are not 1..N: row %d has id %d", when, i, r.Changeid)
			}
			s := attempts[r.Revision]
			if s == nil {
				t.Fatalf("%s: change %d was never sent by any client: %+v", when, r.Changeid, *r)
			}
			if prev, dup := byRev[r.Revision]; dup {
				t.Fatalf("%s: one sendchange is there twice, as changes %d and %d", when, prev, r.Changeid)
			}
			byRev[r.Revision] = r.Changeid
			wantProps := map[string][]string{}
			for k, v := range s.props {
				wantProps[k] = []string{v, "Change"}
			}
			if r.Author != s.author || r.Comments != s.comments || r.Branch != s.branch || r.WhenTimestamp != s.when ||
				!slices.Equal(r.Files, s.files) || !reflect.DeepEqual(r.Properties, wantProps) ||
				r.Committer != "" || r.Revlink != "" || r.Category != "" || r.Repository != "" || r.Codebase != "" || r.Project != "" {
				t.Fatalf("%s: change %d is not what was sent:\ngot  %+v\nsent %+v", when, r.Changeid, *r, *s)
			}
		}
		// Derived fields: each change has its own source stamp (revisions
		// are unique), and its parent is the latest earlier change of its
		// branch, across restarts too.
		lastOnBranch := map[string]uint64{}
		ssids := map[uint64]bool{}
		for _, r := range rows {
			var want []uint64
			if p, ok := lastOnBranch[r.Branch]; ok {
				want = []uint64{p}
			}
			if !slices.Equal(r.ParentChangeids, want) && !(len(want) == 0 && len(r.ParentChangeids) == 0) {
				t.Fatalf("%s: change %d on %s has parents %v, want %v", when, r.Changeid, r.Branch, r.ParentChangeids, want)
			}
			lastOnBranch[r.Branch] = r.Changeid
			if r.Sourcestampid == 0 || ssids[r.Sourcestampid] {
				t.Fatalf("%s: change %d has source stamp %d, zero or shared", when, r.Changeid, r.Sourcestampid)
			}
			ssids[r.Sourcestampid] = true
		}
		for id, rev := range acked {
			r := byID[id]
			if r == nil {
				t.Fatalf("%s: change %d was acknowledged (revision %s) but is gone; %d changes there", when, id, rev, len(rows))
			}
			if r.Revision != rev {
				t.Fatalf("%s: change %d was acknowledged for revision %s, but holds revision %s", when, id, rev, r.Revision)
			}
		}
		if st := m.db(); st.Rows["changes"] != len(rows) || st.Rows["sourcestamps"] != len(rows) || !st.Durable {
			t.Fatalf("%s: /debug/db = %+v, the data API has %d changes", when, st, len(rows))
		}
		return len(rows)
	}

	var seq atomic.Int64
	// oneRound starts the master, runs the clients until it is killed at a
	// random moment, and waits for every client to finish.
	oneRound := func(round int) {
		m.start(binary)
		if round > 0 {
			t.Logf("round %d: restarted with %d changes", round, check(fmt.Sprintf("after restart %d", round)))
		}
		stop := make(chan struct{})
		ackedThisRound := make(chan struct{}, 1<<16)
		var wg sync.WaitGroup
		stopClients := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer stopClients()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := seq.Add(1)
					s := &sent{
						author:   fmt.Sprintf("worker %02d <w%02d@example.com>", w, w),
						comments: fmt.Sprintf("round %d worker %d try %d\n\"quoted\" \\ ✓ 🚀\ttab\n%s", round, w, i, strings.Repeat("x", int(n%97))),
						revision: fmt.Sprintf("r%d-w%02d-i%04d-n%06d", round, w, i, n),
						branch:   fmt.Sprintf("branch-%d", w%3),
						when:     1700000000 + n,
						files:    []string{fmt.Sprintf("src/w%d/f%d.go", w, i), "README.md", fmt.Sprintf("dir with space/%d ✓.txt", n)},
						props:    map[string]string{"worker": strconv.Itoa(w), "attempt": fmt.Sprintf("%d/%d/%d", round, w, i)},
					}
					mu.Lock()
					attempts[s.revision] = s
					mu.Unlock()
					out, errOut, code, err := runClient(context.Background(), "", m.sendchangeArgs(s.args()...)...)
					if err != nil {
						t.Errorf("worker %d: %v", w, err)
						return
					}
					id, ok := parseChangeLine(out)
					mu.Lock()
					switch {
					case code == 0 && ok && errOut == "":
						if prev, dup := acked[id]; dup {
							t.Errorf("change id %d printed twice: for %s and %s", id, prev, s.revision)
						}
						acked[id] = s.revision
					case code == 2 && out == "":
						// The master was unreachable, died, or did not answer in time.
						failures[strings.TrimSpace(errOut)]++
					default:
						t.Errorf("worker %d: sendchange exit %d\nstdout: %q\nstderr: %s", w, code, out, errOut)
					}
					mu.Unlock()
					if code == 0 && ok {
						ackedThisRound <- struct{}{}
					}
				}
			}()
		}
		// Kill at a random moment once some changes were acknowledged. Each
		// acknowledgement is waited for on its own: under load they come
		// slowly, but a master that acknowledges none while clients keep
		// sending has stopped taking changes.
		want := 5 + rng.IntN(30)
		for got := 0; got < want; got++ {
			select {
			case <-ackedThisRound:
			case err := <-m.exited:
				t.Fatalf("round %d: the master exited by itself (%v); stderr:\n%s", round, err, tail(m.stderr.snapshot(), 40))
			case <-time.After(testkit.DefaultTimeout):
				mu.Lock()
				failed := fmt.Sprint(failures)
				mu.Unlock()
				t.Fatalf("round %d: %d of %d changes acknowledged, then none for %s; failed attempts: %s", round, got, want, testkit.DefaultTimeout, failed)
			}
		}
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		time.Sleep(delay) // the random moment, with clients in flight
		m.signal(syscall.SIGKILL)
		if code := m.wait(); code != -1 {
			t.Fatalf("round %d: master exit code %d after SIGKILL", round, code)
		}
		stopClients()
		mu.Lock()
		t.Logf("round %d: killed %s after ack #%d; so far %d attempts, %d acked", round, delay, want, len(attempts), len(acked))
		mu.Unlock()
		for _, l := range m.stderr.snapshot() {
			if strings.Contains(l, "panic") || strings.Contains(l, "DATA RACE") {
				t.Fatalf("round %d: the master logged: %s", round, l)
			}
		}
	}
	for round := range rounds {
		oneRound(round)
		if t.Failed() {
			return
		}
	}
	m.start(binary)
	n := check("at the end")
	mu.Lock()
	t.Logf("%d attempts, %d acknowledged, %d changes stored (%d unacknowledged but committed); failed attempts: %v",
		len(attempts), len(acked), n, n-len(acked), failures)
	if len(acked) < rounds*5 {
		t.Fatalf("only %d changes acknowledged", len(acked))
	}
	mu.Unlock()
	// The master still takes changes, numbered after the last.
	if id := m.mustSendchange("", "--who", "after the crashes"); id != uint64(n+1) {
		t.Fatalf("a change after the crashes got id %d, want %d", id, n+1)
	}
}

func TestSendchangeBadInput(t *testing.T) {
	t.Parallel()
	m := startMaster(t, "")
	m.mustSendchange("", "--who", "first")
	base := m.db()
	unchanged := func(what string) {
		t.Helper()
		st := m.db()
		if st.Rows["changes"] != base.Rows["changes"] || st.Rows["sourcestamps"] != base.Rows["sourcestamps"] {
			t.Fatalf("%s wrote rows: %v, before %v", what, st.Rows, base.Rows)
		}
		if p := m.changes("/api/v2/changes"); p.Meta.Total != 1 {
			t.Fatalf("%s: %d changes", what, p.Meta.Total)
		}
	}
	refused := func(what string, wantCode int, wantErr []string, args ...string) {
		t.Helper()
		out, errOut, code := m.sendchange("", args...)
		if code != wantCode || out != "" {
			t.Fatalf("%s: exit %d (want %d)\nstdout: %s\nstderr: %s", what, code, wantCode, out, errOut)
		}
		for _, w := range wantErr {
			if !strings.Contains(errOut, w) {
				t.Fatalf("%s: stderr does not say %q:\n%s", what, w, errOut)
			}
		}
		unchanged(what)
	}

	// The client checks what the master would refuse before sending (the
	// master's own refusals are tested in actors/changes).
	refused("70000 bytes of comments", 1, []string{"the master would refuse this change", "change.comments is 70000 bytes, limit 65536"},
		"--who", "big", "--comments", strings.Repeat("c", 70000))
	// One byte under the limit goes through, so the limit is where it says.
	if id := m.mustSendchange("", "--who", "at the limit", "--comments", strings.Repeat("c", 64<<10)); id != 2 {
		t.Fatalf("64 KiB of comments: change %d", id)
	}
	base = m.db()
	unchanged = func(what string) {
		t.Helper()
		if st := m.db(); !reflect.DeepEqual(st.Rows, base.Rows) {
			t.Fatalf("%s wrote rows: %v, before %v", what, st.Rows, base.Rows)
		}
	}
	refused("a 5000-byte author", 1, []string{"change.author is 5000 bytes, limit 4096"}, "--who", strings.Repeat("a", 5000))
	refused("a 70000-byte property", 1, []string{`change.properties[0] ("p").value_json is 70002 bytes, limit 65536`},
		"--who", "x", "--property", "p:"+strings.Repeat("v", 70000))
	refused("the same property twice", 1, []string{`property "p" given twice`}, "--who", "x", "-p", "p:1", "-p", "p:2")
	files := make([]string, 10001)
	for i := range files {
		files[i] = "f" + strconv.Itoa(i)
	}
	refused("10001 files", 1, []string{"change.files has 10001 files, limit 10000"}, append([]string{"--who", "x"}, files...)...)
	refused("no --who", 1, []string{"--who is required"}, "--branch", "main")
	refused("--property without a colon", 1, []string{`--property "nocolon": want NAME:VALUE`}, "--who", "x", "--property", "nocolon")
	refused("--property with no name", 1, []string{`--property ":v": want NAME:VALUE`}, "--who", "x", "--property", ":v")
	refused("--when garbage", 1, []string{`--when "yesterday"`}, "--who", "x", "--when", "yesterday")
	refused("--when negative", 1, []string{`--when "-5"`}, "--who", "x", "--when", "-5")
	refused("--logfile missing", 1, []string{"--logfile"}, "--who", "x", "--logfile", filepath.Join(t.TempDir(), "nope"))
	refused("a wrong token", 2, []string{"the master refused the request: admin token missing or wrong"}, "--who", "x", "--token", "wrong")
	refused("invalid UTF-8", 1, []string{"sendchange: the comments (--comments, --logfile) is not valid UTF-8"}, "--who", "x", "--comments", "bad \xff byte", "--timeout", "10s")
	refused("an invalid UTF-8 file name", 1, []string{`file "f\xfe" is not valid UTF-8`}, "--who", "x", "f\xfe", "--timeout", "10s")

	// Client-side refusals never reach the master: the same with no master.
	dead := testkit.RefusingAddr(t)
	for _, args := range [][]string{{"--branch", "main"}, {"--who", "x", "-p", "nocolon"}, {"--who", "x", "--when", "soon"}, {"--who", "x", "--comments", "\xff"}} {
		out, errOut, code, err := runClient(context.Background(), "", append([]string{"sendchange", "--master", dead, "--token", "t"}, args...)...)
		if err != nil || code != 1 || out != "" || !strings.HasPrefix(errOut, "buildmaster: sendchange: ") {
			t.Fatalf("%v with no master: exit %d, %v\n%s%s", args, code, err, out, errOut)
		}
	}
	// No master at all is exit 2.
	if out, errOut, code, err := runClient(context.Background(), "", "sendchange", "--master", dead, "--token", "t", "--who", "x"); err != nil || code != 2 || !strings.Contains(errOut, "cannot reach the master") {
		t.Fatalf("no master: exit %d, %v\n%s%s", code, err, out, errOut)
	}

	t.Run("larger than a remote message", func(t *testing.T) { oversizedMessage(t, m, unchanged) })

	m.assertAlive()
	if id := m.mustSendchange("", "--who", "still fine"); id != 3 {
		t.Fatalf("after the refusals: change %d", id)
	}
}

// oversizedMessage sends a change that passes every per-field limit (1,200
// files of 1,000 bytes) but is larger, encoded, than a whole change may be
// (1 MiB, well under the control endpoint's 16 MiB per request): it is refused
// at once, naming the size, and nothing is written.
func oversizedMessage(t *testing.T, m *master, unchanged func(string)) {
	args := []string{"--who", "huge", "--timeout", "5s"}
	for i := range 1200 {
		name := fmt.Sprintf("dir/%05d-", i)
		args = append(args, name+strings.Repeat("f", 1000-len(name)))
	}
	out, errOut, code := m.sendchange("", args...)
	if code != 1 || strings.TrimSpace(out) != "" || !strings.Contains(errOut, "larger than the limit of 1048576") {
		t.Fatalf("a 1.2 MB change: exit %d\nstdout: %q\nstderr: %s", code, out, errOut)
	}
	unchanged("a 1.2 MB change")
	m.assertAlive()
}

func TestEphemeral(t *testing.T) {
	t.Parallel()
	m := newMaster(t, "")
	stateDir := filepath.Join(m.dir, "data", "state")
	m.start(binary, "--ephemeral")
	if st := m.db(); st.Durable || st.Rows["changes"] != 0 {
		t.Fatalf("/debug/db of an ephemeral master = %+v", st)
	}
	for i := 1; i <= 3; i++ {
		if id := m.mustSendchange("", "--who", "eph", "--branch", "main", "--revision", strconv.Itoa(i)); id != uint64(i) {
			t.Fatalf("change %d got id %d", i, id)
		}
	}
	if p := m.changes("/api/v2/changes?branch=main"); p.Meta.Total != 3 || p.Changes[2]["revision"] != "3" {
		t.Fatalf("ephemeral changes: %+v", p)
	}
	if st := m.db(); st.Durable || st.Rows["changes"] != 3 {
		t.Fatalf("/debug/db = %+v", st)
	}
	noState := func(when string) {
		t.Helper()
		if _, err := os.Stat(stateDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: %s exists (%v)", when, stateDir, err)
		}
	}
	noState("while running")

	// A clean stop, then an ephemeral start on the same data dir: empty.
	m.signal(syscall.SIGTERM)
	if code := m.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	noState("after a clean stop")
	m.start(binary, "--ephemeral")
	if p := m.changes("/api/v2/changes"); p.Meta.Total != 0 || len(p.Changes) != 0 {
		t.Fatalf("changes after an ephemeral restart: %+v", p)
	}
	if id := m.mustSendchange("", "--who", "again"); id != 1 {
		t.Fatalf("first change after an ephemeral restart: %d", id)
	}

	// kill -9 then a durable start on the same dir: nothing came from the
	// ephemeral runs, and now there is state.
	m.signal(syscall.SIGKILL)
	m.wait()
	noState("after kill -9")
	m.start(binary)
	if st := m.db(); !st.Durable || st.Rows["changes"] != 0 {
		t.Fatalf("/debug/db of a durable start after ephemeral runs = %+v", st)
	}
	if p := m.changes("/api/v2/changes"); p.Meta.Total != 0 {
		t.Fatalf("changes after ephemeral runs: %+v", p)
	}
	if fi, err := os.Stat(stateDir); err != nil || !fi.IsDir() {
		t.Fatalf("a durable master made no %s: %v", stateDir, err)
	}
}

// TestClientNoticesALostMaster: a client whose master dies before replying
// says so as soon as the connection breaks, instead of waiting out its
// --timeout and blaming the connection back.
func TestClientNoticesALostMaster(t *testing.T) {
	t.Parallel()
	m := startMaster(t, "")
	m.signal(syscall.SIGSTOP) // accepts connections (the kernel does), answers nothing
	type result struct {
		stderr string
		code   int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		_, errOut, code, err := runClient(context.Background(), "", m.sendchangeArgs("--who", "x", "--timeout", "10m")...)
		done <- result{errOut, code, err}
	}()
	// Give the client its connection before the master dies: wait for the
	// master's remote port to have an established connection from it.
	waitEstablished(t, m.remote)
	m.signal(syscall.SIGKILL)
	// The wait is far below the client's 10m timeout.
	r := testkit.Recv(t, "the client's exit once its master died", done, testkit.Within(2*time.Minute))
	if r.err != nil || r.code != 2 || !strings.Contains(r.stderr, "lost the connection to the master") ||
		!strings.Contains(r.stderr, "may or may not have been carried out") {
		t.Fatalf("exit %d, %v, stderr:\n%s", r.code, r.err, r.stderr)
	}
}

// waitEstablished waits until a TCP connection to addr is established (read
// from /proc/net/tcp).
func waitEstablished(t *testing.T, addr string) {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.Atoi(port)
	testkit.Eventually(t, "a connection to "+addr+" established", func() bool {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Skipf("no /proc/net/tcp: %v", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", p)) && f[3] == "01" {
				return true
			}
		}
		return false
	})
}
