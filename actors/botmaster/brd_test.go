package botmaster

import (
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// TestDistributorChoices works through the distributor's choices, case by
// case from Buildbot's BuildRequestDistributor and BasicBuildChooser (with
// the least busy worker where Buildbot picks at random). Each case gives
// the builders (name: workers, locks), the workers (connected, max_builds,
// builds running), the unclaimed requests (builder@submitted_at) and the
// builds that must start, as builder/worker/request.
func TestDistributorChoices(t *testing.T) {
	type worker struct {
		name      string
		max       int32
		running   []string // builders it is building for
		connected bool
	}
	type builder struct {
		name    string
		workers []string
		locks   []*messages.LockAccess
	}
	ex := func(name string) *messages.LockAccess {
		return &messages.LockAccess{Name: name, Access: messages.LockAccessMode_LOCK_ACCESS_MODE_EXCLUSIVE}
	}
	co := func(name string) *messages.LockAccess {
		return &messages.LockAccess{Name: name, Access: messages.LockAccessMode_LOCK_ACCESS_MODE_COUNTING}
	}
	up := func(name string) worker { return worker{name: name, connected: true} }
	for _, c := range []struct {
		name     string
		builders []builder
		workers  []worker
		locks    []*messages.LockConfig
		requests []string // builder@submitted_at, ids in order from 1
		want     string
	}{
		{name: "oldest request first, one per worker",
			builders: []builder{{"a", []string{"w1"}, nil}, {"b", []string{"w1"}, nil}},
			workers:  []worker{up("w1")}, requests: []string{"a@20", "b@10"},
			want: "b/w1/2 a/w1/1"},
		{name: "ties between builders go by name",
			builders: []builder{{"b", []string{"w1"}, nil}, {"a", []string{"w1"}, nil}},
			workers:  []worker{{name: "w1", connected: true, max: 1}}, requests: []string{"b@10", "a@10"},
			want: "a/w1/2"},
		{name: "one build per builder and worker",
			builders: []builder{{"a", []string{"w1", "w2"}, nil}},
			workers:  []worker{up("w1"), up("w2")}, requests: []string{"a@1", "a@2", "a@3"},
			want: "a/w1/1 a/w2/2"},
		{name: "the least busy worker, then by name",
			builders: []builder{{"a", []string{"w1", "w2", "w3"}, nil}},
			workers:  []worker{{name: "w1", connected: true, running: []string{"x"}}, up("w3"), up("w2")},
			requests: []string{"a@1"},
			want:     "a/w2/1"},
		{name: "max_builds is respected",
			builders: []builder{{"a", []string{"w1"}, nil}, {"b", []string{"w1"}, nil}, {"c", []string{"w1"}, nil}},
			workers:  []worker{{name: "w1", connected: true, max: 2, running: []string{"x"}}},
			requests: []string{"a@1", "b@2", "c@3"},
			want:     "a/w1/1"},
		{name: "disconnected workers take nothing",
			builders: []builder{{"a", []string{"w1", "w2"}, nil}},
			workers:  []worker{{name: "w1"}, up("w2")}, requests: []string{"a@1", "a@2"},
			want: "a/w2/1"},
		{name: "a worker the builder does not list is not used",
			builders: []builder{{"a", []string{"w1"}, nil}},
			workers:  []worker{{name: "w1", running: []string{"a"}, connected: true}, up("w2")}, requests: []string{"a@1"},
			want: ""},
		{name: "an exclusive master lock lets one build run",
			builders: []builder{{"a", []string{"w1"}, []*messages.LockAccess{ex("m")}}, {"b", []string{"w2"}, []*messages.LockAccess{ex("m")}}},
			workers:  []worker{up("w1"), up("w2")}, requests: []string{"a@1", "b@2"},
			locks: []*messages.LockConfig{{Name: "m", Type: messages.LockType_LOCK_TYPE_MASTER}},
			want:  "a/w1/1"},
		{name: "a counting master lock lets max_count run",
			builders: []builder{{"a", []string{"w1"}, []*messages.LockAccess{co("m")}}, {"b", []string{"w2"}, []*messages.LockAccess{co("m")}},
				{"c", []string{"w3"}, []*messages.LockAccess{co("m")}}},
			workers: []worker{up("w1"), up("w2"), up("w3")}, requests: []string{"a@1", "b@2", "c@3"},
			locks: []*messages.LockConfig{{Name: "m", Type: messages.LockType_LOCK_TYPE_MASTER, MaxCount: new(int32(2))}},
			want:  "a/w1/1 b/w2/2"},
		{name: "counting excludes exclusive and the reverse",
			builders: []builder{{"a", []string{"w1"}, []*messages.LockAccess{co("m")}}, {"b", []string{"w2"}, []*messages.LockAccess{ex("m")}}},
			workers:  []worker{up("w1"), up("w2")}, requests: []string{"a@1", "b@2"},
			locks: []*messages.LockConfig{{Name: "m", Type: messages.LockType_LOCK_TYPE_MASTER, MaxCount: new(int32(5))}},
			want:  "a/w1/1"},
		{name: "a worker lock is one per worker",
			builders: []builder{{"a", []string{"w1", "w2"}, []*messages.LockAccess{ex("wl")}}, {"b", []string{"w1", "w2"}, []*messages.LockAccess{ex("wl")}}},
			workers:  []worker{up("w1"), up("w2")}, requests: []string{"a@1", "b@2"},
			locks: []*messages.LockConfig{{Name: "wl", Type: messages.LockType_LOCK_TYPE_WORKER}},
			want:  "a/w1/1 b/w2/2"},
		{name: "a builder no longer configured waits",
			builders: []builder{{"a", []string{"w1"}, nil}},
			workers:  []worker{up("w1")}, requests: []string{"gone@1", "a@2"},
			want: "a/w1/2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newBRD(nil)
			cfg := &messages.MasterConfig{Locks: c.locks}
			for _, b := range c.builders {
				cfg.Builders = append(cfg.Builders, &messages.BuilderConfig{Name: b.name, Workers: b.workers, Locks: b.locks})
			}
			for _, w := range c.workers {
				s := d.slots(w.name)
				s.connected, s.max = w.connected, w.max
				for _, b := range w.running {
					s.builders[b] = true
					s.running++
				}
			}
			reqs := map[string][]*messages.BuildRequest{}
			var names []string
			for i, r := range c.requests {
				b, at, _ := strings.Cut(r, "@")
				var when int64
				fmt.Sscan(at, &when)
				reqs[b] = append(reqs[b], &messages.BuildRequest{Id: uint64(i + 1), SubmittedAt: when})
				if !slices.Contains(names, b) {
					names = append(names, b)
				}
			}
			queue := func(b string) iter.Seq[*messages.BuildRequest] { return slices.Values(reqs[b]) }
			var got []string
			for _, a := range d.plan(cfg, names, queue) {
				got = append(got, fmt.Sprintf("%s/%s/%d", a.builder, a.worker, a.brids[0]))
			}
			if strings.Join(got, " ") != c.want {
				t.Fatalf("started %q, want %q", strings.Join(got, " "), c.want)
			}
			// A second pass starts nothing more: everything is reserved.
			if again := d.plan(cfg, names, queue); len(again) != 0 {
				t.Fatalf("a second pass started %v", again)
			}
		})
	}
}

// TestLocksAreReleased: a finished build gives its slot and locks back, so
// the build waiting for them starts on the next pass.
func TestLocksAreReleased(t *testing.T) {
	d := newBRD(nil)
	cfg := &messages.MasterConfig{
		Locks: []*messages.LockConfig{{Name: "m", Type: messages.LockType_LOCK_TYPE_MASTER}},
		Builders: []*messages.BuilderConfig{
			{Name: "a", Workers: []string{"w1"}, Locks: []*messages.LockAccess{{Name: "m", Access: messages.LockAccessMode_LOCK_ACCESS_MODE_EXCLUSIVE}}},
			{Name: "b", Workers: []string{"w2"}, Locks: []*messages.LockAccess{{Name: "m", Access: messages.LockAccessMode_LOCK_ACCESS_MODE_COUNTING}}},
		},
	}
	for _, w := range []string{"w1", "w2"} {
		d.slots(w).connected = true
	}
	reqs := map[string][]*messages.BuildRequest{"a": {{Id: 1, SubmittedAt: 1}}, "b": {{Id: 2, SubmittedAt: 2}}}
	queue := func(b string) iter.Seq[*messages.BuildRequest] { return slices.Values(reqs[b]) }
	if got := d.plan(cfg, []string{"a", "b"}, queue); len(got) != 1 || got[0].builder != "a" {
		t.Fatalf("first pass %v", got)
	}
	reqs["a"] = nil // claimed, built
	d.release("a", "w1")
	if got := d.plan(cfg, []string{"a", "b"}, queue); len(got) != 1 || got[0].builder != "b" {
		t.Fatalf("after release %v", got)
	}
}

// TestQuarantine: a build ending EXCEPTION keeps its worker from new builds
// for a while, doubling each time; a build ending otherwise (but RETRY)
// ends the quarantine.
func TestQuarantine(t *testing.T) {
	now := time.Unix(1000, 0)
	d := newBRD(nil)
	d.now = func() time.Time { return now }
	cfg := &messages.MasterConfig{Builders: []*messages.BuilderConfig{{Name: "a", Workers: []string{"w1"}}}}
	d.slots("w1").connected = true
	reqs := []*messages.BuildRequest{{Id: 1, SubmittedAt: 1}}
	queue := func(string) iter.Seq[*messages.BuildRequest] { return slices.Values(reqs) }
	starts := func() int {
		n := len(d.plan(cfg, []string{"a"}, queue))
		for _, r := range reqs {
			delete(d.claiming, r.Id)
		}
		d.release("a", "w1")
		return n
	}
	for i, c := range []struct {
		results int32
		wait    time.Duration // quarantine that follows
	}{
		{state.ResultException, QuarantineInitial},
		{state.ResultException, 2 * QuarantineInitial},
		{state.ResultRetry, 0},                         // no quarantine, and no reset:
		{state.ResultException, 4 * QuarantineInitial}, // the wait goes on doubling
		{state.ResultSuccess, 0},                       // a success resets it
		{state.ResultException, QuarantineInitial},
	} {
		until, q := d.finished("w1", c.results)
		if q != (c.results == state.ResultException) || (q && until.Sub(now) != c.wait) {
			t.Fatalf("step %d: quarantined %v until %v", i, q, until)
		}
		if c.wait > 0 {
			if starts() != 0 {
				t.Fatalf("step %d: a build started during the quarantine", i)
			}
			now = now.Add(c.wait)
		}
		if starts() != 1 {
			t.Fatalf("step %d: no build started after the quarantine", i)
		}
	}
}

// TestWorkerGauges: the distributor counts the workers connected, paused
// and in quarantine into buildmaster_workers.
func TestWorkerGauges(t *testing.T) {
	now := time.Unix(1000, 0)
	rt := service.NewRuntime(nil, slog.New(slog.DiscardHandler), &messages.MasterConfig{}, nil)
	d := newBRD(rt)
	d.now = func() time.Time { return now }
	d.slots("w1").connected = true
	w2 := d.slots("w2")
	w2.connected, w2.paused = true, true
	d.slots("w3")
	d.finished("w1", state.ResultException)
	d.countWorkers()
	for st, want := range map[string]float64{"connected": 2, "paused": 1, "quarantined": 1} {
		if got := testutil.ToFloat64(rt.Stats.Workers.WithLabelValues(st)); got != want {
			t.Errorf("buildmaster_workers{state=%q} = %v, want %v", st, got, want)
		}
	}
	now = now.Add(QuarantineInitial)
	d.countWorkers()
	if got := testutil.ToFloat64(rt.Stats.Workers.WithLabelValues("quarantined")); got != 0 {
		t.Errorf("quarantined after the quarantine ended: %v", got)
	}
}
