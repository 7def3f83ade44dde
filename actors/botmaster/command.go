package botmaster

import (
	"context"
	"fmt"
	"time"

	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/messages"
)

// command runs cmd on the build's worker, for the build's builder (paths
// are relative to its builddir), writing its output to log (when not nil)
// as it comes, and returns how it completed and the last 4 KiB of its
// stdout. A StopBuild meanwhile interrupts it.
func (r *runner) command(log *stepLog, cmd *messages.StartCommand) (*messages.CommandComplete, []byte, error) {
	r.seq++
	out := &commandOutput{id: fmt.Sprintf("%d.%d", r.buildid, r.seq), redactor: r.rt.Redactor()}
	cmd.CommandId, cmd.Builder, cmd.Builddir = out.id, r.cfg.GetName(), r.cfg.GetBuilddir()
	r.system.Root.RequestWithCustomSender(r.worker, cmd, r.self)
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
			r.system.Root.Send(r.worker, &messages.InterruptCommand{CommandId: out.id, Why: reason})
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
		log.later(headerLines(out.redactor.Redact(out.done.GetError())))
	}
	return out.done, out.tail, nil
}

// commandOutput is what a running command has sent so far: its log lines
// not yet written, the last tailBytes of its stdout, and, once it is over, how
// it completed. Each stream goes through the redactor of the secrets in
// use as it comes (a value split across updates is still found), so no
// line of the log and nothing of the stdout kept holds a value, as
// Buildbot replaces them with "<NAME>".
type commandOutput struct {
	id       string
	redactor *secrets.Redactor
	redact   [4]*secrets.Writer // by stream, made on first use
	lines    logLines
	tail     []byte
	done     *messages.CommandComplete
}

// take adds an update of the command; one of an earlier command (after its
// complete) is dropped.
func (o *commandOutput) take(u *messages.CommandUpdate) {
	if u.GetCommandId() != o.id {
		return
	}
	for _, out := range u.GetOutputs() {
		if o.redactor == nil || o.redactor.Empty() {
			o.add(out.GetStream(), out.GetData())
			continue
		}
		s := out.GetStream()
		if s < 0 || int(s) >= len(o.redact) {
			s = messages.OutputStream_OUTPUT_STREAM_UNSPECIFIED
		}
		if o.redact[s] == nil {
			o.redact[s] = o.redactor.NewWriter(streamSink{o: o, stream: s})
		}
		_, _ = o.redact[s].Write(out.GetData()) // a streamSink never fails
	}
	if c := u.GetComplete(); c != nil {
		for _, w := range o.redact {
			if w != nil {
				_ = w.Flush()
			}
		}
		o.done = c
	}
}

// add takes output of stream, redacted.
func (o *commandOutput) add(stream messages.OutputStream, data []byte) {
	o.lines.add(stream, data)
	if stream == messages.OutputStream_OUTPUT_STREAM_STDOUT {
		o.tail = appendTail(o.tail, data, tailBytes)
	}
}

// tailBytes is how much of a command's stdout commandOutput keeps.
const tailBytes = 4096

// appendTail appends data to tail and keeps the last n bytes, in tail's
// storage: no more than n bytes of data are copied.
func appendTail(tail, data []byte, n int) []byte {
	if len(data) >= n {
		return append(tail[:0], data[len(data)-n:]...)
	}
	if drop := len(tail) + len(data) - n; drop > 0 {
		tail = tail[:copy(tail, tail[drop:])]
	}
	return append(tail, data...)
}

// streamSink takes one stream's output out of its redacting Writer.
type streamSink struct {
	o      *commandOutput
	stream messages.OutputStream
}

func (s streamSink) Write(p []byte) (int, error) {
	s.o.add(s.stream, p)
	return len(p), nil
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
		f.log.laterTake(&o.lines.out) // goes with the step's finish
	case f.due || o.lines.out.Len() >= LogFlushBytes:
		if err := f.log.write(o.lines.out.Bytes()); err != nil {
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
