package changes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/buildmaster/buildmaster/actors/changes"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// ---- helpers ----

// logRecords is an slog.Handler that keeps every record, for assertions.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// matching returns the records at level whose message contains msg, each
// rendered as "message key=value …".
func (l *logRecords) matching(level slog.Level, msg string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level != level || !strings.Contains(r.Message, msg) {
			continue
		}
		s := r.Message
		r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		out = append(out, s)
	}
	return out
}

// startMaster runs an in-process master on the YAML config text (listen
// addresses are added), with state in dir ("" for ephemeral).
func startMaster(t *testing.T, dir, text string, log *slog.Logger, with ...func(*master.Options)) (*master.Master, string) {
	t.Helper()
	m := mastertest.Start(t, text, dir, log, with...)
	return m, m.RT.Config().GetListen().GetWww()
}

// git runs git in dir with a fixed identity and the given commit time.
func git(t *testing.T, dir string, when int64, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	date := fmt.Sprintf("@%d +0000", when)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Alice Author", "GIT_AUTHOR_EMAIL=alice@example.com",
		"GIT_COMMITTER_NAME=Carol Committer", "GIT_COMMITTER_EMAIL=carol@example.com",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// newRepo makes a repository at dir with one commit on main.
func newRepo(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, 0, "init", "-q", "-b", "main")
	commit(t, dir, 1_600_000_000, "initial commit", "README")
}

// commit writes each file and commits them with msg at when; it returns the sha.
func commit(t *testing.T, dir string, when int64, msg string, files ...string) string {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "%s %d\n", msg, when), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, when, append([]string{"add", "--"}, files...)...)
	git(t, dir, when, "commit", "-q", "-m", msg)
	return git(t, dir, when, "rev-parse", "HEAD")
}

// pollerStatus returns the status a poller publishes on its tree node.
func pollerStatus(m *master.Master, name string) map[string]any {
	n := m.RT.Tree.Lookup(paths.ChangeSource(name))
	if n == nil {
		return nil
	}
	st, ok := n.State().(*structpb.Struct)
	if !ok {
		return nil
	}
	return st.AsMap()
}

func polls(m *master.Master, name string) float64 {
	p, _ := pollerStatus(m, name)["polls"].(float64)
	return p
}

// waitPolls waits until the poller has finished n more polls than now.
func waitPolls(t *testing.T, m *master.Master, name string, n float64) {
	t.Helper()
	from := polls(m, name)
	testkit.Eventually(t, fmt.Sprintf("%v more polls of %s", n, name), func() bool { return polls(m, name) >= from+n })
}

// allChanges returns the stored changes by id.
func allChanges(m *master.Master) []*messages.Change {
	txn := m.RT.DB.Read()
	var out []*messages.Change
	for id := uint64(1); ; id++ {
		c, _ := state.Lookup(txn, state.TableChanges, id).(*messages.Change)
		if c == nil {
			return out
		}
		out = append(out, c)
	}
}

func revisions(cs []*messages.Change, branch string) []string {
	var out []string
	for _, c := range cs {
		if branch == "" || c.Branch == branch {
			out = append(out, c.Revision)
		}
	}
	return out
}

func lastRev(t *testing.T, m *master.Master, name string) map[string]string {
	t.Helper()
	v, ok := state.ObjectState(m.RT.DB.Read(), name, changes.GitPollerClass, changes.LastRevState)
	if !ok {
		return nil
	}
	revs := map[string]string{}
	if err := json.Unmarshal([]byte(v), &revs); err != nil {
		t.Fatal(err)
	}
	return revs
}

func pollerConfig(name, repo, extra string) string {
	return fmt.Sprintf("change_sources:\n  - {name: %s, git_poller: {repo_url: %q, poll_interval: 20ms%s}}\n", name, repo, extra)
}

// ---- tests ----

// TestGitPollerReportsNewCommits: the first poll reports nothing; then each
// new commit of a watched branch is one change, oldest first, with
// Buildbot's fields; a merge lists the files it brought in.
func TestGitPollerReportsNewCommits(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	newRepo(t, repo)
	git(t, repo, 0, "branch", "feature")
	m, _ := startMaster(t, t.TempDir(), pollerConfig("poll", repo, ", branches: [main, feature, nosuch]"), nil)

	testkit.Eventually(t, "first poll", func() bool { return polls(m, "poll") >= 1 })
	waitPolls(t, m, "poll", 2)
	if cs := allChanges(m); len(cs) != 0 {
		t.Fatalf("the first poll reported %d changes", len(cs))
	}
	tip := git(t, repo, 0, "rev-parse", "main")
	if revs := lastRev(t, m, "poll"); revs["main"] != tip || revs["feature"] != tip || len(revs) != 2 {
		t.Fatalf("lastRev after the first poll = %v, want main and feature at %s", revs, tip)
	}
	st := pollerStatus(m, "poll")
	if st["last_error"] != "" || fmt.Sprint(st["missing_branches"]) != "[nosuch]" {
		t.Fatalf("status %v", st)
	}

	c1 := commit(t, repo, 1_700_000_001, "first on main\n\nwith a body\nof two lines", "src/a.c")
	c2 := commit(t, repo, 1_700_000_002, "second on main", "src/a.c", "src/b.c")
	git(t, repo, 0, "checkout", "-q", "feature")
	c3 := commit(t, repo, 1_700_000_003, "on feature", "docs/x.md", "docs/y.md")
	git(t, repo, 0, "checkout", "-q", "main")
	testkit.Eventually(t, "three changes", func() bool { return len(allChanges(m)) >= 3 })
	waitPolls(t, m, "poll", 1)
	cs := allChanges(m)
	if got := revisions(cs, "main"); !slices.Equal(got, []string{c1, c2}) {
		t.Fatalf("main's changes %v, want %v", got, []string{c1, c2})
	}
	if got := revisions(cs, ""); len(got) != 3 || !slices.Contains(got, c3) {
		t.Fatalf("changes %v", got)
	}
	byRev := map[string]*messages.Change{}
	for _, c := range cs {
		byRev[c.Revision] = c
	}
	want := []struct {
		rev, branch, comments string
		when                  int64
		files                 []string
	}{
		{c1, "main", "first on main\n\nwith a body\nof two lines", 1_700_000_001, []string{"src/a.c"}},
		{c2, "main", "second on main", 1_700_000_002, []string{"src/a.c", "src/b.c"}},
		{c3, "feature", "on feature", 1_700_000_003, []string{"docs/x.md", "docs/y.md"}},
	}
	for _, w := range want {
		c := byRev[w.rev]
		if c.Author != "Alice Author <alice@example.com>" || c.Committer != "Carol Committer <carol@example.com>" ||
			c.Comments != w.comments || c.WhenTimestamp != w.when || c.Branch != w.branch || c.Repository != repo ||
			!slices.Equal(c.Files, w.files) || c.Category != "" || c.Project != "" || c.Sourcestampid == 0 {
			t.Errorf("change for %s: %v", w.rev, c)
		}
	}

	// A merge: one change, listing what it brought in.
	git(t, repo, 1_700_000_004, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
	merge := git(t, repo, 0, "rev-parse", "HEAD")
	testkit.Eventually(t, "the merge's change", func() bool { return len(allChanges(m)) >= 4 })
	waitPolls(t, m, "poll", 1)
	cs = allChanges(m)
	if len(cs) != 4 {
		t.Fatalf("%d changes after the merge; want 4 (the merged commit is not reported again)", len(cs))
	}
	if c := cs[3]; c.Revision != merge || c.Branch != "main" || !slices.Equal(c.Files, []string{"docs/x.md", "docs/y.md"}) {
		t.Fatalf("the merge's change: %v", c)
	}
	if revs := lastRev(t, m, "poll"); revs["main"] != merge || revs["feature"] != c3 {
		t.Fatalf("lastRev = %v", revs)
	}
	st = pollerStatus(m, "poll")
	if r, _ := st["revisions"].(map[string]any); r["main"] != merge || st["changes_added"] != 4.0 {
		t.Fatalf("status %v", st)
	}
}

// TestGitPollerAllBranchesAndRestarts: with no branches configured every
// branch is watched, a new branch's first sighting reports nothing, and
// neither a restart of the poller nor one of the master repeats or misses a
// commit.
func TestGitPollerAllBranchesAndRestarts(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	newRepo(t, repo)
	dir := t.TempDir()
	text := pollerConfig("poll", repo, "")
	m, _ := startMaster(t, dir, text, nil)
	testkit.Eventually(t, "first poll", func() bool { return polls(m, "poll") >= 1 })

	a := commit(t, repo, 1_700_000_010, "A", "a")
	testkit.Eventually(t, "A's change", func() bool { return len(allChanges(m)) == 1 })
	git(t, repo, 0, "branch", "topic")
	testkit.Eventually(t, "topic seen", func() bool { return lastRev(t, m, "poll")["topic"] == a })

	// The poller crashes and is restarted: it starts from the saved revisions.
	path := paths.ChangeSource("poll")
	m.RT.System.Root.Send(m.RT.System.NewLocalPID(path), &messages.InjectFailure{Reason: "test"})
	testkit.Eventually(t, "poller restarted", func() bool {
		n := m.RT.Tree.Lookup(path)
		return n != nil && n.Restarts() == 1 && polls(m, "poll") >= 2
	})
	if cs := allChanges(m); len(cs) != 1 {
		t.Fatalf("%d changes after the poller's restart", len(cs))
	}
	b := commit(t, repo, 1_700_000_011, "B", "b")
	testkit.Eventually(t, "B's change", func() bool { return len(allChanges(m)) == 2 })
	testkit.Eventually(t, "B saved", func() bool { return lastRev(t, m, "poll")["main"] == b })

	// The master stops; commits land meanwhile; it starts again.
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	c := commit(t, repo, 1_700_000_012, "C", "c")
	d := commit(t, repo, 1_700_000_013, "D", "d")
	// A new branch at main's new tip, seen first (sorted first) in the same
	// poll, does not hide C and D from main.
	git(t, repo, 0, "branch", "a-new")
	git(t, repo, 0, "checkout", "-q", "topic")
	e := commit(t, repo, 1_700_000_014, "E", "e")
	git(t, repo, 0, "checkout", "-q", "main")
	m, _ = startMaster(t, dir, text, nil)
	testkit.Eventually(t, "C, D and E's changes", func() bool { return len(allChanges(m)) >= 5 })
	waitPolls(t, m, "poll", 2)
	cs := allChanges(m)
	if got := revisions(cs, "main"); !slices.Equal(got, []string{a, b, c, d}) {
		t.Fatalf("main's changes %v, want %v", got, []string{a, b, c, d})
	}
	if got := revisions(cs, "topic"); !slices.Equal(got, []string{e}) {
		t.Fatalf("topic's changes %v, want %v", got, []string{e})
	}
	if len(cs) != 5 {
		t.Fatalf("%d changes", len(cs))
	}
	if _, err := os.Stat(filepath.Join(dir, "gitpoller-poll", "HEAD")); err != nil {
		t.Fatalf("the mirror is not in the data directory: %v", err)
	}
}

// TestGitPollerUnreachableRepo: a repository that cannot be read is logged
// once, clearly, and polling goes on until it appears.
func TestGitPollerUnreachableRepo(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "later")
	logs := &logRecords{}
	m, _ := startMaster(t, "", pollerConfig("poll", repo, ""), slog.New(logs))
	testkit.Eventually(t, "failing polls", func() bool { return polls(m, "poll") >= 5 })
	errs := logs.matching(slog.LevelError, "git poller")
	if len(errs) != 1 {
		t.Fatalf("%d errors logged, want 1: %q", len(errs), errs)
	}
	for _, want := range []string{"poller=poll", "repo=" + repo, "git ls-remote --heads " + repo, "exit status 128",
		"does not appear to be a git repository"} {
		if !strings.Contains(errs[0], want) {
			t.Errorf("the error %q does not say %q", errs[0], want)
		}
	}
	if st := pollerStatus(m, "poll"); !strings.Contains(fmt.Sprint(st["last_error"]), "does not appear to be a git repository") {
		t.Fatalf("status %v", st)
	}

	newRepo(t, repo)
	testkit.Eventually(t, "recovered", func() bool {
		st := pollerStatus(m, "poll")
		r, _ := st["revisions"].(map[string]any)
		return st["last_error"] == "" && r["main"] != nil
	})
	if n := len(logs.matching(slog.LevelInfo, "polling works again")); n != 1 {
		t.Fatalf("%d recovery messages", n)
	}
	x := commit(t, repo, 1_700_000_020, "X", "x")
	testkit.Eventually(t, "X's change", func() bool { return len(allChanges(m)) == 1 })
	if cs := allChanges(m); cs[0].Revision != x {
		t.Fatalf("change %v", cs[0])
	}
}

// TestGitPollerReconfigured: a poller takes a new config in place: a new
// branch list applies at once, and a change of kind stops the polling.
func TestGitPollerReconfigured(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	newRepo(t, repo)
	git(t, repo, 0, "branch", "other")
	m, _ := startMaster(t, t.TempDir(), pollerConfig("poll", repo, ", branches: [main]"), nil)
	testkit.Eventually(t, "first poll", func() bool { return polls(m, "poll") >= 1 })
	if revs := lastRev(t, m, "poll"); len(revs) != 1 || revs["main"] == "" {
		t.Fatalf("lastRev %v", revs)
	}
	reconfig := func(text string) {
		t.Helper()
		res, err := m.Request(context.Background(), &messages.ReconfigureRequest{Token: token, ConfigName: "t.yaml",
			ConfigYaml: fmt.Appendf(nil, "listen: %s\n%s", listenOf(m), text)})
		if r, ok := res.(*messages.ReconfigureResponse); err != nil || !ok || !r.GetOk() {
			t.Fatalf("reconfig: %v %v", res, err)
		}
	}
	reconfig(pollerConfig("poll", repo, ", branches: [main, other]"))
	testkit.Eventually(t, "other watched", func() bool { return lastRev(t, m, "poll")["other"] != "" })
	if n := m.RT.Tree.Lookup(paths.ChangeSource("poll")); n.Restarts() != 0 {
		t.Fatal("the poller was restarted, not reconfigured in place")
	}

	reconfig("change_sources:\n  - {name: poll, change_hook: {dialect: base, secret: s}}\n")
	testkit.Eventually(t, "the source shows its new config", func() bool {
		_, ok := m.RT.Tree.Lookup(paths.ChangeSource("poll")).State().(*messages.ChangeSourceConfig)
		return ok
	})
	commit(t, repo, 1_700_000_030, "not polled", "n")
	// No timer is left: polling has stopped (the status is the config now).
	if cs := allChanges(m); len(cs) != 0 {
		t.Fatalf("changes %v", cs)
	}
}

// listenOf renders the master's listen section for a reconfig (it cannot change).
func listenOf(m *master.Master) string {
	l := m.RT.Config().GetListen()
	return fmt.Sprintf("{debug: %q, www: %q, workers: %q, workers_pb: %q}", l.GetDebug(), l.GetWww(), l.GetWorkers(), l.GetWorkersPb())
}

// TestGitPollerStopKillsGit: a poller stopped mid-poll kills its git at
// once (here one stuck talking to a server that never answers).
func TestGitPollerStopKillsGit(t *testing.T) {
	l := testkit.Listen(t)
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	m, _ := startMaster(t, "", pollerConfig("stuck", "git://"+l.Addr().String()+"/r.git", ""), nil)
	conn := testkit.Recv(t, "git's connection", conns)
	defer conn.Close()
	testkit.Eventually(t, "the poll shows as running", func() bool { return pollerStatus(m, "stuck")["polling"] == true })
	if err := m.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	// git is gone: its end of the connection is closed.
	_ = conn.SetReadDeadline(time.Now().Add(testkit.DefaultTimeout))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("git still holds its connection after the master stopped")
			}
			return
		}
	}
}

// TestGitPollerHidesCredentials: a password in repo_url shows neither in
// the log nor on the tree.
func TestGitPollerHidesCredentials(t *testing.T) {
	addr := testkit.RefusingAddr(t) // nobody listens there
	logs := &logRecords{}
	m, _ := startMaster(t, "", pollerConfig("creds", "http://user:hunter2@"+addr+"/r.git", ""), slog.New(logs))
	testkit.Eventually(t, "a failed poll", func() bool { return polls(m, "creds") >= 2 })
	errs := logs.matching(slog.LevelError, "git poller")
	if len(errs) != 1 {
		t.Fatalf("errors %q", errs)
	}
	st := fmt.Sprint(pollerStatus(m, "creds"))
	for _, s := range append(errs, st) {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("the password shows: %s", s)
		}
	}
	if !strings.Contains(errs[0], "user:xxxxx@"+addr) {
		t.Fatalf("the error does not name the repository: %s", errs[0])
	}
}

// tooBig commits, at when, files enough (with paths long enough) that the
// commit's change is over state.MaxChangeBytes, so refused as invalid; it
// returns the sha.
func tooBig(t *testing.T, dir string, when int64, msg string) string {
	t.Helper()
	deep := filepath.Join(slices.Repeat([]string{strings.Repeat("d", 200)}, 14)...)
	if err := os.MkdirAll(filepath.Join(dir, deep), 0o755); err != nil {
		t.Fatal(err)
	}
	var size int
	for i := 0; size <= state.MaxChangeBytes; i++ {
		name := filepath.Join(deep, fmt.Sprintf("%04d-%s", i, strings.Repeat("f", 240)))
		if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "%s %d\n", msg, i), 0o644); err != nil {
			t.Fatal(err)
		}
		size += len(name)
	}
	git(t, dir, when, "add", "-A")
	git(t, dir, when, "commit", "-q", "-m", msg)
	return git(t, dir, when, "rev-parse", "HEAD")
}

// replayLog applies the commands of the raft log of the state in dir (a
// stopped master's), in order, to an empty database, and calls each with
// the state after each entry: every state a crash can leave.
func replayLog(t *testing.T, dir string, each func(index uint64, txn *memdb.Txn)) {
	t.Helper()
	meta := &metadb.BoltMetaDB{}
	defer meta.Close()
	w, err := wal.Open(filepath.Join(dir, state.LogDir), wal.WithMetaStore(meta))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	first, err := w.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := w.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first != 1 {
		t.Fatalf("the log starts at entry %d: it was compacted, the states before are not all there", first)
	}
	db, err := state.NewDB()
	if err != nil {
		t.Fatal(err)
	}
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := w.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		cmd := &messages.Command{}
		if err := proto.Unmarshal(l.Data, cmd); err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		txn := db.Txn(true)
		if _, err := state.Apply(txn, cmd); err != nil {
			txn.Abort() // a refused command wrote nothing
			continue
		}
		txn.Commit()
		each(i, db.Txn(false))
	}
}

// TestGitPollerStateMovesWithItsChanges: each change a poll adds carries
// the poller's revisions as of its commit, in the same command. In every
// state a crash can leave (each prefix of the raft log, replayed) the
// changes present are exactly those of the commits up to the saved
// revision: never a change without the revision past it (reported again
// after a restart), never the revision past a commit without its change
// (lost). A commit whose change is refused as invalid is logged and
// skipped, and the revision moves past it, whether a commit follows it in
// the same poll or it is the tip.
func TestGitPollerStateMovesWithItsChanges(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	newRepo(t, repo)
	dir := t.TempDir()
	logs := &logRecords{}
	m, _ := startMaster(t, dir, pollerConfig("poll", repo, ", branches: [main]"), slog.New(logs))
	testkit.Eventually(t, "first poll", func() bool { return polls(m, "poll") >= 1 })
	history := []string{git(t, repo, 0, "rev-parse", "main")} // main's commits, oldest first
	var reported []string                                     // those whose change is valid
	saved := func(rev string) func() bool {
		return func() bool { return lastRev(t, m, "poll")["main"] == rev }
	}

	a := commit(t, repo, 1_700_000_040, "A", "a")
	b := commit(t, repo, 1_700_000_041, "B", "b")
	history, reported = append(history, a, b), append(reported, a, b)
	testkit.Eventually(t, "B saved", saved(b))

	// A refused commit then a good one, reached in one poll (main moves
	// from B to D at once): D's change carries the revision past both.
	git(t, repo, 0, "checkout", "-q", "-b", "work")
	bad1 := tooBig(t, repo, 1_700_000_042, "too big, then D")
	d := commit(t, repo, 1_700_000_043, "D", "d")
	git(t, repo, 0, "checkout", "-q", "main")
	git(t, repo, 0, "merge", "-q", "--ff-only", "work")
	history, reported = append(history, bad1, d), append(reported, d)
	testkit.Eventually(t, "D saved", saved(d))

	// A refused commit at the tip: the poll's own save moves past it.
	bad2 := tooBig(t, repo, 1_700_000_044, "too big, at the tip")
	history = append(history, bad2)
	testkit.Eventually(t, "the refused tip saved", saved(bad2))

	if got := revisions(allChanges(m), ""); !slices.Equal(got, reported) {
		t.Fatalf("changes %v, want %v", got, reported)
	}
	refused := logs.matching(slog.LevelError, "refused; skipping it")
	if len(refused) != 2 || !strings.Contains(refused[0], "revision="+bad1) || !strings.Contains(refused[1], "revision="+bad2) ||
		!strings.Contains(refused[0], "larger than the limit") {
		t.Fatalf("refusals logged: %q", refused)
	}
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	states := 0
	replayLog(t, filepath.Join(dir, master.StateDir), func(i uint64, txn *memdb.Txn) {
		var present []string
		for c := range state.Scan(txn, state.TableChanges, false) {
			present = append(present, c.(*messages.Change).GetRevision())
		}
		var want []string
		if v, ok := state.ObjectState(txn, "poll", changes.GitPollerClass, changes.LastRevState); ok {
			revs := map[string]string{}
			if err := json.Unmarshal([]byte(v), &revs); err != nil {
				t.Fatal(err)
			}
			at := slices.Index(history, revs["main"])
			if at < 0 {
				t.Fatalf("after log entry %d the saved revision %q is not one of main's", i, revs["main"])
			}
			for _, r := range history[1 : at+1] {
				if slices.Contains(reported, r) {
					want = append(want, r)
				}
			}
			states++
		}
		if !slices.Equal(present, want) {
			t.Fatalf("after log entry %d the changes are %v but the saved revisions say %v: a crash there would "+
				"report a commit twice, or lose one", i, present, want)
		}
	})
	if states < 4 {
		t.Fatalf("only %d states with saved revisions in the log", states)
	}
}
