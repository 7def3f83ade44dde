package service

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

func workerGroup() *NamedGroup[*messages.WorkerConfig] {
	return LeafGroup("worker", "worker:", (*messages.MasterConfig).GetWorkers, (*messages.WorkerConfig).GetName)
}

func workers(specs ...string) *messages.MasterConfig {
	cfg := &messages.MasterConfig{}
	for _, s := range specs {
		name, pw, _ := strings.Cut(s, "=")
		cfg.Workers = append(cfg.Workers, &messages.WorkerConfig{Name: name, Password: pw})
	}
	return cfg
}

func changeStrings(cs []*messages.ServiceChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.TrimPrefix(c.GetKind().String(), "CHANGE_KIND_")+" "+c.GetPath())
	}
	slices.Sort(out)
	return out
}

func TestNamedGroupPlan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new *messages.MasterConfig
		want     []string
	}{
		{"nothing", workers(), workers(), nil},
		{"unchanged", workers("a=1", "b=2"), workers("b=2", "a=1"), nil},
		{"added", workers("a=1"), workers("a=1", "b=2"), []string{"ADDED p/worker:b"}},
		{"removed", workers("a=1", "b=2"), workers("b=2"), []string{"REMOVED p/worker:a"}},
		{"changed", workers("a=1"), workers("a=2"), []string{"CHANGED p/worker:a"}},
		{"all at once", workers("a=1", "b=2", "c=3"), workers("b=9", "c=3", "d=4"),
			[]string{"ADDED p/worker:d", "CHANGED p/worker:b", "REMOVED p/worker:a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := changeStrings(workerGroup().Plan("p", tc.old, tc.new))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Plan = %v, want %v", got, tc.want)
			}
		})
	}
}

// schedulers returns a config of schedulers "name=type" (type as in the
// enum, without its prefix), each on the builders after a colon, if any.
func schedulers(specs ...string) *messages.MasterConfig {
	cfg := &messages.MasterConfig{}
	for _, s := range specs {
		name, rest, _ := strings.Cut(s, "=")
		typ, builders, _ := strings.Cut(rest, ":")
		sc := &messages.SchedulerConfig{Name: name, Type: messages.SchedulerType(messages.SchedulerType_value["SCHEDULER_TYPE_"+strings.ToUpper(typ)])}
		if builders != "" {
			sc.Builders = strings.Split(builders, ",")
		}
		cfg.Schedulers = append(cfg.Schedulers, sc)
	}
	return cfg
}

// schedulerGroup is a group of schedulers whose class is their type; new,
// when not nil, makes the children.
func schedulerGroup(new func(*Runtime, *Cell[*messages.SchedulerConfig]) actor.Actor) *NamedGroup[*messages.SchedulerConfig] {
	g := LeafGroup("scheduler", "", (*messages.MasterConfig).GetSchedulers, (*messages.SchedulerConfig).GetName)
	g.Class = func(c *messages.SchedulerConfig) string { return c.GetType().String() }
	if new != nil {
		g.New = new
	}
	return g
}

func TestNamedGroupPlanReplacesWhatChangedClass(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new *messages.MasterConfig
		want     []string
	}{
		{"same class, changed", schedulers("a=periodic:b1"), schedulers("a=periodic:b2"), []string{"CHANGED p/a"}},
		{"class changed", schedulers("a=periodic"), schedulers("a=force"), []string{"REPLACED p/a"}},
		{"class and config changed", schedulers("a=periodic:b1", "b=nightly"), schedulers("a=nightly:b2", "b=nightly"),
			[]string{"REPLACED p/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := changeStrings(schedulerGroup(nil).Plan("p", tc.old, tc.new))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Plan = %v, want %v", got, tc.want)
			}
		})
	}
}

// A child whose class changes is stopped, and a new one, on the new config,
// starts only once the old one has terminated; a replacement still waiting
// for its namesake takes later changes, and a removal, without running.
func TestApplyConfigReplacesAChildWhoseClassChanged(t *testing.T) {
	rt := testRuntime(t, 10, schedulers("a=periodic", "b=nightly"))
	events := make(chan string, 100)
	lifecycle := func(rt *Runtime, c *Cell[*messages.SchedulerConfig]) actor.Actor {
		leaf := &Leaf[*messages.SchedulerConfig]{RT: rt, Cell: c}
		return actor.ReceiveFunc(func(ctx actor.Context) {
			switch ctx.Message().(type) {
			case *actor.Started:
				events <- "started " + c.Load().GetName() + " " + c.Load().GetType().String()
			case *actor.Stopped:
				events <- "stopped " + c.Load().GetName() + " " + c.Load().GetType().String()
			}
			leaf.Receive(ctx)
		})
	}
	spawnParent(t, rt, schedulerGroup(lifecycle))
	for range 2 {
		testkit.Recv(t, "a child started", events)
	}
	b := rt.Tree.Lookup("master/svc/b")
	apply := func(gen uint64, cfg *messages.MasterConfig) []string {
		t.Helper()
		cfg.Supervision = rt.Config().GetSupervision()
		rt.SetConfig(gen, cfg)
		ack, err := ask.Ask[*messages.ConfigApplied](context.Background(), rt.System.Root, rt.System.NewLocalPID("master/svc"),
			&messages.ApplyConfig{Generation: gen, Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return changeStrings(ack.GetChanges())
	}

	if got := apply(2, schedulers("a=force", "b=nightly")); !slices.Equal(got, []string{"REPLACED master/svc/a"}) {
		t.Fatalf("changes %v", got)
	}
	for _, want := range []string{"stopped a SCHEDULER_TYPE_PERIODIC", "started a SCHEDULER_TYPE_FORCE"} {
		if got := testkit.Recv(t, want, events); got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
	}
	if rt.Tree.Lookup("master/svc/b") != b || b.Processed() != 0 {
		t.Fatal("the unchanged child was touched")
	}

	// The old a is stuck: its replacement waits, takes a change of config,
	// then is removed before it ever ran.
	release := suspend(t, rt, "master/svc/a")
	if got := apply(3, schedulers("a=nightly", "b=nightly")); !slices.Equal(got, []string{"REPLACED master/svc/a"}) {
		t.Fatalf("changes %v", got)
	}
	if got := apply(4, schedulers("a=nightly:b1", "b=nightly")); !slices.Equal(got, []string{"CHANGED master/svc/a"}) {
		t.Fatalf("changes %v", got)
	}
	if got := apply(5, schedulers("b=nightly")); !slices.Equal(got, []string{"REMOVED master/svc/a"}) {
		t.Fatalf("changes %v", got)
	}
	release()
	if got := testkit.Recv(t, "a stopped", events); got != "stopped a SCHEDULER_TYPE_FORCE" {
		t.Fatalf("event %q", got)
	}
	// Adding a again spawns it at once (nothing of it is left), and only
	// it: the removed replacement never starts.
	if got := apply(6, schedulers("a=dependent", "b=nightly")); !slices.Equal(got, []string{"ADDED master/svc/a"}) {
		t.Fatalf("changes %v", got)
	}
	if got := testkit.Recv(t, "a started", events); got != "started a SCHEDULER_TYPE_DEPENDENT" {
		t.Fatalf("event %q", got)
	}
}

// suspend stops the mailbox of the actor at path from taking user messages
// (as if it were stuck in a long handler) until release or the test's end.
func suspend(t *testing.T, rt *Runtime, path string) (release func()) {
	t.Helper()
	pid := rt.System.NewLocalPID(path)
	proc, ok := rt.System.ProcessRegistry.Get(pid)
	if !ok {
		t.Fatalf("no actor at %s", path)
	}
	proc.SendSystemMessage(pid, &actor.SuspendMailbox{})
	var once sync.Once
	release = func() { once.Do(func() { proc.SendSystemMessage(pid, &actor.ResumeMailbox{}) }) }
	t.Cleanup(release)
	return release
}
