package botmaster

import (
	"context"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// trigger has triggerable schedulers add buildsets on this build's
// sourcestamps (Buildbot's Trigger step) and, with wait_for_finish, waits
// for them: the step's results are then the worst of theirs.
func (r *runner) trigger(log *stepLog, t *messages.TriggerStep) (int32, error) {
	req, _ := state.Lookup(r.rt.DB.Read(), state.TableBuildRequests, r.start.GetBrids()[0]).(*messages.BuildRequest)
	bs, _ := state.Lookup(r.rt.DB.Read(), state.TableBuildsets, req.GetBuildsetid()).(*messages.Buildset)
	manager := actor.NewPID(r.self.Address, paths.Schedulers)
	waiting := map[uint64]bool{}
	results := int32(state.ResultSuccess)
	for _, name := range t.GetSchedulers() {
		r.system.Root.RequestWithCustomSender(manager, &messages.TriggerBuilds{Scheduler: name, SourcestampIds: bs.GetSourcestampIds(),
			ParentBuildid: r.buildid, WaitedFor: t.GetWaitForFinish()}, r.self)
		ev, err := r.event(func(m proto.Message) bool { _, ok := m.(*messages.Triggered); return ok })
		if err != nil {
			return 0, err
		}
		if ev == nil { // stopped
			return state.ResultCancelled, nil
		}
		tr := ev.(*messages.Triggered)
		if tr.GetError() != "" {
			if err := log.header(fmt.Sprintf("trigger %s: %s", name, tr.GetError())); err != nil {
				return 0, err
			}
			results = state.Worst(results, state.ResultException)
			continue
		}
		if err := log.header(fmt.Sprintf("triggered %s: buildset %d, build requests %v", name, tr.GetBuildsetid(), tr.GetBrids())); err != nil {
			return 0, err
		}
		waiting[tr.GetBuildsetid()] = true
	}
	if !t.GetWaitForFinish() {
		return results, nil
	}
	for len(waiting) > 0 {
		ev, err := r.event(func(m proto.Message) bool {
			c, ok := m.(*messages.BuildsetCompleted)
			return ok && waiting[c.GetBuildsetid()]
		})
		if err != nil {
			return 0, err
		}
		if ev == nil { // stopped
			return state.ResultCancelled, nil
		}
		c := ev.(*messages.BuildsetCompleted)
		delete(waiting, c.GetBuildsetid())
		results = state.Worst(results, c.GetResults())
		if err := log.header(fmt.Sprintf("buildset %d finished: %s", c.GetBuildsetid(), resultString(c.GetResults()))); err != nil {
			return 0, err
		}
	}
	return results, nil
}

// event waits for the next event that want accepts (others are dropped);
// nil when the build is stopped meanwhile.
func (r *runner) event(want func(proto.Message) bool) (proto.Message, error) {
	for {
		select {
		case m := <-r.events:
			if want(m) {
				return m, nil
			}
		case reason := <-r.stopped:
			r.stopReason = reason
			return nil, nil
		case <-r.ctx.Done():
			return nil, context.Cause(r.ctx)
		}
	}
}
