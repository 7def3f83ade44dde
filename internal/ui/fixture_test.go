package ui

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// t0 is the fixtures' "now": 2024-01-01 12:00:00 UTC.
var t0 = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return t0.Add(d).Unix() }

// world is a real ephemeral state.Store filled through state commands, as
// the db service fills it.
type world struct {
	t     testing.TB
	store *state.Store
}

func newWorld(t testing.TB) *world {
	s := state.OpenEphemeral()
	t.Cleanup(func() { s.Close() })
	return &world{t: t, store: s}
}

func (w *world) do(cmd *messages.Command) *messages.CommandResult {
	w.t.Helper()
	res, err := w.store.Submit(cmd).Wait()
	if err != nil {
		w.t.Fatalf("%v: %v", cmd, err)
	}
	return res
}

func prop(name, value, source string) *messages.Property {
	return &messages.Property{Name: name, ValueJson: fmt.Sprintf("%q", value), Source: source}
}

// fixture is a small master: three builders (linux failing, windows with a
// build running, docs never built, a request queued), two workers, four
// changes, two schedulers.
type fixture struct {
	*world
	linux, windows, docs uint64
	w1, w2               uint64
	running              uint64 // windows #2
	runningStep          uint64
	runningLog           uint64
	failedLog            uint64 // linux #2's test log
	queued               uint64 // the docs request
	mainSS               uint64
}

func newFixture(t testing.TB) *fixture {
	w := newWorld(t)
	f := &fixture{world: w}
	w.do(&messages.Command{Kind: &messages.Command_MasterStarted{MasterStarted: &messages.MasterStarted{Name: "master-1", Time: at(-3 * time.Hour)}}})
	w.do(&messages.Command{Kind: &messages.Command_ConfigureMaster{ConfigureMaster: &messages.ConfigureMaster{Masterid: 1, Schedulers: []string{"force", "on-main"}}}})
	builder := func(name string, tags ...string) uint64 {
		return w.do(&messages.Command{Kind: &messages.Command_FindOrAddBuilder{FindOrAddBuilder: &messages.FindOrAddBuilder{Name: name, Tags: tags, Description: "builds " + name}}}).Id
	}
	f.docs = builder("docs", "docs")
	f.linux = builder("linux", "linux", "unit")
	f.windows = builder("windows", "windows", "unit")
	worker := func(name, info string) uint64 {
		id := w.do(&messages.Command{Kind: &messages.Command_FindOrAddWorker{FindOrAddWorker: &messages.FindOrAddWorker{Name: name}}}).Id
		w.do(&messages.Command{Kind: &messages.Command_WorkerConnected{WorkerConnected: &messages.WorkerConnected{Workerid: id, Masterid: 1, InfoJson: info}}})
		return id
	}
	f.w1 = worker("w1", `{"admin":"ops <ops@example.com>","host":"build-01","version":"3.7.0"}`)
	f.w2 = worker("w2", `{"host":"build-02","version":"3.7.0"}`)
	w.do(&messages.Command{Kind: &messages.Command_WorkerDisconnected{WorkerDisconnected: &messages.WorkerDisconnected{Workerid: f.w2, Masterid: 1}}})

	change := func(rev, branch, author, comments string, when time.Duration) *messages.CommandResult {
		return w.do(&messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: &messages.Change{
			Author: author, Comments: comments, Branch: branch, Revision: rev, WhenTimestamp: at(when),
			Repository: "https://example.com/repo.git", Project: "demo", Files: []string{"main.go"},
			Revlink: "https://example.com/repo/commit/" + rev,
		}}}})
	}
	c1 := change("1111111111aaaa", "main", "Ada <ada@example.com>", "Add the parser\n\nLong text.", -2*time.Hour)
	c2 := change("2222222222bbbb", "main", "Bob <bob@example.com>", "Fix <the> lexer & tests", -90*time.Minute)
	c3 := change("3333333333cccc", "feature", "Cy <cy@example.com>", "Try a feature", -80*time.Minute)
	c4 := change("4444444444dddd", "main", "Dee <dee@example.com>", "Document it", -10*time.Minute)
	f.mainSS = c2.Sourcestampid

	buildset := func(ssid uint64, reason string, when time.Duration, builders ...uint64) []uint64 {
		return w.do(&messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
			Reason: reason, SubmittedAt: at(when), SourcestampIds: []uint64{ssid}, Builderids: builders,
			Properties: []*messages.Property{prop("owner", "ada", "Force Build Form")},
		}}}).Ids
	}
	// build runs a build of builder for request brid from start; steps
	// are (name, log content) pairs; end 0 leaves it running.
	build := func(builder, brid, worker uint64, start, end time.Duration, results int32, steps ...[2]string) (*messages.CommandResult, []uint64) {
		res := w.do(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
			Builderid: builder, Buildrequestid: brid, Workerid: worker, Masterid: 1, StartedAt: at(start),
			StateString: "building", ClaimBrids: []uint64{brid},
			Properties: []*messages.Property{prop("branch", "main", "Build"), prop("workername", "w1", "Worker")},
		}}})
		var logs []uint64
		for i, s := range steps {
			st := w.do(&messages.Command{Kind: &messages.Command_AddStep{AddStep: &messages.AddStep{
				Buildid: res.Id, Name: s[0], StartedAt: at(start + time.Duration(i)*time.Minute), StateString: s[0], LogNames: []string{"stdio"},
			}}})
			logs = append(logs, st.Ids[0])
			if s[1] != "" {
				w.do(&messages.Command{Kind: &messages.Command_AppendLog{AppendLog: &messages.AppendLog{Logid: st.Ids[0], Content: s[1]}}})
			}
			if end == 0 && i == len(steps)-1 {
				f.runningStep = st.Id
				break
			}
			r := results
			if i < len(steps)-1 {
				r = state.ResultSuccess
			}
			w.do(&messages.Command{Kind: &messages.Command_FinishStep{FinishStep: &messages.FinishStep{
				Stepid: st.Id, Results: r, CompleteAt: at(start + time.Duration(i+1)*time.Minute), StateString: s[0] + " done",
			}}})
		}
		if end != 0 {
			w.do(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
				Buildid: res.Id, Results: results, CompleteAt: at(end), StateString: "finished", Brids: []uint64{brid},
			}}})
		}
		return res, logs
	}
	r1 := buildset(c1.Sourcestampid, "The SingleBranchScheduler scheduler named 'on-main' triggered this build", -119*time.Minute, f.linux, f.windows)
	build(f.linux, r1[0], f.w1, -118*time.Minute, -108*time.Minute, state.ResultSuccess, [2]string{"checkout", "ohello\n"})
	build(f.windows, r1[1], f.w1, -118*time.Minute, -100*time.Minute, state.ResultSuccess, [2]string{"checkout", "ohello\n"})
	r2 := buildset(c2.Sourcestampid, "The SingleBranchScheduler scheduler named 'on-main' triggered this build", -89*time.Minute, f.linux, f.windows)
	testLog := "hgo test ./...\n" +
		"o=== RUN   TestParse\n" +
		"o\x1b[32m--- PASS: TestParse (0.00s)\x1b[0m\n" +
		"e\x1b[1;31m--- FAIL: TestLex (0.01s)\x1b[0m\n" +
		"e    lex_test.go:12: got <nil>, want \"a & b\"\n" +
		"oFAIL\n"
	_, logs := build(f.linux, r2[0], f.w1, -88*time.Minute, -80*time.Minute, state.ResultFailure, [2]string{"checkout", "ohello\n"}, [2]string{"test", testLog})
	f.failedLog = logs[1]
	res, logs := build(f.windows, r2[1], f.w1, -5*time.Minute, 0, 0, [2]string{"checkout", "ohello\n"}, [2]string{"compile", "ocompiling 1\nocompiling 2\n"})
	f.running, f.runningLog = res.Id, logs[1]
	buildset(c3.Sourcestampid, "a feature", -79*time.Minute, f.docs) // collapsed away below, left unclaimed: queued
	f.queued = buildset(c4.Sourcestampid, "A build was forced by 'ada': docs please", -3*time.Minute, f.docs)[0]
	return f
}

// config is the fixture's configuration: a force scheduler for every
// builder, with one property.
func fixtureConfig() *messages.MasterConfig {
	return &messages.MasterConfig{
		Title:  "Demo CI",
		Listen: &messages.ListenConfig{Www: "127.0.0.1:8010"},
		Workers: []*messages.WorkerConfig{
			{Name: "w1", Password: "secret-password-1"}, {Name: "w2", Password: "secret-password-2"},
		},
		Builders: []*messages.BuilderConfig{{Name: "docs"}, {Name: "linux"}, {Name: "windows"}},
		Schedulers: []*messages.SchedulerConfig{
			{Name: "force", Type: messages.SchedulerType_SCHEDULER_TYPE_FORCE, Builders: []string{"docs", "linux", "windows"},
				Properties: map[string]string{"deploy": "no"}},
			{Name: "on-main", Type: messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH, Builders: []string{"linux", "windows"}, Branch: "main"},
		},
	}
}

// fixedTree is a supervision tree for /master.
type fixedTree struct{ n *messages.TreeNode }

func (f fixedTree) Tree() *messages.TreeNode { return f.n }

func fixtureTree() fixedTree {
	return fixedTree{&messages.TreeNode{Name: "master", Kind: "master", Status: "running", Processed: 12, Children: []*messages.TreeNode{
		{Name: "botmaster", Kind: "botmaster", Status: "running", Processed: 40, Children: []*messages.TreeNode{
			{Name: "builder:linux", Kind: "builder", Status: "running", Restarts: 2, Mailbox: 3,
				LastFailure: &messages.Failure{Reason: "panic: boom"}},
		}},
		{Name: "status", Kind: "status", Status: "running"},
	}}}
}

// recorder is the test's Control: it records each call as a line and
// answers fail's error for targets it names.
type recorder struct {
	mu    sync.Mutex
	calls []string
	got   chan string
	fail  map[string]error
}

func newRecorder() *recorder { return &recorder{got: make(chan string, 100), fail: map[string]error{}} }

func (r *recorder) call(target, line string) error {
	r.mu.Lock()
	r.calls = append(r.calls, line)
	err := r.fail[target]
	r.mu.Unlock()
	r.got <- line
	return err
}

func (r *recorder) StopBuild(_ context.Context, b BuildRef, reason string) error {
	return r.call(b.Builder, fmt.Sprintf("stop %s #%d (id %d): %s", b.Builder, b.Number, b.ID, reason))
}
func (r *recorder) Rebuild(_ context.Context, b BuildRef) (Forced, error) {
	return Forced{Buildsetid: 9, Brids: map[string]uint64{b.Builder: 19}}, r.call(b.Builder, fmt.Sprintf("rebuild %s #%d", b.Builder, b.Number))
}
func (r *recorder) CancelRequest(_ context.Context, brid uint64, reason string) error {
	return r.call(fmt.Sprint(brid), fmt.Sprintf("cancel %d: %s", brid, reason))
}
func (r *recorder) PauseWorker(_ context.Context, w, reason string) error {
	return r.call(w, fmt.Sprintf("pause %s: %s", w, reason))
}
func (r *recorder) UnpauseWorker(_ context.Context, w string) error { return r.call(w, "unpause "+w) }
func (r *recorder) GracefulWorker(_ context.Context, w string) error {
	return r.call(w, "graceful "+w)
}
func (r *recorder) KillWorker(_ context.Context, w string) error { return r.call(w, "kill "+w) }
func (r *recorder) EnableScheduler(_ context.Context, s string, enabled bool) error {
	return r.call(s, fmt.Sprintf("enable %s %v", s, enabled))
}
func (r *recorder) Force(_ context.Context, f ForceRequest) (Forced, error) {
	var props []string
	for k, v := range f.Properties {
		props = append(props, k+"="+v)
	}
	slices.Sort(props)
	return Forced{Buildsetid: 7, Brids: map[string]uint64{f.Builder: 17}}, r.call(f.Builder, fmt.Sprintf("force %s on %s: reason=%q branch=%q revision=%q props=%s",
		f.Scheduler, f.Builder, f.Reason, f.Branch, f.Revision, strings.Join(props, ",")))
}

// newUI returns a UI over f with the fixture's config, clock, tree and rec.
func newUI(t testing.TB, s Reader, rec Control, opts ...func(*Options)) *UI {
	o := Options{
		State: s, Logs: legacyLogs{s}, Control: rec, Tree: fixtureTree(), Config: fixtureConfig,
		Now: func() time.Time { return t0 }, Version: "v1.2.3", Started: t0.Add(-3 * time.Hour),
		DebugURL: "http://127.0.0.1:8011/", FormKey: []byte("test key"),
		Reporters: func() []*messages.ReporterState {
			return []*messages.ReporterState{{Name: "gh", Type: "github_status", Pending: 3, Sent: 10, Failed: 2,
				LastSuccess: timestamppb.New(t0.Add(-time.Minute)), LastError: "POST https://api.github.com/repos/o/r/statuses/abc: status 503; retryable",
				LastErrorAt: timestamppb.New(t0.Add(-10 * time.Second)), RetryAt: timestamppb.New(t0.Add(20 * time.Second))}}
		},
	}
	for _, f := range opts {
		f(&o)
	}
	u, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// get serves one request to h and returns the recorded response.
func get(t testing.TB, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// legacyLogs reads log lines from the state's logchunks rows, where the
// fixtures' AppendLog commands put them (the master moves such rows to log
// files at start, and its log writer writes new lines to the files).
type legacyLogs struct{ s Reader }

func (r legacyLogs) Read(_ context.Context, logid uint64, offset, limit int64, fn func(logchunk.Line) error) (logchunk.ReadResult, error) {
	txn := r.s.Read()
	l, _ := state.Lookup(txn, state.TableLogs, logid).(*messages.Log)
	res := logchunk.ReadResult{End: -1}
	n := int64(0)
	for content, err := range state.LegacyChunks(txn, logid) {
		if err != nil {
			return res, err
		}
		for line := range bytes.Lines(content) {
			if n >= offset && (limit < 0 || n < offset+limit) {
				line = bytes.TrimSuffix(line, []byte("\n"))
				ln := logchunk.Line{N: n, Text: line}
				if l.GetType() == "s" && len(line) > 0 {
					ln.Stream, ln.Text = logchunk.Stream(line[0]), line[1:]
				}
				if err := fn(ln); err != nil {
					return res, err
				}
				res.Lines++
			}
			n++
		}
	}
	return res, nil
}
