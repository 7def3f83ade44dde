package master

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/treeview"
	"github.com/buildmaster/buildmaster/messages"
)

const token = "test-token"

// testYAML renders a config with the given listeners and body.
func testYAML(debug, www, body string) []byte {
	return fmt.Appendf(nil, "listen: {debug: %q, www: %q, workers: 127.0.0.1:0, workers_pb: 127.0.0.1:0}\n%s", debug, www, body)
}

// startTest starts an in-process master (no control endpoint) on body.
func startTest(t testing.TB, body string) (*Master, func(string) []byte) {
	t.Helper()
	return startTestWith(t, body, Options{})
}

// startTestWith is startTest with opts (Config, Token, NoRemote and
// Ephemeral are set here; Log too, to discard, unless the test sets it).
func startTestWith(t testing.TB, body string, opts Options) (*Master, func(string) []byte) {
	t.Helper()
	// Port 0: the master binds once and reports the port (m.DebugAddr, m.WWWAddr).
	render := func(b string) []byte { return testYAML("127.0.0.1:0", "127.0.0.1:0", b) }
	cfg, err := config.Load("test.yaml", render(body))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Config, opts.Token, opts.NoRemote, opts.Ephemeral = cfg, token, true, true
	m, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	return m, render
}

func reconfigure(t testing.TB, m *Master, yaml []byte, dryRun bool) *messages.ReconfigureResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := m.Request(ctx, &messages.ReconfigureRequest{Token: token, ConfigName: "new.yaml", ConfigYaml: yaml, DryRun: dryRun})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := res.(*messages.ReconfigureResponse)
	if !ok {
		t.Fatalf("reply %T %v", res, res)
	}
	return r
}

func changePaths(cs []*messages.ServiceChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.ToLower(strings.TrimPrefix(c.GetKind().String(), "CHANGE_KIND_"))+" "+c.GetPath())
	}
	return out
}

const oneBuilder = `
workers: [{name: w1}]
builders: [{name: b1, workers: [w1], steps: [{shell: {command: [true]}}]}]
`

const twoBuilders = `
workers: [{name: w1}, {name: w2}]
builders:
  - {name: b1, workers: [w1], steps: [{shell: {command: [true]}}]}
  - {name: b2, workers: [w2], steps: [{shell: {command: [true]}}]}
caches: {Builds: 50}
supervision: {max_restarts: 3}
`

func TestReconfigureReportsChangesByPath(t *testing.T) {
	m, render := startTest(t, oneBuilder)
	r := reconfigure(t, m, render(twoBuilders), false)
	want := []string{
		"changed master",
		"added master/botmaster/builder:b2",
		"added master/botmaster/worker:w2",
		"changed master/caches",
	}
	if !r.GetOk() || r.GetGeneration() != 2 || !slices.Equal(changePaths(r.GetChanges()), want) {
		t.Fatalf("reply ok=%v gen=%d changes=%v errors=%v, want changes %v", r.GetOk(), r.GetGeneration(), changePaths(r.GetChanges()), r.GetErrors(), want)
	}
	if m.RT.Tree.Lookup("master/botmaster/builder:b2") == nil {
		t.Fatal("b2 not spawned")
	}
	if got := m.RT.Config().GetSupervision().GetMaxRestarts(); got != 3 {
		t.Fatalf("supervision limit not applied: %d", got)
	}
}

func TestDryRunPlansWhatReconfigureDoes(t *testing.T) {
	m, render := startTest(t, oneBuilder)
	dry := reconfigure(t, m, render(twoBuilders), true)
	if !dry.GetOk() || !dry.GetDryRun() || dry.GetGeneration() != 1 || m.RT.Tree.Lookup("master/botmaster/builder:b2") != nil {
		t.Fatalf("dry run applied something or failed: %v", dry)
	}
	real := reconfigure(t, m, render(twoBuilders), false)
	if !slices.Equal(changePaths(dry.GetChanges()), changePaths(real.GetChanges())) {
		t.Fatalf("dry run planned %v, reconfigure did %v", changePaths(dry.GetChanges()), changePaths(real.GetChanges()))
	}
}

func TestRejectedConfigChangesNothing(t *testing.T) {
	m, render := startTest(t, oneBuilder)
	before := m.RT.Config()
	r := reconfigure(t, m, render("workers: [{name: w1}]\nbuilders: [{name: b1, workers: [nope]}]\nbogus: 1\n"), false)
	if r.GetOk() || r.GetGeneration() != 1 || len(r.GetErrors()) < 2 || m.RT.Config() != before {
		t.Fatalf("bad config: %v", r)
	}
	for _, e := range r.GetErrors() {
		if e.GetFile() != "new.yaml" || e.GetLine() == 0 || e.GetPath() == "" {
			t.Fatalf("error not located: %v", e)
		}
	}
}

func TestBadTokenIsRefused(t *testing.T) {
	m, render := startTest(t, oneBuilder)
	for _, msg := range []any{
		&messages.ReconfigureRequest{Token: "wrong", ConfigYaml: render(twoBuilders)},
		&messages.GetTreeRequest{},
	} {
		res, err := m.RT.System.Root.RequestFuture(m.PID, msg, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ce, ok := res.(*messages.ControlError); !ok || ce.GetCode() != messages.ControlErrorCode_CONTROL_ERROR_CODE_UNAUTHENTICATED {
			t.Fatalf("reply to %T with a bad token: %v", msg, res)
		}
	}
	if m.RT.Generation() != 1 {
		t.Fatal("a refused request changed the config")
	}
}

// TestTreeAsText: asked for text, the master answers with the tree rendered
// as treeview renders its nodes (what `buildmaster tree` prints), and no
// nodes; asked for nothing else, with the nodes.
func TestTreeAsText(t *testing.T) {
	m, _ := startTest(t, twoBuilders)
	ask := func(text bool) *messages.GetTreeResponse {
		res, err := m.RT.System.Root.RequestFuture(m.PID, &messages.GetTreeRequest{Token: token, Text: text}, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		r, ok := res.(*messages.GetTreeResponse)
		if !ok {
			t.Fatalf("reply %T %v", res, res)
		}
		return r
	}
	// The tree of a quiet master does not change between the two asks but
	// for the master's own counts; compare without them.
	counts := regexp.MustCompile(` mailbox=\d+`)
	nodes, text := ask(false), ask(true)
	if nodes.GetRoot() == nil || len(nodes.GetText()) != 0 || text.GetRoot() != nil || text.GetGeneration() != 1 {
		t.Fatalf("nodes answer %v, text answer root %v generation %d", nodes.GetText(), text.GetRoot(), text.GetGeneration())
	}
	want := counts.ReplaceAllString(string(treeview.AppendText(nil, nodes.GetRoot())), "")
	if got := counts.ReplaceAllString(string(text.GetText()), ""); got != want || !strings.Contains(got, "builder:b2 [builder] running") {
		t.Fatalf("text answer:\n%s\nwant:\n%s", got, want)
	}
}

// batch delivers several messages to a mailbox in order, from one Send (the
// mailbox may start on the first before the others are in).
type batch []any

func (b batch) GetMessages() []any { return b }

// logWatch is an slog.Handler that counts the records with message msg and
// signals each on seen (buffered, so it never blocks the logger).
type logWatch struct {
	msg  string
	seen chan struct{}
}

func newLogWatch(msg string) *logWatch { return &logWatch{msg: msg, seen: make(chan struct{}, 100)} }

func (l *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (l *logWatch) Handle(_ context.Context, r slog.Record) error {
	if r.Message == l.msg {
		select {
		case l.seen <- struct{}{}:
		default:
		}
	}
	return nil
}
func (l *logWatch) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logWatch) WithGroup(string) slog.Handler      { return l }

// wait waits until n more records have been seen, failing the test at the
// deadline.
func (l *logWatch) wait(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		testkit.Recv(t, fmt.Sprintf("log record %d of %d %q", i+1, n, l.msg), l.seen)
	}
}

func TestReconfigsArrivingDuringOneAreCollapsed(t *testing.T) {
	// The master logs queuedMsg for each request that arrives while a run is
	// under way; the test waits on it.
	const queuedMsg = "reconfig already active; will reconfig again after"
	queued := newLogWatch(queuedMsg)
	// The ack timeout is longer than every wait below, so the first run can
	// end only when the stalled service is released.
	m, render := startTestWith(t, oneBuilder, Options{Log: slog.New(queued), AckTimeout: time.Minute})
	// One service takes no message until released, so the first run stays
	// open (waiting for its acknowledgement) while the other requests arrive.
	release := stall(t, m, "master/user_manager")
	// Five requests: the first runs, the other four queue behind it and are
	// collapsed into one more run of the last one's config.
	var futures []*actor.Future
	var msgs batch
	for i := range 5 {
		body := oneBuilder
		if i == 4 {
			body = twoBuilders
		}
		f := actor.NewFuture(m.RT.System, 30*time.Second)
		futures = append(futures, f)
		msgs = append(msgs, &actor.MessageEnvelope{
			Message: &messages.ReconfigureRequest{Token: token, ConfigYaml: render(body)}, Sender: f.PID(),
		})
	}
	m.RT.System.Root.Send(m.PID, msgs)
	queued.wait(t, 4)
	if m.RT.Generation() != 2 {
		t.Fatalf("with the other four queued, the master is at generation %d, want the first run's 2", m.RT.Generation())
	}
	release()
	var gens []uint64
	var collapsed []int32
	for i, f := range futures {
		res, err := f.Result()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		r, ok := res.(*messages.ReconfigureResponse)
		if !ok {
			t.Fatalf("request %d: reply %T %v", i, res, res)
		}
		if !r.GetOk() || r.GetUnchanged() || len(r.GetWarnings()) != 0 {
			t.Fatalf("request %d: reply %v", i, r)
		}
		gens = append(gens, r.GetGeneration())
		collapsed = append(collapsed, r.GetCollapsed())
	}
	if !slices.Equal(gens, []uint64{2, 3, 3, 3, 3}) || !slices.Equal(collapsed, []int32{1, 4, 4, 4, 4}) {
		t.Fatalf("generations %v, collapsed %v", gens, collapsed)
	}
	if m.RT.Generation() != 3 {
		t.Fatalf("master at generation %d, want 3", m.RT.Generation())
	}
	if m.RT.Tree.Lookup("master/botmaster/builder:b2") == nil {
		t.Fatal("the collapsed run did not apply the last request's config")
	}
	select {
	case <-queued.seen:
		t.Fatal("a request was queued behind the collapsed run")
	default:
	}
}

// TestIdleRunsAfterALoad: the Idle hook (the process hands the memory of a
// load back with a full collection) runs after a run that loaded a config,
// applied or rejected, and not after one that found the text in force by
// its fingerprint (nothing loaded, no garbage to hand back).
func TestIdleRunsAfterALoad(t *testing.T) {
	idle := make(chan struct{}, 10)
	m, render := startTestWith(t, oneBuilder, Options{Idle: func() { idle <- struct{}{} }})
	if r := reconfigure(t, m, render(twoBuilders), false); !r.GetOk() || r.GetUnchanged() {
		t.Fatalf("applying twoBuilders: %v", r)
	}
	testkit.Recv(t, "the Idle hook after an applied config", idle)
	if r := reconfigure(t, m, render(twoBuilders), false); !r.GetUnchanged() {
		t.Fatalf("the same text again: %v, want unchanged", r)
	}
	// The hook runs in the master's handler, after the reply: the reply to
	// the next request (a dry run never runs it) says that handler is over.
	reconfigure(t, m, render(twoBuilders), true)
	if len(idle) != 0 {
		t.Fatal("the Idle hook ran after a reconfig with the text in force")
	}
	if r := reconfigure(t, m, render("bogus: 1\n"), false); r.GetOk() {
		t.Fatalf("a bad config was accepted: %v", r)
	}
	testkit.Recv(t, "the Idle hook after a rejected config", idle)
}

// stall suspends the mailbox of the actor at path, as if it were stuck in a
// long handler: it takes no message until the returned release is called or
// the test ends, when it carries on with what queued meanwhile.
func stall(t *testing.T, m *Master, path string) (release func()) {
	t.Helper()
	pid := m.RT.System.NewLocalPID(path)
	proc, ok := m.RT.System.ProcessRegistry.Get(pid)
	if !ok || m.RT.Tree.Lookup(path) == nil {
		t.Fatalf("no actor at %s", path)
	}
	proc.SendSystemMessage(pid, &actor.SuspendMailbox{})
	var once sync.Once
	release = func() { once.Do(func() { proc.SendSystemMessage(pid, &actor.ResumeMailbox{}) }) }
	t.Cleanup(release)
	return release
}

func TestReconfigureWarnsOfServicesThatDidNotAcknowledge(t *testing.T) {
	const timeout = time.Second
	m, render := startTestWith(t, oneBuilder, Options{AckTimeout: timeout})
	release := stall(t, m, "master/user_manager")
	r := reconfigure(t, m, render(twoBuilders), false)
	// The run ends at the timeout, ok (generation 2 is installed and the
	// other services applied it), with one warning naming the stuck service
	// and the timeout.
	if !r.GetOk() || r.GetGeneration() != 2 || m.RT.Generation() != 2 {
		t.Fatalf("reply ok=%v gen=%d errors=%v; master at generation %d", r.GetOk(), r.GetGeneration(), r.GetErrors(), m.RT.Generation())
	}
	if len(r.GetWarnings()) != 1 {
		t.Fatalf("warnings = %q, want one", r.GetWarnings())
	}
	w := r.GetWarnings()[0]
	for _, want := range []string{"1 of 10 services", "generation 2", "within the 1s timeout", "master/user_manager"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	for _, other := range []string{"master/botmaster", "master/caches", "master/debug"} {
		if strings.Contains(w, other) {
			t.Errorf("warning %q names %s, which acknowledged", w, other)
		}
	}
	if !slices.Contains(changePaths(r.GetChanges()), "added master/botmaster/builder:b2") {
		t.Errorf("the services that acknowledged lost their changes: %v", changePaths(r.GetChanges()))
	}

	// Retrying the same config is a new run, not `unchanged`: once the
	// service answers again it is clean, with nothing left to change (the
	// stuck service's late acknowledgement of generation 2 is ignored).
	release()
	r = reconfigure(t, m, render(twoBuilders), false)
	if !r.GetOk() || r.GetUnchanged() || r.GetGeneration() != 3 || len(r.GetWarnings()) != 0 || len(r.GetChanges()) != 0 {
		t.Fatalf("retry after the service recovered: ok=%v unchanged=%v gen=%d warnings=%q changes=%v",
			r.GetOk(), r.GetUnchanged(), r.GetGeneration(), r.GetWarnings(), changePaths(r.GetChanges()))
	}
}

func TestCleanReconfigureHasNoWarnings(t *testing.T) {
	m, render := startTestWith(t, oneBuilder, Options{AckTimeout: 10 * time.Second})
	for _, dry := range []bool{true, false, false} { // dry run, applied, unchanged
		if r := reconfigure(t, m, render(twoBuilders), dry); !r.GetOk() || len(r.GetWarnings()) != 0 {
			t.Fatalf("dry=%v: ok=%v warnings=%q", dry, r.GetOk(), r.GetWarnings())
		}
	}
}

// Services reach db by name as they start (a builder registers itself in
// the state from its Started): db must be spawned, and so registered, before
// any of them, or their first command goes to dead letters (and protoactor
// races on the half-spawned mailbox).
func TestDBIsSpawnedFirst(t *testing.T) {
	if first := Services()[0].Name; first != "db" {
		t.Fatalf("the first service spawned is %q, want db", first)
	}
}

// A reconfiguration reaches every service, each once, and the botmaster
// (its workers and builders) before the schedulers, as in Buildbot.
func TestPhasesListEveryServiceOnce(t *testing.T) {
	phase := map[string]int{}
	for i, names := range Phases() {
		for _, name := range names {
			if _, dup := phase[name]; dup {
				t.Errorf("service %s is in two phases", name)
			}
			phase[name] = i
		}
	}
	for _, s := range Services() {
		if _, ok := phase[s.Name]; !ok {
			t.Errorf("service %s is in no phase (it would apply a new config after all the others)", s.Name)
		}
	}
	if len(phase) != len(Services()) {
		t.Errorf("the phases name %d services, the master runs %d", len(phase), len(Services()))
	}
	if phase[paths.BotmasterName] >= phase[paths.SchedulersName] {
		t.Errorf("the botmaster applies a config in phase %d, the schedulers in %d: builders must exist first",
			phase[paths.BotmasterName], phase[paths.SchedulersName])
	}
}

// TestReconfigRereadsSecrets: a reconfig with the very input in force
// reads the config's secrets again from their providers: with none
// rotated it is unchanged; with the worker's password rotated in its file,
// the dry run plans and the reconfig makes a new generation whose worker
// has the new password, both naming the secret changed.
func TestReconfigRereadsSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "w1pass"), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("worker-pass-1")
	body := fmt.Sprintf(`secrets: [{type: dir, path: %q}]
workers: [{name: w1, password: {secret: w1pass}}]
builders: [{name: b1, workers: [w1], steps: [{shell: {command: [true]}}]}]
`, dir)
	m, render := startTest(t, body)
	reconfigure(t, m, render(body), false) // the input in force is now this text
	if r := reconfigure(t, m, render(body), false); !r.GetUnchanged() || len(r.GetSecretsChanged()) > 0 {
		t.Fatalf("nothing rotated: %v", r)
	}
	gen := m.RT.Generation()
	write("worker-pass-2")
	want := []string{"changed master/botmaster/worker:w1"}
	dry := reconfigure(t, m, render(body), true)
	if !dry.GetOk() || dry.GetUnchanged() || !slices.Equal(dry.GetSecretsChanged(), []string{"w1pass"}) ||
		!slices.Equal(changePaths(dry.GetChanges()), want) || m.RT.Config().GetWorkers()[0].GetPassword() != "worker-pass-1" {
		t.Fatalf("dry run after a rotation: %v", dry)
	}
	r := reconfigure(t, m, render(body), false)
	if !r.GetOk() || r.GetGeneration() != gen+1 || !slices.Equal(r.GetSecretsChanged(), []string{"w1pass"}) ||
		!slices.Equal(changePaths(r.GetChanges()), want) || m.RT.Config().GetWorkers()[0].GetPassword() != "worker-pass-2" {
		t.Fatalf("reconfig after a rotation: %v", r)
	}
	if r := reconfigure(t, m, render(body), false); !r.GetUnchanged() {
		t.Fatalf("nothing rotated since: %v", r)
	}
}
