package botmaster

import (
	"context"
	"fmt"
	"time"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

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

// How long a command's output may wait before it is written to its log,
// and how much of it: a short command's whole output is written once, with
// its step's finish, and a long one's log still follows it closely. (The
// Buildbot worker itself buffers output up to 5 s or 64 KiB.)
const (
	LogFlushInterval = 500 * time.Millisecond
	LogFlushBytes    = 64 << 10
)
