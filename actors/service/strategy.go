package service

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Strategy is the supervisor strategy of every service parent, with Erlang/OTP
// semantics: a failing child is restarted, and its node's restart count goes
// up; a child that fails more than MaxRestarts times within Within is not
// restarted again: the failure escalates to the parent's own parent, which
// restarts the parent (and so all its children) under its own limit.
//
// protoactor's one-for-one strategy stops such a child instead and tells
// nobody; that would leave a hole in the tree, which is why this exists.
//
// One Strategy serves the whole tree; SetLimits changes its limits live (the
// `supervision` config section).
type Strategy struct {
	maxRestarts atomic.Int64
	within      atomic.Int64 // nanoseconds
	Tree        *Tree
	Log         *slog.Logger
	// Restarted, when set, is told the kind of each actor restarted.
	Restarted func(kind string)
	// GiveUp, when set, is called instead of escalating. The strategy that
	// supervises the root (master) uses it: past the limit there is nobody
	// left to escalate to, and the process must stop.
	GiveUp func(reason any)
}

// SetLimits sets how many restarts are allowed within the window.
func (s *Strategy) SetLimits(maxRestarts int, within time.Duration) {
	s.maxRestarts.Store(int64(maxRestarts))
	s.within.Store(int64(within))
}

var _ actor.SupervisorStrategy = (*Strategy)(nil)

// HandleFailure implements actor.SupervisorStrategy.
func (s *Strategy) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, _ any) {
	why := fmt.Sprint(reason)
	maxRestarts, within := int(s.maxRestarts.Load()), time.Duration(s.within.Load())
	node := s.Tree.Lookup(child.Id)
	if node != nil {
		node.recordFailure(why, time.Now())
	}
	rs.Fail()
	if rs.NumberOfFailures(within) > maxRestarts {
		rs.Reset()
		if s.GiveUp != nil {
			s.Log.Error("actor failed too often; giving up", "actor", child.Id, "reason", why,
				"max_restarts", maxRestarts, "within", within)
			s.GiveUp(reason)
			return
		}
		s.Log.Error("actor failed too often; escalating to its parent's parent", "actor", child.Id,
			"reason", why, "max_restarts", maxRestarts, "within", within)
		sup.EscalateFailure(fmt.Errorf("child %s failed more than %d times within %s: %s",
			child.Id, maxRestarts, within, why), nil)
		return
	}
	s.Log.Warn("actor failed; restarting it", "actor", child.Id, "reason", why)
	if node != nil {
		node.restarts.Add(1)
		node.setStatus(StatusRestarting)
		if s.Restarted != nil {
			s.Restarted(node.Kind)
		}
	}
	sup.RestartChildren(child)
}
