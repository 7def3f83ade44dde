package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/msgpack"
	"github.com/buildmaster/buildmaster/internal/workercmd"
)

// known are the commands run handles, by every name the master may use.
var known = map[string]bool{}

func init() {
	for _, c := range Commands {
		known[c] = true
	}
}

// reporter sends one command's updates and its complete. It is used by
// one goroutine at a time: the command's, or its output's sender. Updates added are sent with the complete,
// in one message with elapsed; those sent go at once (a shell command's
// output while it runs).
type reporter struct {
	cmd     *msgpack.Command
	log     *slog.Logger
	pending []wire.Update
	err     error // the first failure to send: the connection is gone
}

func (r *reporter) add(us ...wire.Update) { r.pending = append(r.pending, us...) }

func (r *reporter) send(us ...wire.Update) {
	if r.err != nil || len(us) == 0 {
		return
	}
	if err := r.cmd.Update(context.Background(), us...); err != nil {
		r.err = err
	}
}

// complete sends what was added, elapsed, then the complete, in one round
// trip (msgpack.Command.Finish).
func (r *reporter) complete(failure error, elapsed time.Duration) {
	if r.err != nil {
		return
	}
	us := append(r.pending, wire.Update{Key: "elapsed", Float: max(elapsed.Seconds(), 1e-9)})
	if err := r.cmd.Finish(context.Background(), us, failure); err != nil {
		r.log.Info("cannot complete the command", "err", err)
	}
}

func rc(n int64) wire.Update          { return wire.Update{Key: "rc", Int: n} }
func header(s string) wire.Update     { return wire.Update{Key: "header", Text: s} }
func stderrText(s string) wire.Update { return wire.Update{Key: "stderr", Text: s} }

// errno is the rc of a failed file operation: its errno, as Buildbot's
// worker answers, else 1.
func errno(err error) int64 {
	var e syscall.Errno
	if errors.As(err, &e) && e != 0 {
		return int64(e)
	}
	return 1
}

// run runs one command and reports on it, complete last. A command whose
// arguments are wrong completes with a failure (the master's step ends
// EXCEPTION); one that fails on the machine ends with its rc.
func (w *worker) run(ctx context.Context, cmd *msgpack.Command, s msgpack.Settings) {
	begin := time.Now()
	r := &reporter{cmd: cmd, log: w.log.With("command_id", cmd.ID, "command", cmd.Name)}
	a := args{m: cmd.Args, basedir: w.o.Basedir}
	var failure error
	switch cmd.Name {
	case "shell":
		failure = w.shell(ctx, r, a, s)
	case "mkdir":
		paths := a.paths("paths")
		if a.err == nil {
			r.fsDone("mkdir", workercmd.Mkdir(paths))
		}
	case "rmdir":
		paths := a.paths("paths")
		if a.err == nil {
			r.fsDone("rmdir", workercmd.Rmdir(paths))
		}
	case "cpdir":
		failure = w.cpdir(ctx, r, a, s)
	case "stat":
		path := a.path("path")
		if a.err == nil {
			st, err := workercmd.Stat(path)
			if err == nil {
				t := st.Tuple()
				v := make([]any, len(t))
				for i, x := range t {
					v[i] = x
				}
				r.add(wire.Update{Key: "stat", Value: v}, rc(0))
			} else {
				r.fsDone("stat", err)
			}
		}
	case "glob":
		r.files("glob", workercmd.Glob, a.path("path"), a.err)
	case "listdir":
		r.files("listdir", workercmd.Listdir, a.path("path"), a.err)
	case "rmfile":
		path := a.path("path")
		if a.err == nil {
			r.fsDone("rmfile", workercmd.Rmfile(path))
		}
	case "upload_file", "uploadFile":
		failure = w.uploadFile(ctx, r, a)
	case "upload_directory", "uploadDirectory":
		failure = w.uploadDirectory(ctx, r, a)
	case "download_file", "downloadFile":
		failure = w.download(ctx, r, a)
	default:
		failure = fmt.Errorf("unknown command %q", cmd.Name)
	}
	if failure == nil {
		failure = a.err
	}
	r.log.Info("command finished", "elapsed", time.Since(begin), "failure", failure)
	r.complete(failure, time.Since(begin))
}

// fsDone reports a file operation: rc 0, or its error as a header line
// and its errno as rc, as Buildbot's worker does.
func (r *reporter) fsDone(op string, err error) {
	if err == nil {
		r.add(rc(0))
		return
	}
	r.add(header(fmt.Sprintf("%s: %v\n", op, err)), rc(errno(err)))
}

// files reports glob or listdir.
func (r *reporter) files(op string, fn func(string) ([]string, error), path string, argErr error) {
	if argErr != nil {
		return
	}
	names, err := fn(path)
	if err != nil {
		r.fsDone(op, err)
		return
	}
	l := make([]any, len(names))
	for i, n := range names {
		l[i] = n
	}
	r.add(wire.Update{Key: "files", Value: l}, rc(0))
}

// args reads a command's arguments as the master sent them; the first
// missing or mistyped one is kept in err.
type args struct {
	m       map[string]any
	basedir string
	err     error
}

func (a *args) fail(format string, v ...any) {
	if a.err == nil {
		a.err = fmt.Errorf(format, v...)
	}
}

func (a *args) str(k string) string {
	s, ok := a.m[k].(string)
	if !ok {
		a.fail("argument %q is missing or not a string", k)
	}
	return s
}

// path is argument k as an absolute path (the master sends absolute
// paths; a relative one is taken relative to the base directory).
func (a *args) path(k string) string {
	p := a.str(k)
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(a.basedir, p)
}

func (a *args) paths(k string) []string {
	var out []string
	switch v := a.m[k].(type) {
	case string:
		out = []string{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				a.fail("argument %q holds a %T, not a string", k, e)
				return nil
			}
			out = append(out, s)
		}
	default:
		a.fail("argument %q is missing or not a list of paths", k)
	}
	for i, p := range out {
		if !filepath.IsAbs(p) {
			out[i] = filepath.Join(a.basedir, p)
		}
	}
	return out
}

// num is a numeric argument in float form; ok is false when it is None
// or missing.
func (a *args) num(k string) (float64, bool) {
	switch v := a.m[k].(type) {
	case nil:
		return 0, false
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	a.fail("argument %q is a %T, not a number", k, a.m[k])
	return 0, false
}

// seconds is a duration argument in seconds; 0 when None.
func (a *args) seconds(k string) time.Duration {
	n, ok := a.num(k)
	if !ok || n <= 0 || n > 1e9 {
		return 0
	}
	return time.Duration(n * float64(time.Second))
}

// integer is an integer argument; -1 when None or missing.
func (a *args) integer(k string) int64 {
	n, ok := a.num(k)
	if !ok {
		return -1
	}
	return int64(n)
}

func (a *args) flag(k string, def bool) bool {
	switch v := a.m[k].(type) {
	case bool:
		return v
	case int64:
		return v != 0
	}
	return def
}

// mkdirs creates path's directory, as Buildbot's worker does for a shell
// command's workdir and a download's destination.
func mkdirs(dir string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
