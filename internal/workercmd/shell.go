package workercmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Shell is one shell command as the master sends it (Buildbot's "shell"
// command). The zero value of every optional field means "none" or "the
// default".
type Shell struct {
	// Argv is run directly; argv[0] is looked up in the command's own
	// PATH (after Env and Unset), a name with a '/' relative to Workdir.
	Argv []string
	// Script is run with /bin/sh -c when Argv is empty. Setting both is an
	// error.
	Script string
	// Workdir is the directory the command runs in; it must exist ("" is
	// the worker's current directory). PWD is set to its absolute path.
	// Buildbot's worker creates a missing workdir; here the caller does
	// that with Mkdir if it wants to.
	Workdir string
	// BaseEnv is the worker's environment ("KEY=value" entries); nil means
	// os.Environ().
	BaseEnv []string
	// Env is merged over BaseEnv. In its values ${NAME} (NAME of letters,
	// digits and '_') expands to NAME's value in BaseEnv, "" when unset.
	Env map[string]string
	// Unset removes variables from BaseEnv (Buildbot: an env value of
	// None). A name in both Unset and Env gets Env's value.
	Unset []string
	// LogEnviron writes the command's environment to the Header stream.
	// Buildbot's default is true; the transport must apply it.
	LogEnviron bool
	// Timeout kills the command after this long without any output on
	// stdout or stderr; 0 means never.
	Timeout time.Duration
	// MaxTime kills the command after this long in all; 0 means never.
	MaxTime time.Duration
	// SigtermGrace > 0 makes a kill send SIGTERM to the process group
	// first and SIGKILL after this long if the command has not finished
	// (Buildbot's sigtermTime). 0 sends SIGKILL at once, Buildbot's
	// default.
	SigtermGrace time.Duration
	// FlushInterval is how often buffered output is handed to Output
	// (Buildbot's buffer_timeout); 0 means DefaultFlushInterval.
	FlushInterval time.Duration
	// MaxChunk is the largest chunk handed to Output (Buildbot's
	// buffer_size); 0 means DefaultMaxChunk.
	MaxChunk int
}

// Result is how a shell command ended.
type Result struct {
	// ExitCode is the command's exit status; -1 when it was killed by a
	// signal, did not start, or was killed by the worker yet exited 0 (as
	// Buildbot does, so that a killed command never looks successful).
	ExitCode int
	// Signal is the name of the signal that ended the command ("SIGKILL"),
	// "" when it exited.
	Signal string
	// TimedOut: killed after Timeout without output. MaxTimeExceeded:
	// killed after MaxTime. Interrupted: killed because ctx ended. At most
	// one of the three is set: the first reason to kill wins.
	TimedOut, MaxTimeExceeded, Interrupted bool
	// Elapsed is the time from the start of the command to its end.
	Elapsed time.Duration
	// Err is set when the command was not started (bad Shell, missing
	// workdir, program not found, ctx already ended: then Interrupted is
	// set too) or could not be killed; the message says which. When Err is
	// set ExitCode is -1.
	Err error
}

// backupTimeout is how long RunShell waits after SIGKILL before it gives
// up on the command (Buildbot's BACKUP_TIMEOUT).
const backupTimeout = 5 * time.Second

// A pipe reader's buffer starts at firstReadSize bytes, on its goroutine's
// stack, and grows to readSize (on the heap) once a read fills it: most
// commands write little or nothing, and a readSize buffer from the start
// grew every reader's stack to 64 KiB, copying it.
const (
	firstReadSize = 4 << 10
	readSize      = 32 << 10
)

// RunShell runs s and returns once it has ended, handing its output to out
// (nil discards it) while it runs; see the package documentation for the
// contract. When ctx ends the command is killed as the master's interrupt
// ("command interrupted"). The Header stream gets, in Buildbot's words:
// the command, its directory and timeouts, its argv, the environment when
// LogEnviron is set, "command timed out: N seconds without output running
// X, attempting to kill" (or "N seconds elapsed", or "command
// interrupted"), "process killed by signal N" and "elapsedTime=S" (the master
// adds "program finished with exit code N"). A command that cannot start gets one
// header line with the error.
func RunShell(ctx context.Context, s Shell, out Output) Result {
	begin := time.Now()
	flushEvery := s.FlushInterval
	if flushEvery <= 0 {
		flushEvery = DefaultFlushInterval
	}
	maxChunk := s.MaxChunk
	if maxChunk <= 0 {
		maxChunk = DefaultMaxChunk
	}
	ch := newChunker(maxChunk, out)
	fail := func(err error) Result {
		ch.header(err.Error() + "\n")
		return Result{ExitCode: -1, Err: err, Elapsed: time.Since(begin)}
	}

	sp, display, err := prepare(s)
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		res := fail(fmt.Errorf("command interrupted before it started: %w", err))
		res.Interrupted = true
		return res
	}
	ch.header(startHeader(s, sp, display))

	r := &run{
		s: s, ch: ch, sp: sp, display: display,
		data: make(chan piece), done: make(chan struct{}),
	}
	if err := r.start(); err != nil {
		return fail(err)
	}
	abandoned := r.loop(ctx, flushEvery)
	r.stopReading()
	return r.end(abandoned)
}

// piece is what a pipe reader hands to the loop: bytes, or end of stream.
type piece struct {
	s   Stream
	p   []byte
	eof bool
}

// readPipe reads f until it fails (EOF, or closed by RunShell) and hands
// what it read to data, until done is closed.
func readPipe(f *os.File, s Stream, data chan<- piece, done <-chan struct{}) {
	buf := make([]byte, firstReadSize)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			select {
			case data <- piece{s: s, p: bytes.Clone(buf[:n])}:
			case <-done:
				return
			}
			if n == len(buf) && n < readSize {
				buf = make([]byte, readSize)
			}
		}
		if err != nil {
			select {
			case data <- piece{s: s, eof: true}:
			case <-done:
			}
			return
		}
	}
}

// run is the state of one started command, owned by RunShell's goroutine.
type run struct {
	s       Shell
	ch      *chunker
	sp      spec
	display string
	pgid    int // the leader's pid, which is its group's id

	readers sync.WaitGroup
	data    chan piece
	done    chan struct{}
	exited  chan error // the waiter's (watchLeader); nil before

	stdout, stderr *os.File // the read ends of the output pipes
	started        time.Time

	eofs       int
	leaderDone bool
	killing    bool
	idle       *time.Timer // Timeout
	res        Result
}

// start starts the command with its output on two pipes and a reader on
// each. A pipe or start failure is returned, everything opened closed
// again.
func (r *run) start() error {
	stdin, err := devNull()
	if err != nil {
		return err
	}
	defer unix.Close(stdin)
	rOut, wOut, err := outputPipe()
	if err != nil {
		return err
	}
	rErr, wErr, err := outputPipe()
	if err != nil {
		rOut.Close()
		unix.Close(wOut)
		return err
	}
	r.started = time.Now()
	pid, err := r.sp.start(stdin, wOut, wErr)
	unix.Close(wOut)
	unix.Close(wErr)
	if err != nil {
		rOut.Close()
		rErr.Close()
		return fmt.Errorf("cannot start %s: %w", r.display, err)
	}
	r.stdout, r.stderr, r.pgid = rOut, rErr, pid
	r.readers.Go(func() { readPipe(rOut, Stdout, r.data, r.done) })
	r.readers.Go(func() { readPipe(rErr, Stderr, r.data, r.done) })
	return nil
}

// watchLeader is called once both pipes are closed: it sets leaderDone if
// the leader has exited, else it starts a waiter for its exit (waitExit)
// whose answer comes on exited. Most commands close their output by
// exiting, so one waitid usually answers, without the waiter's pidfd,
// poller registration and goroutine: system calls that a virtual machine
// makes dear, for every command.
func (r *run) watchLeader() {
	if hasExited(r.pgid) {
		r.leaderDone = true
		return
	}
	r.exited = make(chan error, 1)
	go func() { r.exited <- waitExit(r.pgid) }()
}

// stopReading stops the pipe readers and closes the pipes.
func (r *run) stopReading() {
	close(r.done)
	r.stdout.Close()
	r.stderr.Close()
	r.readers.Wait()
}

// end reaps the command (unless it was abandoned: then it is reaped in the
// background if it ever dies) and returns how it ended.
func (r *run) end(abandoned bool) Result {
	if abandoned {
		go reap(r.pgid) // reap it if it ever dies
		r.res.ExitCode = -1
		r.res.Elapsed = time.Since(r.started)
		return r.res
	}
	if r.killing {
		// Group members that survived SIGTERM, or that closed their
		// output early: the leader is not reaped yet, so pgid is still
		// this group's id.
		r.kill(syscall.SIGKILL)
	}
	ws, waitErr := reap(r.pgid)
	r.res.Elapsed = time.Since(r.started)
	r.finish(ws, waitErr)
	return r.res
}

// loop runs until the leader has exited and both pipes are closed. It
// returns true when the command was abandoned because SIGKILL did not end
// it within backupTimeout; r.res then says so.
func (r *run) loop(ctx context.Context, flushEvery time.Duration) (abandoned bool) {
	ticker := time.NewTicker(flushEvery)
	defer ticker.Stop()
	d := r.arm(ctx)
	defer d.stop()
	for r.eofs < 2 || !r.leaderDone {
		select {
		case p := <-r.data:
			r.take(p)
		case <-r.exited:
			// An error here (it should not happen) leaves the verdict to
			// reap.
			r.leaderDone = true
		case <-ticker.C:
			r.ch.tick()
		case <-d.idle:
			// Output may be waiting that arrived in time but was not
			// taken yet, for instance because out was slow.
			select {
			case p := <-r.data:
				r.take(p)
				continue
			default:
			}
			r.res.TimedOut = true
			r.startKill(d, fmt.Sprintf("command timed out: %s seconds without output running %s",
				seconds(r.s.Timeout), r.display))
		case <-d.max:
			r.res.MaxTimeExceeded = true
			r.startKill(d, fmt.Sprintf("command timed out: %s seconds elapsed running %s",
				seconds(r.s.MaxTime), r.display))
		case <-d.ctx:
			r.res.Interrupted = true
			r.startKill(d, "command interrupted")
		case <-d.grace:
			d.grace = nil
			r.kill(syscall.SIGKILL)
			d.backup = time.After(backupTimeout)
		case <-d.backup:
			if !r.leaderDone {
				// Ask now: the leader is watched only once the
				// output is closed (watchLeader).
				r.leaderDone = hasExited(r.pgid)
			}
			if !r.leaderDone {
				r.ch.header("SIGKILL failed to kill process\nusing fake rc=-1\n")
				r.res.Err = errors.New("SIGKILL failed to kill process")
				return true
			}
			// The leader is dead but something outside the group (it
			// called setsid) holds the output pipes open.
			r.ch.header("output still open after the process group was killed; not waiting for it\n")
			return false
		}
	}
	return false
}

// deadlines are what loop waits for besides output and the leader's exit:
// the reasons to kill (Timeout without output, MaxTime, ctx) until a kill
// starts, then the SIGTERM grace and the SIGKILL backup. A nil channel is
// not armed.
type deadlines struct {
	idle, max, grace, backup <-chan time.Time
	ctx                      <-chan struct{}
	timers                   []*time.Timer // to stop when loop ends
}

// arm starts the timers of Timeout (r.idle, reset by output) and MaxTime.
func (r *run) arm(ctx context.Context) *deadlines {
	d := &deadlines{ctx: ctx.Done()}
	if r.s.Timeout > 0 {
		r.idle = time.NewTimer(r.s.Timeout)
		d.timers = append(d.timers, r.idle)
		d.idle = r.idle.C
	}
	if r.s.MaxTime > 0 {
		t := time.NewTimer(r.s.MaxTime)
		d.timers = append(d.timers, t)
		d.max = t.C
	}
	return d
}

// stop stops every timer armed.
func (d *deadlines) stop() {
	for _, t := range d.timers {
		t.Stop()
	}
}

// startKill starts killing the command for the reason msg: SIGTERM and the
// grace timer when SigtermGrace is set, else SIGKILL and the backup timer.
// The reasons to kill are disarmed: the first one wins.
func (r *run) startKill(d *deadlines, msg string) {
	r.killing = true
	d.idle, d.max, d.ctx = nil, nil, nil
	r.ch.header("\n" + msg + ", attempting to kill\n")
	if r.s.SigtermGrace > 0 {
		r.kill(syscall.SIGTERM)
		grace := time.NewTimer(r.s.SigtermGrace)
		d.timers = append(d.timers, grace)
		d.grace = grace.C
		return
	}
	r.kill(syscall.SIGKILL)
	d.backup = time.After(backupTimeout)
}

// take hands one piece of output to the chunker.
func (r *run) take(p piece) {
	if p.eof {
		if r.eofs++; r.eofs == 2 {
			r.watchLeader()
		}
		return
	}
	r.ch.add(p.s, p.p)
	if r.idle != nil && !r.killing {
		r.idle.Reset(r.s.Timeout)
	}
}

// kill signals the command's process group; a failure goes to the header.
func (r *run) kill(sig syscall.Signal) {
	if err := killGroup(r.pgid, sig); err != nil {
		r.ch.header(fmt.Sprintf("failed to send %s to process group %d: %v\n", signalName(sig), r.pgid, err))
	}
}

// finish fills r.res from the reaped command's status ws (or the error
// that reaping it returned) and writes the final headers.
func (r *run) finish(ws syscall.WaitStatus, waitErr error) {
	r.ch.flush()
	if waitErr != nil {
		r.res.ExitCode = -1
		r.res.Err = fmt.Errorf("waiting for %s: %w", r.display, waitErr)
		r.ch.header(r.res.Err.Error() + "\n")
		return
	}
	switch {
	case ws.Signaled():
		r.res.ExitCode = -1
		r.res.Signal = signalName(ws.Signal())
		r.ch.header(fmt.Sprintf("process killed by signal %d\n", int(ws.Signal())))
	default:
		r.res.ExitCode = ws.ExitStatus()
		if r.killing && r.res.ExitCode == 0 {
			r.res.ExitCode = -1
		}
	}
	// The master adds "program finished with exit code N" when it gets
	// the rc, as Buildbot's does.
	r.ch.header(fmt.Sprintf("elapsedTime=%0.6f\n", r.res.Elapsed.Seconds()))
}

// prepare checks s and builds the command, not started. display is how
// the command is shown in headers.
func prepare(s Shell) (sp spec, display string, err error) {
	var argv []string
	switch {
	case len(s.Argv) > 0 && s.Script != "":
		return spec{}, "", errors.New("shell: both Argv and Script are set")
	case len(s.Argv) > 0:
		argv = s.Argv
		display = shellQuote(argv)
	case s.Script != "":
		argv = []string{"/bin/sh", "-c", s.Script}
		display = s.Script
	default:
		return spec{}, "", errors.New("shell: no command (Argv and Script are both empty)")
	}

	wd := s.Workdir
	if wd == "" {
		wd = "."
	}
	abs, err := filepath.Abs(wd)
	if err != nil {
		return spec{}, "", fmt.Errorf("workdir %q: %w", s.Workdir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return spec{}, "", fmt.Errorf("workdir %q does not exist: %w", abs, err)
	case err != nil:
		return spec{}, "", fmt.Errorf("workdir %q: %w", abs, err)
	case !fi.IsDir():
		return spec{}, "", fmt.Errorf("workdir %q is not a directory", abs)
	}

	env, err := buildEnv(baseEnv(s.BaseEnv), s.Env, s.Unset)
	if err != nil {
		return spec{}, "", err
	}
	env = setEnv(env, "PWD", abs)

	path, err := lookPath(argv[0], env, abs)
	if err != nil {
		return spec{}, "", err
	}
	return spec{path: path, argv: argv, env: env, dir: abs}, display, nil
}

// setEnv sets key in a sorted environment, keeping it sorted.
func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	out = append(out, key+"="+value)
	slices.Sort(out)
	return out
}

// startHeader is what Buildbot writes before a command runs.
func startHeader(s Shell, sp spec, display string) string {
	var b strings.Builder
	b.WriteString(display + "\n")
	b.WriteString(" in dir " + sp.dir)
	if s.Timeout > 0 {
		b.WriteString(" (timeout " + seconds(s.Timeout) + " " + secUnit(s.Timeout) + ")")
	}
	if s.MaxTime > 0 {
		b.WriteString(" (maxTime " + seconds(s.MaxTime) + " " + secUnit(s.MaxTime) + ")")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, " argv: %q\n", sp.argv)
	if s.LogEnviron {
		b.WriteString(" environment:\n")
		for _, kv := range sp.env {
			b.WriteString("  " + kv + "\n")
		}
	}
	return b.String()
}

// seconds formats d as Buildbot formats a number of seconds: 2, 0.3.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

func secUnit(d time.Duration) string {
	if d == time.Second {
		return "sec"
	}
	return "secs"
}

// shellQuote joins argv so that /bin/sh would split it back.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
