package botmaster

import (
	"context"
	"fmt"
	"time"

	"github.com/buildmaster/buildmaster/messages"
)

// command runs cmd on the build's worker, for the build's builder (paths
// are relative to its builddir), writing its output to log (when not nil)
// as it comes, and returns how it completed and the last 4 KiB of its
// stdout. A StopBuild meanwhile interrupts it.
func (r *runner) command(log *stepLog, cmd *messages.StartCommand) (*messages.CommandComplete, []byte, error) {
	r.seq++
	out := &commandOutput{id: fmt.Sprintf("%d.%d", r.buildid, r.seq)}
	cmd.CommandId, cmd.Builder, cmd.Builddir = out.id, r.cfg.GetName(), r.cfg.GetBuilddir()
	r.system.Root.RequestWithCustomSender(r.workerPID(), cmd, r.self)
	flusher := newLogFlusher(log)
	defer flusher.timer.Stop()
	for out.done == nil {
		select {
		case u := <-r.updates:
			out.take(u)
			for more := true; more && out.done == nil; {
				select {
				case u := <-r.updates:
					out.take(u)
				default:
					more = false
				}
			}
		case <-flusher.timer.C:
			flusher.due = true
		case reason := <-r.stopped:
			r.stopReason = reason
			r.system.Root.Send(r.workerPID(), &messages.InterruptCommand{CommandId: out.id, Why: reason})
		case <-r.ctx.Done():
			return nil, nil, context.Cause(r.ctx)
		}
		if err := flusher.after(out); err != nil {
			return nil, nil, err
		}
	}
	// The connection adds "program finished with exit code N" (as
	// Buildbot's master does); what went wrong otherwise is added here.
	if log != nil && out.done.GetError() != "" {
		log.later(headerLines(out.done.GetError()))
	}
	return out.done, out.tail, nil
}

// commandOutput is what a running command has sent so far: its log lines
// not yet written, the last 4 KiB of its stdout, and, once it is over, how
// it completed.
type commandOutput struct {
	id    string
	lines logLines
	tail  []byte
	done  *messages.CommandComplete
}

// take adds an update of the command; one of an earlier command (after its
// complete) is dropped.
func (o *commandOutput) take(u *messages.CommandUpdate) {
	if u.GetCommandId() != o.id {
		return
	}
	for _, out := range u.GetOutputs() {
		o.lines.add(out.GetStream(), out.GetData())
		if out.GetStream() == messages.OutputStream_OUTPUT_STREAM_STDOUT {
			o.tail = append(o.tail, out.GetData()...)
			if len(o.tail) > 4096 {
				o.tail = o.tail[len(o.tail)-4096:]
			}
		}
	}
	if c := u.GetComplete(); c != nil {
		o.done = c
	}
}

// logFlusher decides when a command's output is written to its step's log:
// at most LogFlushInterval after it came (or once LogFlushBytes are
// waiting); what is left at the end goes with the step's finish. Its timer
// fires into the command's wait, which then sets due.
type logFlusher struct {
	log     *stepLog // nil: the output goes to no log
	timer   *time.Timer
	waiting bool // the timer runs for output that waits
	due     bool // the timer fired
}

func newLogFlusher(log *stepLog) *logFlusher {
	f := &logFlusher{log: log, timer: time.NewTimer(LogFlushInterval)}
	f.timer.Stop()
	return f
}

// after writes, keeps for the step's finish, or leaves waiting what o holds
// after each event of the command's wait.
func (f *logFlusher) after(o *commandOutput) error {
	if o.done != nil {
		o.lines.flush()
	}
	switch {
	case f.log == nil || o.lines.out.Len() == 0:
	case o.done != nil:
		f.log.later(o.lines.out.String()) // goes with the step's finish
	case f.due || o.lines.out.Len() >= LogFlushBytes:
		if err := f.log.write(o.lines.out.String()); err != nil {
			return err
		}
		o.lines.out.Reset()
		f.timer.Stop()
		f.waiting, f.due = false, false
	case !f.waiting:
		f.timer.Reset(LogFlushInterval)
		f.waiting = true
	}
	return nil
}

// How long a command's output may wait before it is written to its log,
// and how much of it: a short command's whole output is written once, with
// its step's finish, and a long one's log still follows it closely. (The
// Buildbot worker itself buffers output up to 5 s or 64 KiB.)
const (
	LogFlushInterval = 500 * time.Millisecond
	LogFlushBytes    = 64 << 10
)
