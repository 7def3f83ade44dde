package botmaster

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// DefaultTimeout is a shell step's timeout without output when it sets
// none, as in Buildbot.
const DefaultTimeout = 1200 * time.Second

// step runs one step: it adds it (with its stdio log), runs it, and returns
// its results; its finish is left in r.finishing, to be written with what
// comes next. An error means the state could not be written.
func (r *runner) step(cfg *messages.StepConfig) (int32, error) {
	select {
	case reason := <-r.stopped:
		r.stopReason = reason
	default:
	}
	if r.stopReason != "" && !cfg.GetAlwaysRun() {
		if ids := r.started; ids != nil { // AddBuild started it: it ends at once
			r.started = nil
			r.finishing = &messages.FinishStep{Stepid: ids[0], Results: state.ResultCancelled, CompleteAt: time.Now().Unix()}
		}
		return state.ResultCancelled, nil
	}
	ids, err := r.startStep(newStep(cfg))
	if err != nil {
		return 0, err
	}
	stepid := ids[0]
	log := &stepLog{r: r, id: ids[1]}
	var results int32
	switch k := cfg.GetKind().(type) {
	case *messages.StepConfig_Shell:
		results, err = r.shell(log, k.Shell)
	case *messages.StepConfig_Git:
		results, err = r.git(log, k.Git)
	case *messages.StepConfig_Trigger:
		results, err = r.trigger(log, k.Trigger)
	case *messages.StepConfig_SetProperty:
		value := r.props.interpolate(k.SetProperty.GetValue())
		r.props.set(k.SetProperty.GetProperty(), jsonString(value), "SetPropertyFromCommand")
		if _, err = r.call(&messages.Command{Kind: &messages.Command_SetBuildProperties{SetBuildProperties: &messages.SetBuildProperties{
			Buildid: r.buildid, Properties: []*messages.Property{r.props.get(k.SetProperty.GetProperty())}}}}); err == nil {
			err = log.header(fmt.Sprintf("property %s set to %s", k.SetProperty.GetProperty(), jsonString(value)))
		}
	default:
		results = state.ResultException
		err = log.header(fmt.Sprintf("%T steps are not supported", k))
	}
	if err != nil {
		return 0, err
	}
	app, err := log.finish()
	if err != nil {
		return 0, err
	}
	r.finishing = &messages.FinishStep{Stepid: stepid, Results: results, CompleteAt: time.Now().Unix(), Append: app}
	return results, nil
}

// newStep is the AddStep that starts a step of cfg, now.
func newStep(cfg *messages.StepConfig) *messages.AddStep {
	return &messages.AddStep{Name: cfg.GetName(), StartedAt: time.Now().Unix(), LogNames: []string{"stdio"}}
}

// startStep starts step in the build, with the finish of the step before
// it (one write), unless AddBuild started it; it returns the step's id,
// then its logs' ids.
func (r *runner) startStep(step *messages.AddStep) ([]uint64, error) {
	if ids := r.started; ids != nil {
		r.started = nil
		return ids, nil
	}
	if r.finishing == nil {
		step.Buildid = r.buildid
		res, err := r.call(&messages.Command{Kind: &messages.Command_AddStep{AddStep: step}})
		if err != nil {
			return nil, err
		}
		return append([]uint64{res.GetId()}, res.GetIds()...), nil
	}
	fin := proto.CloneOf(r.finishing)
	fin.Next = step
	res, err := r.call(&messages.Command{Kind: &messages.Command_FinishStep{FinishStep: fin}})
	if err != nil {
		return nil, err
	}
	r.finishing = nil
	return res.GetIds(), nil
}

// trigger has triggerable schedulers add buildsets on this build's
// sourcestamps (Buildbot's Trigger step) and, with wait_for_finish, waits
// for them: the step's results are then the worst of theirs.
func (r *runner) trigger(log *stepLog, t *messages.TriggerStep) (int32, error) {
	req, _ := state.Lookup(r.rt.DB.Read(), state.TableBuildRequests, r.start.GetBrids()[0]).(*messages.BuildRequest)
	bs, _ := state.Lookup(r.rt.DB.Read(), state.TableBuildsets, req.GetBuildsetid()).(*messages.Buildset)
	manager := actor.NewPID(r.self.Address, paths.Schedulers)
	waiting := map[uint64]bool{}
	results := int32(state.ResultSuccess)
	for _, name := range t.GetSchedulers() {
		r.system.Root.RequestWithCustomSender(manager, &messages.TriggerBuilds{Scheduler: name, SourcestampIds: bs.GetSourcestampIds(),
			ParentBuildid: r.buildid, WaitedFor: t.GetWaitForFinish()}, r.self)
		ev, err := r.event(func(m proto.Message) bool { _, ok := m.(*messages.Triggered); return ok })
		if err != nil {
			return 0, err
		}
		if ev == nil { // stopped
			return state.ResultCancelled, nil
		}
		tr := ev.(*messages.Triggered)
		if tr.GetError() != "" {
			if err := log.header(fmt.Sprintf("trigger %s: %s", name, tr.GetError())); err != nil {
				return 0, err
			}
			results = state.Worst(results, state.ResultException)
			continue
		}
		if err := log.header(fmt.Sprintf("triggered %s: buildset %d, build requests %v", name, tr.GetBuildsetid(), tr.GetBrids())); err != nil {
			return 0, err
		}
		waiting[tr.GetBuildsetid()] = true
	}
	if !t.GetWaitForFinish() {
		return results, nil
	}
	for len(waiting) > 0 {
		ev, err := r.event(func(m proto.Message) bool {
			c, ok := m.(*messages.BuildsetCompleted)
			return ok && waiting[c.GetBuildsetid()]
		})
		if err != nil {
			return 0, err
		}
		if ev == nil { // stopped
			return state.ResultCancelled, nil
		}
		c := ev.(*messages.BuildsetCompleted)
		delete(waiting, c.GetBuildsetid())
		results = state.Worst(results, c.GetResults())
		if err := log.header(fmt.Sprintf("buildset %d finished: %s", c.GetBuildsetid(), resultString(c.GetResults()))); err != nil {
			return 0, err
		}
	}
	return results, nil
}

// event waits for the next event that want accepts (others are dropped);
// nil when the build is stopped meanwhile.
func (r *runner) event(want func(proto.Message) bool) (proto.Message, error) {
	for {
		select {
		case m := <-r.events:
			if want(m) {
				return m, nil
			}
		case reason := <-r.stopped:
			r.stopReason = reason
			return nil, nil
		case <-r.ctx.Done():
			return nil, context.Cause(r.ctx)
		}
	}
}

// workdir is a step's directory, relative to the worker's basedir: the
// builder's builddir, then the step's workdir (default "build").
func (r *runner) workdir(dir string) string {
	if dir == "" {
		dir = "build"
	}
	return path.Join(r.cfg.GetBuilddir(), r.props.interpolate(dir))
}

func (r *runner) shell(log *stepLog, s *messages.ShellStep) (int32, error) {
	sh := &messages.ShellCommand{Script: r.props.interpolate(s.GetScript()), Workdir: r.workdir(s.GetWorkdir()),
		Env: map[string]string{}, Timeout: s.GetTimeout(), MaxTime: s.GetMaxTime()}
	for _, a := range s.GetCommand() {
		sh.Argv = append(sh.Argv, r.props.interpolate(a))
	}
	for k, v := range r.cfg.GetEnv() {
		sh.Env[k] = r.props.interpolate(v)
	}
	for k, v := range s.GetEnv() {
		sh.Env[k] = r.props.interpolate(v)
	}
	if sh.Timeout == nil {
		sh.Timeout = durationpb.New(DefaultTimeout)
	}
	c, _, err := r.command(log, &messages.StartCommand{Command: &messages.StartCommand_Shell{Shell: sh}})
	if err != nil {
		return 0, err
	}
	return commandResults(c), nil
}

// git checks out the repository into the build directory with real git on
// the worker (clone, or fetch into an existing clone), at the build's
// revision when it has one, and sets got_revision.
func (r *runner) git(log *stepLog, g *messages.GitStep) (int32, error) {
	repo := r.props.interpolate(g.GetRepoUrl())
	branch := r.props.interpolate(g.GetBranch())
	if branch == "" {
		branch = r.props.str("branch")
	}
	rev := r.props.str("revision")
	var script strings.Builder
	script.WriteString("set -e\n")
	if g.GetMode() == "full" {
		script.WriteString("find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +\n")
	}
	ref := "HEAD"
	if branch != "" {
		ref = branch
	}
	fmt.Fprintf(&script, "if [ -d .git ]; then git fetch --tags %s %s && git checkout -f FETCH_HEAD; else git clone %s . ", quote(repo), quote(ref), quote(repo))
	if branch != "" {
		fmt.Fprintf(&script, "--branch %s", quote(branch))
	}
	script.WriteString("; fi\n")
	if rev != "" {
		fmt.Fprintf(&script, "git checkout -f %s\n", quote(rev))
	}
	script.WriteString("git rev-parse HEAD\n")
	c, stdout, err := r.command(log, &messages.StartCommand{Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{
		Script: script.String(), Workdir: r.workdir(""), Timeout: durationpb.New(DefaultTimeout)}}})
	if err != nil {
		return 0, err
	}
	results := commandResults(c)
	if results == state.ResultSuccess {
		lines := strings.Fields(string(stdout))
		if len(lines) > 0 {
			got := lines[len(lines)-1]
			r.props.set("got_revision", jsonString(got), "Git")
			if _, err := r.call(&messages.Command{Kind: &messages.Command_SetBuildProperties{SetBuildProperties: &messages.SetBuildProperties{
				Buildid: r.buildid, Properties: []*messages.Property{r.props.get("got_revision")}}}}); err != nil {
				return 0, err
			}
		}
	}
	return results, nil
}

// commandResults maps how a command ended to a step's results.
func commandResults(c *messages.CommandComplete) int32 {
	switch {
	case c.GetLostConnection():
		return state.ResultRetry
	case c.GetInterrupted():
		return state.ResultCancelled
	case c.GetError() != "" && c.GetRc() == -1 && !c.GetTimedOut() && !c.GetMaxTimeExceeded():
		return state.ResultException
	case c.GetRc() != 0:
		return state.ResultFailure
	}
	return state.ResultSuccess
}

// command runs cmd on the build's worker, writing its output to log (when
// not nil) as it comes, and returns how it completed and the last 4 KiB of
// its stdout. A StopBuild meanwhile interrupts it.
func (r *runner) command(log *stepLog, cmd *messages.StartCommand) (*messages.CommandComplete, []byte, error) {
	r.seq++
	id := fmt.Sprintf("%d.%d", r.buildid, r.seq)
	cmd.CommandId = id
	r.system.Root.RequestWithCustomSender(r.workerPID(), cmd, r.self)
	lines := &logLines{}
	var tail []byte
	var done *messages.CommandComplete
	take := func(u *messages.CommandUpdate) {
		if u.GetCommandId() != id {
			return // an update of an earlier command, after its complete
		}
		for _, o := range u.GetOutputs() {
			lines.add(o.GetStream(), o.GetData())
			if o.GetStream() == messages.OutputStream_OUTPUT_STREAM_STDOUT {
				tail = append(tail, o.GetData()...)
				if len(tail) > 4096 {
					tail = tail[len(tail)-4096:]
				}
			}
		}
		if c := u.GetComplete(); c != nil {
			done = c
		}
	}
	// Output is written at most LogFlushInterval after it came (or once
	// LogFlushBytes are waiting); what is left at the end goes with the
	// step's finish.
	flush := time.NewTimer(LogFlushInterval)
	flush.Stop()
	defer flush.Stop()
	waiting, due := false, false
	for done == nil {
		select {
		case u := <-r.updates:
			take(u)
			for more := true; more && done == nil; {
				select {
				case u := <-r.updates:
					take(u)
				default:
					more = false
				}
			}
		case <-flush.C:
			due = true
		case reason := <-r.stopped:
			r.stopReason = reason
			r.system.Root.Send(r.workerPID(), &messages.InterruptCommand{CommandId: id, Why: reason})
		case <-r.ctx.Done():
			return nil, nil, context.Cause(r.ctx)
		}
		if done != nil {
			lines.flush()
		}
		switch {
		case log == nil || lines.out.Len() == 0:
		case done != nil:
			log.later(lines.out.String()) // goes with the step's finish
		case due || lines.out.Len() >= LogFlushBytes:
			if err := log.write(lines.out.String()); err != nil {
				return nil, nil, err
			}
			lines.out.Reset()
			flush.Stop()
			waiting, due = false, false
		case !waiting:
			flush.Reset(LogFlushInterval)
			waiting = true
		}
	}
	// The worker writes "program finished with exit code N" and the like
	// itself; the master adds what only it knows.
	if log != nil && done.GetLostConnection() {
		log.later(headerLines(done.GetError()))
	}
	return done, tail, nil
}

// How long a command's output may wait before it is written to its log,
// and how much of it: a short command's whole output is written once, with
// its step's finish, and a long one's log still follows it closely. (The
// Buildbot worker itself buffers output up to 5 s or 64 KiB.)
const (
	LogFlushInterval = 500 * time.Millisecond
	LogFlushBytes    = 64 << 10
)

// MaxLineBytes is where a longer line of output is cut into several, as
// Buildbot's max_line_length.
const MaxLineBytes = 4096

// logLines turns a command's output streams into the lines of a stdio log
// in Buildbot's form: each line prefixed by its stream, o (stdout), e
// (stderr) or h (header). A line is written once complete (or once it
// reaches MaxLineBytes); flush ends the lines left open.
type logLines struct {
	partial [4][]byte // by stream
	out     bytes.Buffer
}

var streamPrefix = [4]byte{'h', 'o', 'e', 'h'} // by messages.OutputStream

func (l *logLines) add(stream messages.OutputStream, data []byte) {
	s := int(stream)
	if s < 0 || s >= len(l.partial) {
		s = 0
	}
	p := append(l.partial[s], data...)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 && len(p) < MaxLineBytes {
			break
		}
		n := i + 1
		if i < 0 || i >= MaxLineBytes {
			n = completeUTF8(p[:MaxLineBytes])
		}
		l.line(s, p[:n])
		p = p[n:]
	}
	l.partial[s] = append(l.partial[s][:0], p...)
}

func (l *logLines) line(stream int, text []byte) {
	l.out.WriteByte(streamPrefix[stream])
	l.out.Write(bytes.TrimSuffix(text, []byte("\n")))
	l.out.WriteByte('\n')
}

func (l *logLines) flush() {
	for s, p := range l.partial {
		if len(p) > 0 {
			l.line(s, p)
			l.partial[s] = l.partial[s][:0]
		}
	}
}

// stepLog writes a step's log through the db service, in pieces within
// state.MaxLogAppendBytes, cut after a newline where there is one.
type stepLog struct {
	r       *runner
	id      uint64
	pending strings.Builder // see later
}

// header writes text as header lines (the h stream).
func (l *stepLog) header(text string) error { return l.write(headerLines(text)) }

func headerLines(text string) string {
	if text == "" {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		b.WriteString("h" + line + "\n")
	}
	return b.String()
}

// later keeps s to be added with the step's finish, in the same write.
func (l *stepLog) later(s string) { l.pending.WriteString(s) }

// finish returns what later kept, as the AppendLog the step's finish
// carries (nil when nothing); what does not fit in one is written first.
func (l *stepLog) finish() (*messages.AppendLog, error) {
	s := strings.ToValidUTF8(l.pending.String(), "\uFFFD")
	l.pending.Reset()
	if len(s) > state.MaxLogAppendBytes {
		cut := len(s) - state.MaxLogAppendBytes
		if i := strings.IndexByte(s[cut:], '\n'); i >= 0 && cut+i+1 < len(s) {
			cut += i + 1
		}
		if err := l.write(s[:cut]); err != nil {
			return nil, err
		}
		s = s[cut:]
	}
	if s == "" {
		return nil, nil
	}
	return &messages.AppendLog{Logid: l.id, Content: s}, nil
}

func (l *stepLog) write(s string) error {
	s = strings.ToValidUTF8(s, "\uFFFD") // a log holds text; invalid bytes cannot be stored
	for len(s) > 0 {
		n := min(len(s), state.MaxLogAppendBytes)
		if n < len(s) {
			if i := bytes.LastIndexByte([]byte(s[:n]), '\n'); i > 0 {
				n = i + 1
			}
		}
		if _, err := l.r.call(&messages.Command{Kind: &messages.Command_AppendLog{AppendLog: &messages.AppendLog{
			Logid: l.id, Content: s[:n]}}}); err != nil {
			return err
		}
		s = s[n:]
	}
	return nil
}

// completeUTF8 is the length of b without a last character cut short.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// quote quotes s for /bin/sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
