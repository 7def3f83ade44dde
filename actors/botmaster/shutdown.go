package botmaster

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// CleanShutdownPoll is how often a clean shutdown looks again for running
// builds, as Buildbot's (1 s).
const CleanShutdownPoll = time.Second

// cleanShutdown is botmaster's side of Buildbot's clean shutdown
// (botmaster.cleanShutdown): brd starts no new build (build requests stay
// queued, in the state, for the next run), the running builds finish, and
// once none is left the master asks its process to stop it (Runtime.Exit).
// Every CleanShutdownPoll it asks brd again, which switches off a brd
// restarted meanwhile too. Cancelled, brd distributes again.
type cleanShutdown struct {
	on     bool
	gen    int // tells a poll of the shutdown under way from a cancelled one's
	cancel scheduler.CancelFunc
}

// shutdownPoll is a clean shutdown's timer.
type shutdownPoll struct{ gen int }

// stopRequest carries out a clean shutdown's StopMasterRequest (the master
// passes on STOP_MODE_CLEAN, STOP_MODE_CANCEL and STOP_MODE_TOGGLE) and
// answers it with the builds still running.
func (b *botmaster) stopRequest(ctx actor.Context, req *messages.StopMasterRequest) {
	sd := &b.shutdown
	start := req.GetMode() == messages.StopMode_STOP_MODE_CLEAN ||
		(req.GetMode() == messages.StopMode_STOP_MODE_TOGGLE && !sd.on)
	unchanged := start == sd.on
	if !unchanged {
		sd.on = start
		sd.gen++
		if sd.cancel != nil {
			sd.cancel()
			sd.cancel = nil
		}
		if start {
			b.RT.Log.Info("Initiating clean shutdown: no new build starts; the master stops once the running builds finish",
				slog.String("from", service.From(ctx)))
		} else {
			b.RT.Log.Info("clean shutdown cancelled: builds start again", slog.String("from", service.From(ctx)))
		}
	}
	sender := ctx.Sender()
	b.distribution(ctx, func(running int) {
		service.Send(ctx, sender, &messages.StopMasterResponse{CleanShutdown: sd.on, RunningBuilds: int32(running), Unchanged: unchanged})
		if start && !unchanged {
			b.drained(ctx, running)
		}
	})
}

// polled looks again at a clean shutdown under way.
func (b *botmaster) polled(ctx actor.Context, p shutdownPoll) {
	sd := &b.shutdown
	if !sd.on || p.gen != sd.gen {
		return
	}
	sd.cancel = nil
	b.distribution(ctx, func(running int) {
		if sd.on && p.gen == sd.gen {
			b.drained(ctx, running)
		}
	})
}

// drained stops the master when no build runs, or looks again later.
func (b *botmaster) drained(ctx actor.Context, running int) {
	sd := &b.shutdown
	if running > 0 {
		sd.cancel = scheduler.NewTimerScheduler(ctx).SendOnce(CleanShutdownPoll, ctx.Self(), shutdownPoll{gen: sd.gen})
		return
	}
	b.RT.Log.Info("clean shutdown: no build is running; stopping the master")
	if b.RT.Exit != nil {
		b.RT.Exit("clean shutdown")
	}
}

// distribution switches brd to the clean shutdown's state (off while one is
// under way) and calls then with the builds still running: those brd
// started and has not seen finish, or those in the tree, whichever is more
// (a restarted brd has forgotten its builds).
func (b *botmaster) distribution(ctx actor.Context, then func(running int)) {
	brd := actor.NewPID(ctx.Self().Address, paths.BRD)
	ask.Async(ctx, brd, &messages.Distribute{Enabled: !b.shutdown.on}, 10*time.Second, func(st *messages.DistributionState, err error) {
		running := b.runningBuilds(ctx)
		if err != nil {
			b.RT.Log.Warn("clean shutdown: brd did not answer; counting the builds in the tree", slog.Any("error", err))
		} else {
			running = max(running, int(st.GetReservedBuilds()))
		}
		then(running)
	})
}

// runningBuilds counts the builds in the tree, under the builders.
func (b *botmaster) runningBuilds(ctx actor.Context) int {
	n := 0
	if node := service.NodeOf(ctx, b.RT); node != nil {
		for _, builder := range node.Children() {
			for _, c := range builder.Children() {
				if c.Kind == "build" {
					n++
				}
			}
		}
	}
	return n
}
