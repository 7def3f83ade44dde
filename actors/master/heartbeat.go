package master

import (
	"context"
	"log/slog"
	"time"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The master's row in the state's masters table follows its life, as
// Buildbot's: MasterStarted when it starts (openState), MasterActive every
// heartbeat while it runs, MasterStopped when it stops (Stop), whatever
// stops it.

// DefaultHeartbeat is how often a running master marks itself active, as
// Buildbot's masterHeartbeatService (60 s), unless Options.Heartbeat says.
const DefaultHeartbeat = time.Minute

// heartbeat marks the master active in the state every interval, through
// the db service, until stopped.
type heartbeat struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startHeartbeat(m *Master, interval time.Duration) *heartbeat {
	if interval <= 0 {
		interval = DefaultHeartbeat
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &heartbeat{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			cmd := &messages.Command{Kind: &messages.Command_MasterActive{MasterActive: &messages.MasterActive{
				Masterid: m.RT.MasterID, Time: m.now().Unix()}}}
			if _, err := db.Call(ctx, m.RT.System, cmd); err != nil && ctx.Err() == nil {
				m.RT.Log.Warn("heartbeat: cannot mark the master active in the state", slog.Any("error", err))
			}
		}
	}()
	return h
}

// stop stops the heartbeat and waits for its last write; nil does nothing.
func (h *heartbeat) stop() {
	if h == nil {
		return
	}
	h.cancel()
	<-h.done
}

// markStopped marks the master stopped in the state, once the tree has
// stopped (nothing else writes), and logs what the housekeeping ended.
func (m *Master) markStopped(timeout time.Duration) error {
	return markStopped(m.RT.Log, m.RT.DB, m.RT.MasterID, m.now(), timeout)
}

func markStopped(log *slog.Logger, store *state.Store, masterid uint64, now time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := store.SubmitWait(ctx, &messages.Command{Kind: &messages.Command_MasterStopped{
		MasterStopped: &messages.MasterStopped{Masterid: masterid, Time: now.Unix()}}})
	if err != nil {
		log.Error("state: cannot mark the master stopped", slog.Any("error", err))
		return err
	}
	if n := res.GetBuildsRetried() + res.GetRequestsUnclaimed(); n > 0 {
		log.Warn("state: builds still running when the master stopped end as RETRY; their requests will be built again",
			slog.Uint64("builds_retried", uint64(res.GetBuildsRetried())),
			slog.Uint64("requests_unclaimed", uint64(res.GetRequestsUnclaimed())))
	}
	log.Info("state: master marked stopped", slog.Uint64("masterid", masterid))
	return nil
}

// previousRun logs how the previous run of the master called name ended,
// from its row in the state: stopped (inactive), or not (a crash, a kill:
// MasterStarted's housekeeping then cleans up after it).
func previousRun(log *slog.Logger, store *state.Store, name string) {
	prev, _ := state.First(store.Read(), state.TableMasters, state.IndexName, name).(*messages.Master)
	switch {
	case prev == nil:
	case prev.GetActive():
		log.Warn("state: the previous run of this master did not stop cleanly (killed, or crashed)",
			slog.Time("last_active", time.Unix(prev.GetLastActive(), 0)))
	default:
		log.Info("state: the previous run of this master stopped", slog.Time("stopped_at", time.Unix(prev.GetLastActive(), 0)))
	}
}
