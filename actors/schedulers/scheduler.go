package schedulers

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// stateClass is the class name under which a scheduler keeps its state
// (Buildbot's objects table, keyed by name and class).
func stateClass(t messages.SchedulerType) string {
	return strings.TrimPrefix(t.String(), "SCHEDULER_TYPE_")
}

// schedulerActor is one configured scheduler (Buildbot's BaseScheduler and
// its kinds). What it does depends on its type:
//   - single_branch, any_branch: take the changes that match (branch, and
//     file_is_important); without tree_stable_timer an important change makes
//     a buildset at once; with it, changes are classified and a buildset is
//     made from all of them once no important change has come for the timer
//     (one timer for single_branch, one per branch, repository, project and
//     codebase for any_branch). The classified changes live in the state and
//     survive a restart, their timers restarted.
//   - periodic, nightly: make a buildset every periodic_interval, or at each
//     time of the cron expression (config.ParseCron); the last run is in the
//     state, and a run missed while the master was down happens at once. As
//     in Buildbot, a periodic scheduler that never ran builds at once, a
//     nightly one waits for its first time.
//   - triggerable: on messages.TriggerBuilds (a trigger step's, through the
//     manager) a buildset on the given sourcestamps and properties, answered
//     messages.Triggered; when the step waits, it is sent
//     messages.BuildsetCompleted once that buildset completes.
//   - dependent: remembers (in the state) the buildsets its upstream
//     scheduler adds; when one completes with SUCCESS or WARNINGS, a
//     buildset on the same sourcestamps (reason "downstream").
//   - force: nothing by itself (the manager handles ForceBuildRequest).
//
// It accepts its messages.SchedulerConfig (in place), messages.ChangeAdded,
// messages.TriggerBuilds, messages.BuildsetAdded and
// messages.BuildsetCompleted (from the manager), and its own timer messages.
// Every buildset it adds is announced to the manager (BuildsetAdded). It
// publishes a messages.SchedulerState on its tree node: its config, its
// next timed run, and the last error it met (each is logged too; none is
// swallowed).
type schedulerActor struct {
	rt     *service.Runtime
	cell   *service.Cell[*messages.SchedulerConfig]
	now    func() time.Time
	timers *scheduler.TimerScheduler

	// single_branch, any_branch: classified changes and a timer, by key.
	classified map[string][]classified
	stable     map[string]scheduler.CancelFunc
	gen        map[string]int // to recognise a timer restarted since
	// periodic, nightly
	next   time.Time
	cancel scheduler.CancelFunc
	// the last error, shown on the tree node
	lastErr   string
	lastErrAt time.Time
	// triggerable: the steps waiting for a buildset, by buildset id.
	waiters map[uint64]*actor.PID
	// dependent: the upstream's buildsets still running, and their sourcestamps.
	upstream map[uint64][]uint64
}

type classified struct {
	Changeid  uint64 `json:"changeid"`
	Important bool   `json:"important"`
}

type (
	stableFired struct {
		key string
		gen int
	}
	timedFired struct{ at time.Time }
)

func newScheduler(rt *service.Runtime, cell *service.Cell[*messages.SchedulerConfig]) actor.Actor {
	return &schedulerActor{rt: rt, cell: cell, now: time.Now, classified: map[string][]classified{},
		stable: map[string]scheduler.CancelFunc{}, gen: map[string]int{}, waiters: map[uint64]*actor.PID{},
		upstream: map[uint64][]uint64{}}
}

func (s *schedulerActor) cfg() *messages.SchedulerConfig { return s.cell.Load() }

// Receive implements actor.Actor.
func (s *schedulerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.timers = scheduler.NewTimerScheduler(ctx)
		s.activate(ctx)
		s.publish(ctx)
	case *messages.SchedulerConfig:
		s.lastErr, s.lastErrAt = "", time.Time{}
		s.scheduleTimed(ctx)
		s.publish(ctx)
	case *messages.ChangeAdded:
		s.change(ctx, m.GetChange())
	case *messages.TriggerBuilds:
		s.triggered(ctx, m)
	case *messages.BuildsetAdded:
		if s.cfg().GetType() == messages.SchedulerType_SCHEDULER_TYPE_DEPENDENT && m.GetScheduler() == s.cfg().GetUpstream() {
			s.upstream[m.GetBuildsetid()] = m.GetSourcestampIds()
			s.saveUpstream(ctx)
		}
	case *messages.BuildsetCompleted:
		s.buildsetCompleted(ctx, m)
	case stableFired:
		if s.gen[m.key] == m.gen {
			s.stableTimerFired(ctx, m.key)
		}
	case timedFired:
		if m.at.Equal(s.next) {
			s.timedRun(ctx)
		}
	case *actor.Stopping:
		for _, c := range s.stable {
			c()
		}
		s.disarm()
	}
}

func (s *schedulerActor) publish(ctx actor.Context) {
	n := service.NodeOf(ctx, s.rt)
	if n == nil {
		return
	}
	st := &messages.SchedulerState{Config: s.cfg(), LastError: s.lastErr}
	if !s.next.IsZero() {
		st.NextBuild = timestamppb.New(s.next)
	}
	if !s.lastErrAt.IsZero() {
		st.LastErrorAt = timestamppb.New(s.lastErrAt)
	}
	n.SetState(st)
}

// fail logs an error of the scheduler and shows it on its tree node.
func (s *schedulerActor) fail(ctx actor.Context, what string, err error) {
	s.rt.Log.Error("scheduler: "+what, slog.String("scheduler", s.cfg().GetName()), slog.Any("error", err))
	s.lastErr, s.lastErrAt = what+": "+err.Error(), s.now()
	s.publish(ctx)
}

// restore reads the scheduler's saved value name into v; a value that does
// not parse is an error, and v is left as it was (empty).
func (s *schedulerActor) restore(ctx actor.Context, name string, v any) {
	cfg := s.cfg()
	if raw, ok := state.ObjectState(s.rt.DB.Read(), cfg.GetName(), stateClass(cfg.GetType()), name); ok {
		if err := json.Unmarshal([]byte(raw), v); err != nil {
			s.fail(ctx, "its saved "+name+" does not parse; starting without", err)
		}
	}
}

// activate restores the scheduler's state: classified changes (their
// timers restarted) or the next timed run.
func (s *schedulerActor) activate(ctx actor.Context) {
	switch s.cfg().GetType() {
	case messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH, messages.SchedulerType_SCHEDULER_TYPE_ANY_BRANCH:
		s.restore(ctx, "classified", &s.classified)
		if s.cfg().GetTreeStableTimer().AsDuration() <= 0 {
			if len(s.classified) > 0 {
				s.classified = map[string][]classified{}
				s.save(ctx)
			}
			return
		}
		for key, cs := range s.classified {
			if slices.ContainsFunc(cs, func(c classified) bool { return c.Important }) {
				s.restartStable(ctx, key)
			}
		}
	case messages.SchedulerType_SCHEDULER_TYPE_PERIODIC, messages.SchedulerType_SCHEDULER_TYPE_NIGHTLY:
		s.scheduleTimed(ctx)
	case messages.SchedulerType_SCHEDULER_TYPE_DEPENDENT:
		s.restore(ctx, "upstream_bsids", &s.upstream)
	}
}

// triggered adds the buildset a trigger step asks for.
func (s *schedulerActor) triggered(ctx actor.Context, m *messages.TriggerBuilds) {
	step := ctx.Sender()
	s.addBuildsetFor(ctx, buildset{ssids: m.GetSourcestampIds(), props: m.GetProperties(), parent: m.GetParentBuildid(),
		waited: m.GetWaitedFor(), reason: fmt.Sprintf("The Triggerable scheduler named '%s' triggered this build", s.cfg().GetName())},
		func(r *messages.CommandResult, err error) {
			if err != nil {
				service.Send(ctx, step, &messages.Triggered{Error: err.Error()})
				return
			}
			if m.GetWaitedFor() && step != nil {
				s.waiters[r.GetId()] = step
			}
			service.Send(ctx, step, &messages.Triggered{Buildsetid: r.GetId(), Brids: r.GetIds()})
		})
}

func (s *schedulerActor) buildsetCompleted(ctx actor.Context, m *messages.BuildsetCompleted) {
	if step, ok := s.waiters[m.GetBuildsetid()]; ok {
		delete(s.waiters, m.GetBuildsetid())
		ctx.Send(step, m)
	}
	ssids, ok := s.upstream[m.GetBuildsetid()]
	if !ok {
		return
	}
	delete(s.upstream, m.GetBuildsetid())
	s.saveUpstream(ctx)
	if m.GetResults() == state.ResultSuccess || m.GetResults() == state.ResultWarnings {
		s.addBuildsetFor(ctx, buildset{ssids: ssids, reason: "downstream"}, nil)
	}
}

func (s *schedulerActor) saveUpstream(ctx actor.Context) {
	v, _ := json.Marshal(s.upstream)
	s.setState(ctx, "upstream_bsids", string(v))
}

// matches reports whether the change is one this scheduler watches: on
// its branch (branches) and through its change filter.
func (s *schedulerActor) matches(c *messages.Change) bool {
	cfg := s.cfg()
	if !Passes(cfg.GetChangeFilter(), c) {
		return false
	}
	switch cfg.GetType() {
	case messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH:
		return c.GetBranch() == cfg.GetBranch()
	case messages.SchedulerType_SCHEDULER_TYPE_ANY_BRANCH:
		return len(cfg.GetBranches()) == 0 || slices.Contains(cfg.GetBranches(), c.GetBranch())
	}
	return false
}

// Passes applies a change filter (none passes every change): each field it
// names must equal one of its values or match one of its expressions.
func Passes(f *messages.ChangeFilterConfig, c *messages.Change) bool {
	for _, cond := range []struct {
		value    string
		eq, expr []string
	}{
		{c.GetProject(), f.GetProject(), f.GetProjectRe()}, {c.GetRepository(), f.GetRepository(), f.GetRepositoryRe()},
		{c.GetBranch(), f.GetBranch(), f.GetBranchRe()}, {c.GetCategory(), f.GetCategory(), f.GetCategoryRe()},
		{c.GetCodebase(), f.GetCodebase(), f.GetCodebaseRe()},
	} {
		if len(cond.eq)+len(cond.expr) == 0 {
			continue
		}
		ok := slices.Contains(cond.eq, cond.value)
		for _, e := range cond.expr {
			if re, err := regexp.Compile(e); err == nil && re.MatchString(cond.value) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// important reports whether the change touches a file that matters: one
// matching a file_is_important glob (by path, or by base name); every
// change matters when there are none.
func important(globs []string, c *messages.Change) bool {
	if len(globs) == 0 {
		return true
	}
	for _, f := range c.GetFiles() {
		for _, g := range globs {
			if ok, _ := path.Match(g, f); ok {
				return true
			}
			if ok, _ := path.Match(g, path.Base(f)); ok {
				return true
			}
		}
	}
	return false
}

// key is the timer a change belongs to.
func (s *schedulerActor) key(c *messages.Change) string {
	if s.cfg().GetType() == messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH {
		return "only"
	}
	b, _ := json.Marshal([]string{c.GetCodebase(), c.GetProject(), c.GetRepository(), c.GetBranch()})
	return string(b)
}

func (s *schedulerActor) change(ctx actor.Context, c *messages.Change) {
	if !s.matches(c) {
		return
	}
	imp := important(s.cfg().GetFileIsImportant(), c)
	timer := s.cfg().GetTreeStableTimer().AsDuration()
	if timer <= 0 {
		if imp {
			s.addBuildset(ctx, []uint64{c.GetChangeid()}, c.GetSourcestampid())
		}
		return
	}
	key := s.key(c)
	s.classified[key] = append(s.classified[key], classified{Changeid: c.GetChangeid(), Important: imp})
	s.save(ctx)
	if _, running := s.stable[key]; imp || running {
		s.restartStable(ctx, key)
	}
}

func (s *schedulerActor) restartStable(ctx actor.Context, key string) {
	if c, ok := s.stable[key]; ok {
		c()
	}
	s.gen[key]++
	s.stable[key] = s.timers.SendOnce(s.cfg().GetTreeStableTimer().AsDuration(), ctx.Self(), stableFired{key: key, gen: s.gen[key]})
}

// stableTimerFired makes one buildset from every change classified under
// key, if one of them is important, and forgets them.
func (s *schedulerActor) stableTimerFired(ctx actor.Context, key string) {
	delete(s.stable, key)
	cs := s.classified[key]
	delete(s.classified, key)
	s.save(ctx)
	if !slices.ContainsFunc(cs, func(c classified) bool { return c.Important }) {
		return
	}
	ids := make([]uint64, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.Changeid)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	newest, _ := state.Lookup(s.rt.DB.Read(), state.TableChanges, ids[len(ids)-1]).(*messages.Change)
	s.addBuildset(ctx, ids, newest.GetSourcestampid())
}

// save writes the classified changes to the state, in the background.
func (s *schedulerActor) save(ctx actor.Context) {
	v, _ := json.Marshal(s.classified)
	s.setState(ctx, "classified", string(v))
}

func (s *schedulerActor) setState(ctx actor.Context, name, valueJSON string) {
	cmd := &messages.Command{Kind: &messages.Command_SetObjectState{SetObjectState: &messages.SetObjectState{
		ObjectName: s.cfg().GetName(), ClassName: stateClass(s.cfg().GetType()), Name: name, ValueJson: valueJSON}}}
	db.Submit(ctx, cmd, func(_ *messages.CommandResult, err error) {
		if err != nil {
			s.fail(ctx, "cannot save its state", err)
		}
	})
}

// scheduleTimed arms the next run of a periodic or nightly scheduler
// (Buildbot's Timed): the last run (from the state) plus the interval, or
// the next time of the cron expression after it; with no last run, a
// periodic scheduler runs at once and a nightly one at the next time of its
// expression. A run whose time is past runs at once.
func (s *schedulerActor) scheduleTimed(ctx actor.Context) {
	cfg := s.cfg()
	s.disarm()
	if cfg.GetType() != messages.SchedulerType_SCHEDULER_TYPE_PERIODIC && cfg.GetType() != messages.SchedulerType_SCHEDULER_TYPE_NIGHTLY {
		return
	}
	now := s.now()
	var sec int64
	s.restore(ctx, "last_build", &sec)
	next := now
	if sec > 0 || cfg.GetType() == messages.SchedulerType_SCHEDULER_TYPE_NIGHTLY {
		from := now
		if sec > 0 {
			from = time.Unix(sec, 0)
		}
		var err error
		if next, err = s.nextAfter(from); err != nil {
			s.fail(ctx, "cannot tell when to build next; it will not build until its config changes", err)
			return
		}
	}
	if next.Before(now) {
		s.rt.Log.Info("scheduler: missed scheduled build time - building immediately", slog.String("scheduler", cfg.GetName()))
		next = now
	}
	s.arm(ctx, now, next)
}

// nextAfter is the next time to build after t: t plus the interval
// (periodic), or the next time of the cron expression (nightly).
func (s *schedulerActor) nextAfter(t time.Time) (time.Time, error) {
	cfg := s.cfg()
	if cfg.GetType() == messages.SchedulerType_SCHEDULER_TYPE_PERIODIC {
		if d := cfg.GetPeriodicInterval().AsDuration(); d <= 0 {
			return time.Time{}, fmt.Errorf("periodic_interval %s is not positive", d)
		}
		return t.Add(cfg.GetPeriodicInterval().AsDuration()), nil
	}
	sched, err := config.ParseCron(cfg.GetCron())
	if err != nil {
		return time.Time{}, fmt.Errorf("cron %q: %w", cfg.GetCron(), err)
	}
	return sched.Next(t), nil
}

// arm sets the timer of the next run, at next (now is the time now).
func (s *schedulerActor) arm(ctx actor.Context, now, next time.Time) {
	s.disarm()
	s.next = next
	s.cancel = s.timers.SendOnce(max(next.Sub(now), 0), ctx.Self(), timedFired{at: next})
}

// disarm cancels the timer of the next run, if any.
func (s *schedulerActor) disarm() {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	s.next = time.Time{}
}

func (s *schedulerActor) timedRun(ctx actor.Context) {
	now := s.now()
	s.setState(ctx, "last_build", fmt.Sprint(now.Unix()))
	s.addBuildset(ctx, nil, 0)
	// The state write is asynchronous: compute the next run from now.
	next, err := s.nextAfter(now)
	if err != nil {
		s.disarm()
		s.fail(ctx, "cannot tell when to build next; it will not build until its config changes", err)
		return
	}
	s.arm(ctx, now, next)
	s.publish(ctx)
}

// buildset is what a scheduler puts in a buildset besides its builders
// and its own properties.
type buildset struct {
	changeids []uint64
	ssids     []uint64 // none: one empty sourcestamp
	props     []*messages.Property
	parent    uint64
	waited    bool
	reason    string
}

// addBuildset adds a buildset for the scheduler's builders on the
// sourcestamp ssid (none: an empty one) for changeids.
func (s *schedulerActor) addBuildset(ctx actor.Context, changeids []uint64, ssid uint64) {
	b := buildset{changeids: changeids,
		reason: fmt.Sprintf("The %s scheduler named '%s' triggered this build", className(s.cfg().GetType()), s.cfg().GetName())}
	if ssid != 0 {
		b.ssids = []uint64{ssid}
	}
	s.addBuildsetFor(ctx, b, nil)
}

// addBuildsetFor adds b for the scheduler's builders, with the scheduler's
// properties (and `scheduler`) over b's and, unless b is triggered, the
// properties of the changes of its sourcestamps over those (Buildbot's
// addBuildsetForSourceStamps; a Triggerable passes its sourcestamps by
// value, without their changes). It announces the buildset to the manager,
// wakes the distributor, and calls done (when not nil) with the result.
func (s *schedulerActor) addBuildsetFor(ctx actor.Context, b buildset, done func(*messages.CommandResult, error)) {
	cfg := s.cfg()
	if !state.SchedulerEnabled(s.rt.DB.Read(), cfg.GetName()) {
		s.rt.Log.Info("scheduler disabled: no buildset added", slog.String("scheduler", cfg.GetName()), service.IDs("changes", b.changeids))
		if done != nil {
			done(nil, fmt.Errorf("scheduler %s is disabled", cfg.GetName()))
		}
		return
	}
	props := slices.Clone(b.props)
	set := func(name, valueJSON, source string) {
		props = slices.DeleteFunc(props, func(p *messages.Property) bool { return p.GetName() == name })
		props = append(props, &messages.Property{Name: name, ValueJson: valueJSON, Source: source})
	}
	for _, k := range sortedKeys(cfg.GetProperties()) {
		v, _ := json.Marshal(cfg.GetProperties()[k])
		set(k, string(v), "Scheduler")
	}
	name, _ := json.Marshal(cfg.GetName())
	set("scheduler", string(name), "Scheduler")
	if b.parent == 0 {
		for p := range state.ChangeProperties(s.rt.DB.Read(), b.ssids) {
			set(p.GetName(), p.GetValueJson(), "Change")
		}
	}
	bs := &messages.AddBuildset{Reason: b.reason, SubmittedAt: s.now().Unix(), Properties: props, BuilderNames: cfg.GetBuilders(),
		SourcestampIds: b.ssids, ParentBuildid: b.parent, WaitedFor: b.waited,
		CollapseBuilderNames: collapseNames(s.rt.Config(), cfg.GetBuilders())}
	if b.parent != 0 {
		bs.ParentRelationship = cfg.GetName()
	}
	if len(b.ssids) == 0 {
		bs.Sourcestamps = []*messages.SourceStamp{{}}
	}
	db.Submit(ctx, &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: bs}}, func(r *messages.CommandResult, err error) {
		if err != nil {
			s.fail(ctx, "cannot add a buildset", err)
		} else {
			s.rt.Log.Info("added buildset", slog.Uint64("buildsetid", r.GetId()), slog.String("scheduler", cfg.GetName()),
				service.IDs("changes", b.changeids))
			txn := s.rt.DB.Read()
			added, _ := state.Lookup(txn, state.TableBuildsets, r.GetId()).(*messages.Buildset)
			ctx.Send(ctx.Parent(), &messages.BuildsetAdded{Buildsetid: r.GetId(), Scheduler: cfg.GetName(),
				SourcestampIds: added.GetSourcestampIds()})
			completed(ctx, ctx.Parent(), s.rt, r)
			ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), &messages.MaybeStartBuilds{Builders: cfg.GetBuilders()})
		}
		if done != nil {
			done(r, err)
		}
	})
}

// className is Buildbot's class name for a scheduler type, for reasons.
func className(t messages.SchedulerType) string {
	switch t {
	case messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH:
		return "SingleBranchScheduler"
	case messages.SchedulerType_SCHEDULER_TYPE_ANY_BRANCH:
		return "AnyBranchScheduler"
	case messages.SchedulerType_SCHEDULER_TYPE_PERIODIC:
		return "Periodic"
	case messages.SchedulerType_SCHEDULER_TYPE_NIGHTLY:
		return "Nightly"
	}
	return stateClass(t)
}
