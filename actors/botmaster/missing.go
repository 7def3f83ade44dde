package botmaster

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/messages"
)

// A worker away for its missing_timeout (disconnected, or not connected
// since the master started) is missing, as in Buildbot: the log says so
// and, when its notify_on_missing lists addresses, the state queues one
// notice per absence for the mail reporters (WorkerMissing, in their
// outbox, so that a restart loses none). The timer is disarmed when the
// worker attaches again, and started anew when the timeout changes.

// armMissing starts the missing timer from now, unless the worker is
// attached or its missing_timeout is 0.
func (w *workerActor) armMissing(ctx actor.Context) {
	w.disarmMissing()
	timeout := w.cell.Load().GetMissingTimeout().AsDuration()
	if w.conn != nil || timeout <= 0 {
		return
	}
	w.missing.seq++
	w.missing.timeout, w.missing.at = timeout, w.now().Add(timeout)
	w.missing.cancel = w.timers.SendOnce(timeout, ctx.Self(), missingCheck{seq: w.missing.seq})
}

// disarmMissing stops the missing timer.
func (w *workerActor) disarmMissing() {
	if w.missing.cancel != nil {
		w.missing.cancel()
	}
	w.missing.cancel, w.missing.at, w.missing.timeout = nil, time.Time{}, 0
}

// missingNow: the timer fired with the worker still away.
func (w *workerActor) missingNow(ctx actor.Context) {
	cfg := w.cell.Load()
	w.disarmMissing()
	w.publish(ctx)
	if w.retiring || w.shuttingDown {
		return // Buildbot tells only about workers still in the config
	}
	w.rt.Log.Warn("worker is missing", slog.String("worker", w.name()),
		slog.Duration("missing_timeout", cfg.GetMissingTimeout().AsDuration()), slog.Int("notify", len(cfg.GetNotifyOnMissing())))
	if len(cfg.GetNotifyOnMissing()) == 0 {
		return
	}
	mw := &messages.MissingWorker{Notify: cfg.GetNotifyOnMissing()}
	if !w.lost.IsZero() {
		mw.LastConnection = w.lost.Unix()
	}
	at := w.now().Unix()
	w.write(ctx, "queue its missing notice", func(workerid uint64) *messages.Command {
		mw.Workerid = workerid
		return &messages.Command{Kind: &messages.Command_WorkerMissing{WorkerMissing: &messages.WorkerMissing{Worker: mw, At: at}}}
	})
}
