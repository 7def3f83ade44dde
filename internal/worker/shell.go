package worker

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/msgpack"
	"github.com/buildmaster/buildmaster/internal/workercmd"
)

// MaxOutputUpdate bounds the output one update carries, whatever the
// master's buffer_size: an update is one message, which the master takes
// up to 1 MiB.
const MaxOutputUpdate = 256 << 10

var streamKeys = map[workercmd.Stream]string{workercmd.Stdout: "stdout", workercmd.Stderr: "stderr", workercmd.Header: "header"}

// shell runs Buildbot's shell command: command (a list, run as it is, or a
// string, run with /bin/sh -c) in workdir (created when missing), with env
// over the worker's environment, timeout (without output), maxTime,
// sigtermTime, want_stdout, want_stderr and logEnviron. Its rc is the
// command's exit code (-1 when it was killed).
func (w *worker) shell(ctx context.Context, r *reporter, a args, s msgpack.Settings) error {
	workdir := a.path("workdir")
	sh := workercmd.Shell{Workdir: workdir, Timeout: a.seconds("timeout"), MaxTime: a.seconds("maxTime"),
		SigtermGrace: a.seconds("sigtermTime"), LogEnviron: a.flag("logEnviron", true)}
	switch c := a.m["command"].(type) {
	case string:
		sh.Script = c
	case []any:
		for _, e := range c {
			sh.Argv = append(sh.Argv, argString(e))
		}
	default:
		a.fail(`argument "command" is a %T, not a string or a list`, a.m["command"])
	}
	sh.Env, sh.Unset = environment(a.m["env"])
	if a.err != nil {
		return a.err
	}
	if err := mkdirs(workdir); err != nil {
		r.add(header(fmt.Sprintf("cannot create the workdir: %v\n", err)), rc(-1))
		return nil
	}
	want := map[string]bool{"stdout": a.flag("want_stdout", true), "stderr": a.flag("want_stderr", true), "header": true}
	w.runShell(ctx, r, sh, s, want)
	return nil
}

// runShell runs sh, sending its output (of the streams in want; nil: all)
// as it comes, and adds what is left and its rc for the complete.
func (w *worker) runShell(ctx context.Context, r *reporter, sh workercmd.Shell, s msgpack.Settings, want map[string]bool) {
	sh.FlushInterval = w.o.OutputHold
	sh.MaxChunk = int(min(max(s.BufferSize, 4<<10), MaxOutputUpdate))
	out := newOutputSender(r, w.o.OutputHold, sh.MaxChunk)
	res := workercmd.RunShell(ctx, sh, func(st workercmd.Stream, chunk []byte) {
		if key := streamKeys[st]; want == nil || want[key] {
			out.add(wire.Update{Key: key, Text: string(chunk)})
		}
	})
	r.add(out.finish()...)
	r.add(rc(int64(res.ExitCode)))
}

// argString is one element of an argv: a string, or Buildbot's obfuscated
// ("obfuscated", real, fake) triple, whose real value runs.
func argString(e any) string {
	switch v := e.(type) {
	case string:
		return v
	case []any:
		if len(v) == 3 && v[0] == "obfuscated" {
			if s, ok := v[1].(string); ok {
				return s
			}
		}
	}
	return fmt.Sprint(e)
}

// environment is Buildbot's env argument: a value is a string, a list of
// strings (joined with the path list separator) or None (unset).
func environment(v any) (map[string]string, []string) {
	m, _ := v.(map[string]any)
	env := map[string]string{}
	var unset []string
	for k, x := range m {
		switch val := x.(type) {
		case nil:
			unset = append(unset, k)
		case string:
			env[k] = val
		case []any:
			parts := make([]string, len(val))
			for i, p := range val {
				parts[i] = fmt.Sprint(p)
			}
			env[k] = strings.Join(parts, string(os.PathListSeparator))
		default:
			env[k] = fmt.Sprint(val)
		}
	}
	return env, unset
}

// outputSender sends a command's output while it runs: what arrives is
// gathered for up to hold (or max bytes), neighbours of one stream merged,
// and sent in one update, by a timer's function (or by add itself once max
// bytes wait), one update at a time and in order; add blocks while a full
// update cannot go, which slows the command down rather than filling
// memory. What is left at the end goes with the command's rc (finish). It
// has no goroutine of its own: a short command's output never leaves
// before finish.
type outputSender struct {
	r    *reporter
	hold time.Duration
	max  int

	sending sync.Mutex // held while an update is sent

	mu      sync.Mutex
	pending []wire.Update
	size    int
	timer   *time.Timer // sends what waits after hold; armed while something waits
	armed   bool
	done    bool // finish took what was left
}

func newOutputSender(r *reporter, hold time.Duration, max int) *outputSender {
	return &outputSender{r: r, hold: hold, max: max}
}

func (o *outputSender) add(u wire.Update) {
	o.mu.Lock()
	if n := len(o.pending); n > 0 && o.pending[n-1].Key == u.Key {
		o.pending[n-1].Text += u.Text
	} else {
		o.pending = append(o.pending, u)
	}
	o.size += len(u.Text)
	full := o.size >= o.max
	if !full && !o.armed {
		if o.timer == nil {
			o.timer = time.AfterFunc(o.hold, o.flush)
		} else {
			o.timer.Reset(o.hold)
		}
		o.armed = true
	}
	o.mu.Unlock()
	if full {
		o.flush()
	}
}

// flush sends what waits, after any update under way.
func (o *outputSender) flush() {
	o.sending.Lock()
	defer o.sending.Unlock()
	o.mu.Lock()
	us := o.pending
	o.pending, o.size = nil, 0
	if o.armed {
		o.timer.Stop()
		o.armed = false
	}
	done := o.done
	o.mu.Unlock()
	if !done && len(us) > 0 {
		o.r.send(us...)
	}
}

// finish returns the output not sent yet, once any update under way has
// gone.
func (o *outputSender) finish() []wire.Update {
	o.sending.Lock()
	defer o.sending.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
	if o.timer != nil {
		o.timer.Stop()
	}
	us := o.pending
	o.pending = nil
	return us
}
