package changes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The git poller (Buildbot's GitPoller). Every poll_interval (first at
// start) it brings its bare mirror of repo_url up to date with real `git`
// and turns every commit new on a watched branch into a change, oldest
// first. The last revision seen of each branch is kept in the master's state
// (object poller name, class GitPoller, name lastRev: {"branch": "sha"}),
// written in the same command as each change (the revisions as of that
// change), so that a restart, or a crash at any point, neither repeats nor
// misses commits. The first poll of a branch only records its tip, as in
// Buildbot.

const (
	// DefaultPollInterval is a git poller's interval when none is configured
	// (Buildbot's pollInterval default).
	DefaultPollInterval = 10 * time.Minute
	// GitPollerClass is the class_name of a git poller's state object.
	GitPollerClass = "GitPoller"
	// LastRevState is the name of the state value holding the last
	// revision seen of each branch.
	LastRevState = "lastRev"

	// gitFetchTimeout bounds the commands that talk to the remote.
	gitFetchTimeout = 10 * time.Minute
	// gitLocalTimeout bounds the commands that read the mirror.
	gitLocalTimeout = time.Minute
	// stopWait bounds how long a stopping poller waits for its poll to end.
	stopWait = 10 * time.Second
	// mirrorRefs is where the mirror keeps the remote's branches.
	mirrorRefs = "refs/buildmaster/heads/"
)

// pollTick asks for a poll; stale ticks (gen not the current one) are dropped.
type pollTick struct{ gen uint64 }

// pollDone is a finished poll's outcome, sent by the poll's goroutine.
type pollDone struct {
	seq uint64 // the poll's number: a stale outcome (of a cancelled poll) is dropped
	res pollResult
}

// changeSource is the actor of one configured change source. A git_poller
// polls; a change_hook only publishes its config (the hook's HTTP handler,
// hook.go, reads the config in force at request time). A change of kind in
// place is taken too: the poller starts or stops.
type changeSource struct {
	rt   *service.Runtime
	cell *service.Cell[*messages.ChangeSourceConfig]
	cfg  *messages.ChangeSourceConfig
	self *actor.PID

	lastRev map[string]string // branch → last revision reported (or recorded)
	loaded  bool              // lastRev was read from the state

	cancel  context.CancelFunc // of the running poll; nil when none runs
	done    chan struct{}      // closed when the running poll's goroutine ends
	again   bool               // poll again as soon as the running one ends
	timer   *time.Timer
	gen     uint64
	seq     uint64 // the number of the running (or last) poll
	tmpdir  string // the mirror's home when the master has no data directory
	polls   int64
	added   int64
	last    time.Time
	lastErr string // the last poll's error, "" when it went well
	logged  string // the error last logged, so that each is logged once (errorKey)
	missing []string
}

func newChangeSource(rt *service.Runtime, cell *service.Cell[*messages.ChangeSourceConfig]) actor.Actor {
	return &changeSource{rt: rt, cell: cell}
}

// Receive implements actor.Actor.
func (s *changeSource) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.self = ctx.Self()
		s.cfg = s.cell.Load()
		if s.poller() != nil {
			s.startPoll(ctx)
		}
		s.publish(ctx)
	case *messages.ChangeSourceConfig:
		s.reconfigure(ctx, m)
		s.publish(ctx)
	case *pollTick:
		if m.gen == s.gen && s.poller() != nil && s.cancel == nil {
			s.startPoll(ctx)
			s.publish(ctx)
		}
	case *pollDone:
		if m.seq == s.seq && s.cancel != nil {
			s.finished(ctx, m.res)
			s.publish(ctx)
		}
	case *actor.Stopping, *actor.Restarting:
		s.stopPolling()
		if s.tmpdir != "" {
			_ = os.RemoveAll(s.tmpdir)
			s.tmpdir = ""
		}
	}
}

func (s *changeSource) poller() *messages.GitPollerConfig { return s.cfg.GetGitPoller() }

func (s *changeSource) name() string { return s.cfg.GetName() }

// reconfigure takes a new config in place: a poller whose repository,
// branches or workdir changed polls at once (after the running poll, if
// any); one whose interval changed is rescheduled.
func (s *changeSource) reconfigure(ctx actor.Context, cfg *messages.ChangeSourceConfig) {
	old := s.poller()
	s.cfg = cfg
	gp := s.poller()
	switch {
	case gp == nil:
		s.stopPolling()
	case old == nil:
		s.startPoll(ctx)
	case old.GetRepoUrl() != gp.GetRepoUrl() || !slices.Equal(old.GetBranches(), gp.GetBranches()) || old.GetWorkdir() != gp.GetWorkdir():
		if s.cancel != nil {
			s.again = true
		} else {
			s.startPoll(ctx)
		}
	case !proto.Equal(old.GetPollInterval(), gp.GetPollInterval()) && s.cancel == nil:
		s.schedule()
	}
}

func (s *changeSource) interval() time.Duration {
	if d := s.poller().GetPollInterval().AsDuration(); d > 0 {
		return d
	}
	return DefaultPollInterval
}

// schedule arms the next poll one interval from now.
func (s *changeSource) schedule() {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.gen++
	gen, self, root := s.gen, s.self, s.rt.System.Root
	s.timer = time.AfterFunc(s.interval(), func() { root.Send(self, &pollTick{gen: gen}) })
}

// stopPolling cancels the timer and the running poll (killing its git) and
// waits, boundedly, for the poll to end.
func (s *changeSource) stopPolling() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.gen++
	s.again = false
	s.loaded = false // re-read from the state when polling starts again
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(stopWait):
		s.rt.Log.Warn("git poller: the running poll did not end in time", slog.String("poller", s.name()))
	}
	s.cancel, s.done = nil, nil
}

// startPoll runs one poll in a goroutine; it reports back with pollDone.
func (s *changeSource) startPoll(ctx actor.Context) {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !s.loaded {
		s.lastRev = readLastRev(s.rt, s.name())
		s.loaded = true
	}
	dir, err := s.workdir()
	if err != nil {
		s.finished(ctx, pollResult{lastRev: s.lastRev, err: err})
		return
	}
	gp := s.poller()
	job := &pollJob{
		name: s.name(), repo: gp.GetRepoUrl(), branches: gp.GetBranches(), dir: dir,
		lastRev: maps.Clone(s.lastRev), system: s.rt.System, log: s.rt.Log,
	}
	pctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.cancel, s.done, s.again = cancel, done, false
	s.seq++
	self, root, seq := ctx.Self(), s.rt.System.Root, s.seq
	go func() {
		defer close(done)
		res := job.run(pctx)
		if pctx.Err() == nil {
			root.Send(self, &pollDone{seq: seq, res: res})
		}
	}()
}

// workdir returns the mirror's directory: workdir (default
// gitpoller-NAME) under the data directory, or under a temporary directory
// of the poller's own when the master has none.
func (s *changeSource) workdir() (string, error) {
	wd := s.poller().GetWorkdir()
	if wd == "" {
		wd = "gitpoller-" + s.name()
	}
	if filepath.IsAbs(wd) {
		return wd, nil
	}
	base := s.rt.DataDir
	if base == "" {
		if s.tmpdir == "" {
			d, err := os.MkdirTemp("", "buildmaster-gitpoller-")
			if err != nil {
				return "", fmt.Errorf("git poller %s: cannot make a temporary directory for its mirror: %w", s.name(), err)
			}
			s.tmpdir = d
		}
		base = s.tmpdir
	}
	return filepath.Join(base, wd), nil
}

// finished takes a poll's outcome: the new revisions, the error (logged
// once per distinct error), and schedules the next poll.
func (s *changeSource) finished(ctx actor.Context, res pollResult) {
	s.cancel, s.done = nil, nil
	s.polls++
	s.last = time.Now()
	if res.lastRev != nil {
		s.lastRev = res.lastRev
	}
	if res.unsure {
		s.loaded = false // the state may be ahead of res.lastRev
	}
	s.added += int64(len(res.added))
	if res.err == nil || res.missing != nil {
		if len(res.missing) > 0 && !slices.Equal(res.missing, s.missing) {
			s.rt.Log.Warn("git poller: configured branches are not in the repository", slog.String("poller", s.name()),
				slog.String("repo", redactURL(s.poller().GetRepoUrl())), slog.Any("branches", res.missing))
		}
		s.missing = res.missing
	}
	s.lastErr = ""
	if res.err != nil {
		s.lastErr = res.err.Error()
		if errorKey(s.lastErr) != errorKey(s.logged) {
			s.rt.Log.Error("git poller: poll failed; polling goes on", slog.String("poller", s.name()),
				slog.String("repo", redactURL(s.poller().GetRepoUrl())), slog.String("error", s.lastErr))
			s.logged = s.lastErr
		}
	} else if s.logged != "" {
		s.rt.Log.Info("git poller: polling works again", slog.String("poller", s.name()),
			slog.String("repo", redactURL(s.poller().GetRepoUrl())))
		s.logged = ""
	}
	if s.poller() == nil {
		return
	}
	if s.again {
		s.startPoll(ctx)
		return
	}
	s.schedule()
}

// publish shows the source's state on its tree node: a change hook its
// config (the secret is redacted by whoever shows it), a poller its status.
func (s *changeSource) publish(ctx actor.Context) {
	n := service.NodeOf(ctx, s.rt)
	if n == nil {
		return
	}
	gp := s.poller()
	if gp == nil {
		n.SetState(s.cfg)
		return
	}
	revs := make(map[string]any, len(s.lastRev))
	for b, r := range s.lastRev {
		revs[b] = r
	}
	branches := make([]any, 0, len(gp.GetBranches()))
	for _, b := range gp.GetBranches() {
		branches = append(branches, b)
	}
	missing := make([]any, 0, len(s.missing))
	for _, b := range s.missing {
		missing = append(missing, b)
	}
	last := ""
	if !s.last.IsZero() {
		last = s.last.UTC().Format(time.RFC3339Nano)
	}
	st, err := structpb.NewStruct(map[string]any{
		"name":             s.name(),
		"repo_url":         redactURL(gp.GetRepoUrl()),
		"branches":         branches,
		"poll_interval":    s.interval().String(),
		"polling":          s.cancel != nil,
		"polls":            float64(s.polls),
		"changes_added":    float64(s.added),
		"last_poll":        last,
		"last_error":       s.lastErr,
		"revisions":        revs,
		"missing_branches": missing,
	})
	if err != nil {
		s.rt.Log.Error("git poller: cannot publish its status", slog.String("poller", s.name()), slog.Any("error", err))
		return
	}
	n.SetState(st)
}

// readLastRev reads a poller's last revisions from the state; none when
// there are none or they do not parse (logged).
func readLastRev(rt *service.Runtime, name string) map[string]string {
	revs := map[string]string{}
	v, ok := state.ObjectState(rt.DB.Read(), name, GitPollerClass, LastRevState)
	if !ok {
		return revs
	}
	if err := json.Unmarshal([]byte(v), &revs); err != nil {
		rt.Log.Error("git poller: its saved revisions do not parse; starting afresh", slog.String("poller", name),
			slog.Any("error", err))
		return map[string]string{}
	}
	return revs
}

// pollJob is one poll, run off the actor's mailbox.
type pollJob struct {
	name, repo string
	branches   []string
	dir        string
	lastRev    map[string]string // a copy: the job owns it
	system     *actor.ActorSystem
	log        *slog.Logger
	exists     map[string]bool // whether a revision is in the mirror, as found out
	reported   map[string]bool // revisions whose history has been reported
}

type pollResult struct {
	lastRev map[string]string // the revisions after the poll (saved when they changed)
	added   []uint64          // the changes added, in order
	missing []string          // configured branches the remote does not have
	err     error
	// unsure: a change was sent that was neither added nor refused as
	// invalid (no answer in time, the db failed, the poll was cancelled). It
	// may be durable all the same, with revisions past lastRev: lastRev is
	// not saved over them, and is read from the state again before the next
	// poll.
	unsure bool
}

// run polls once: fetch, then report every new commit, each change carrying
// the revisions as of itself, then save the revisions if they moved further
// than the last change took them (a branch first seen or moved back, a
// commit refused as invalid). Each change is durable before the next is
// sent; the revisions in the state are never past a commit whose change is
// not durable (unless it was refused as invalid, which would otherwise
// wedge the poller).
func (j *pollJob) run(ctx context.Context) pollResult {
	res := pollResult{lastRev: j.lastRev}
	j.exists = map[string]bool{}
	j.reported = map[string]bool{}
	for _, r := range j.lastRev {
		j.reported[r] = true
	}
	tips, missing, err := j.fetch(ctx)
	res.missing = missing
	if err != nil {
		res.err = err
		return res
	}
	newRev := maps.Clone(j.lastRev)
	if newRev == nil {
		newRev = map[string]string{}
	}
	saved := j.lastRev // the revisions in the state
	for _, branch := range slices.Sorted(maps.Keys(tips)) {
		tip, last := tips[branch], newRev[branch]
		if last == tip {
			continue
		}
		if last == "" {
			// The first poll of a branch: record its tip, report nothing.
			newRev[branch] = tip
			continue
		}
		if err := j.report(ctx, branch, last, tip, newRev, &saved, &res); err != nil {
			res.err = err
			break
		}
	}
	if !maps.Equal(newRev, saved) && !res.unsure {
		if err := j.save(newRev); err != nil && res.err == nil {
			res.err = err
		}
	}
	res.lastRev = newRev
	return res
}

// fetch brings the mirror up to date and returns the tips of the watched
// branches, and the configured branches the remote lacks.
func (j *pollJob) fetch(ctx context.Context) (map[string]string, []string, error) {
	if strings.HasPrefix(j.repo, "-") {
		return nil, nil, fmt.Errorf("repo_url %q starts with '-'; refusing to pass it to git", j.repo)
	}
	repo := j.repo
	if !strings.Contains(repo, "://") && !filepath.IsAbs(repo) {
		if _, err := os.Stat(repo); err == nil {
			if abs, err := filepath.Abs(repo); err == nil {
				repo = abs // git runs in the mirror: a relative path would resolve there
			}
		}
	}
	if _, err := os.Stat(filepath.Join(j.dir, "HEAD")); err != nil {
		if err := os.MkdirAll(j.dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("cannot make the mirror directory %s: %w", j.dir, err)
		}
		if _, err := runGit(ctx, gitLocalTimeout, j.dir, "init", "--bare", "--quiet", "."); err != nil {
			return nil, nil, err
		}
	}
	out, err := runGit(ctx, gitFetchTimeout, j.dir, "ls-remote", "--heads", repo)
	if err != nil {
		return nil, nil, err
	}
	remote := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		_, ref, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if b, isHead := strings.CutPrefix(ref, "refs/heads/"); ok && isHead {
			remote[b] = true
		}
	}
	var want, missing []string
	if len(j.branches) == 0 {
		want = slices.Sorted(maps.Keys(remote))
	} else {
		for _, b := range j.branches {
			b = strings.TrimPrefix(b, "refs/heads/")
			if remote[b] {
				want = append(want, b)
			} else {
				missing = append(missing, b)
			}
		}
	}
	if len(want) == 0 {
		return map[string]string{}, missing, nil
	}
	args := []string{"fetch", "--quiet", "--no-tags", "--force", repo}
	if len(j.branches) == 0 {
		args = append(args, "--prune", "+refs/heads/*:"+mirrorRefs+"*")
	} else {
		for _, b := range want {
			args = append(args, "+refs/heads/"+b+":"+mirrorRefs+b)
		}
	}
	if _, err := runGit(ctx, gitFetchTimeout, j.dir, args...); err != nil {
		return nil, missing, err
	}
	out, err = runGit(ctx, gitLocalTimeout, j.dir, "for-each-ref", "--format=%(objectname) %(refname)", mirrorRefs)
	if err != nil {
		return nil, missing, err
	}
	wanted := map[string]bool{}
	for _, b := range want {
		wanted[b] = true
	}
	tips := map[string]string{}
	for line := range strings.Lines(string(out)) {
		sha, ref, ok := strings.Cut(strings.TrimSpace(line), " ")
		if b, mine := strings.CutPrefix(ref, mirrorRefs); ok && mine && wanted[b] {
			tips[b] = sha
		}
	}
	return tips, missing, nil
}

// report adds a change for each commit of last..tip, oldest first, each
// with newRev as of its commit (newRev[branch] is the commit) in the same
// command; newRev[branch] advances past each commit whose change is durable
// (or refused as invalid), and *saved becomes the revisions the last
// durable change carried.
func (j *pollJob) report(ctx context.Context, branch, last, tip string, newRev map[string]string, saved *map[string]string, res *pollResult) error {
	_, err := runGit(ctx, gitLocalTimeout, j.dir, "cat-file", "-e", last+"^{commit}")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	j.exists[last] = err == nil
	if err != nil {
		// Not in the mirror (another repository, or history rewritten and
		// collected): the old revision means nothing here. Start from the tip.
		j.log.Warn("git poller: the last revision seen is not in the repository; reporting from the tip on",
			slog.String("poller", j.name), slog.String("branch", branch), slog.String("last", last), slog.String("tip", tip))
		newRev[branch] = tip
		return nil
	}
	// As Buildbot: the commits of tip not reachable from any revision
	// already reported (of any branch), so that a merge does not report
	// again what another branch did. (The tip a new branch is first seen at
	// was not reported, and does not count.)
	args := []string{"rev-list", "--reverse", tip}
	for _, r := range slices.Sorted(maps.Keys(j.reported)) {
		ok, known := j.exists[r]
		if !known {
			_, err := runGit(ctx, gitLocalTimeout, j.dir, "cat-file", "-e", r+"^{commit}")
			if ctx.Err() != nil {
				return ctx.Err()
			}
			ok = err == nil
			j.exists[r] = ok
		}
		if ok {
			args = append(args, "^"+r)
		}
	}
	out, err := runGit(ctx, gitLocalTimeout, j.dir, append(args, "--")...)
	if err != nil {
		return err
	}
	revs := strings.Fields(string(out))
	for _, rev := range revs {
		c, err := j.change(ctx, branch, rev)
		if err != nil {
			return err
		}
		next := maps.Clone(newRev)
		next[branch] = rev
		st, err := j.revState(next)
		if err != nil {
			return err
		}
		id, err := j.submit(ctx, c, st)
		switch {
		case errors.Is(err, ask.ErrInvalidArgument):
			// Nothing was written: the next change's state, or the
			// poll's final save, moves past this commit.
			j.log.Error("git poller: a commit's change was refused; skipping it", slog.String("poller", j.name),
				slog.String("branch", branch), slog.String("revision", rev), slog.String("error", err.Error()))
		case err != nil:
			res.unsure = true
			return fmt.Errorf("change for %s (branch %s) not added: %w", rev, branch, err)
		default:
			res.added = append(res.added, id)
			*saved = next
		}
		newRev[branch] = rev
	}
	// A branch moved back (or to a commit already seen): nothing new.
	newRev[branch] = tip
	j.reported[tip] = true
	return nil
}

// change reads one commit into a change.
func (j *pollJob) change(ctx context.Context, branch, rev string) (*messages.Change, error) {
	out, err := runGit(ctx, gitLocalTimeout, j.dir, "show", "-s", "--encoding=UTF-8",
		"--format=%an <%ae>%x00%cn <%ce>%x00%ct%x00%B", rev, "--")
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(string(out), "\x00", 4)
	if len(parts) != 4 {
		return nil, fmt.Errorf("git show %s: unexpected output", rev)
	}
	var when int64
	if _, err := fmt.Sscan(parts[2], &when); err != nil {
		return nil, fmt.Errorf("git show %s: commit time %q: %w", rev, parts[2], err)
	}
	// Files as Buildbot lists them: against the first parent, so a merge
	// lists what it brought in.
	out, err = runGit(ctx, gitLocalTimeout, j.dir, "log", "-z", "--name-only", "--no-walk", "--format=",
		"-m", "--first-parent", rev, "--")
	if err != nil {
		return nil, err
	}
	var files []string
	seen := map[string]bool{}
	for _, f := range strings.Split(string(out), "\x00") {
		f = strings.TrimLeft(f, "\n")
		if f == "" || seen[f] || len(f) > state.MaxFileNameBytes || !utf8Valid(f) {
			continue
		}
		seen[f] = true
		files = append(files, f)
		if len(files) == state.MaxFiles {
			break
		}
	}
	comments := strings.TrimRight(strings.ToValidUTF8(parts[3], "\uFFFD"), "\n")
	return &messages.Change{
		Author:        clip(strings.ToValidUTF8(parts[0], "\uFFFD"), state.MaxFieldBytes),
		Committer:     clip(strings.ToValidUTF8(parts[1], "\uFFFD"), state.MaxFieldBytes),
		Comments:      clip(comments, state.MaxCommentsBytes),
		Revision:      rev,
		WhenTimestamp: when,
		Branch:        branch,
		Repository:    withoutPassword(j.repo),
		Files:         files,
	}, nil
}

// submit hands a change, with the poller's state st, to change_svc and
// waits until both are durable. An error matching ask.ErrInvalidArgument
// means that the change was refused and nothing was written: st is known
// good (revState), so the change itself is bad.
func (j *pollJob) submit(ctx context.Context, c *messages.Change, st *messages.SetObjectState) (uint64, error) {
	return addChange(ctx, j.system, &messages.AddChange{Change: c, State: st, AuthorVc: "git"})
}

// revState is the command that records revs as the poller's last
// revisions, checked as the db will check it: an error (say, revisions of
// so many branches that they exceed state.MaxPropertyValueBytes) fails the
// poll rather than have the change it goes with refused as invalid, which
// would skip its commit.
func (j *pollJob) revState(revs map[string]string) (*messages.SetObjectState, error) {
	v, err := json.Marshal(revs)
	if err != nil {
		return nil, err
	}
	st := &messages.SetObjectState{ObjectName: j.name, ClassName: GitPollerClass, Name: LastRevState, ValueJson: string(v)}
	if err := state.CheckObjectState(st); err != nil {
		return nil, fmt.Errorf("cannot save the last revisions: %w", err)
	}
	return st, nil
}

// save writes the revisions to the master's state, and waits until durable.
func (j *pollJob) save(revs map[string]string) error {
	st, err := j.revState(revs)
	if err != nil {
		return err
	}
	if _, err := db.Call(context.Background(), j.system, &messages.Command{Kind: &messages.Command_SetObjectState{SetObjectState: st}}); err != nil {
		return fmt.Errorf("cannot save the last revisions: %w", err)
	}
	return nil
}

// clip cuts s to at most n bytes, at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8Valid(s) {
		s = s[:len(s)-1]
	}
	return s
}

// timings are the durations git's errors carry (curl's "Failed to connect
// to host port 80 after 3 ms"), which differ from one poll to the next.
var timings = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\b\d+ ms\b`) })

// errorKey is a poll error without its timings: two errors with the same
// key are the same error, logged once.
func errorKey(msg string) string { return timings().ReplaceAllString(msg, "N ms") }
