package procpolicy

import (
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

func TestNext(t *testing.T) {
	p := Default()
	def, one, warm := state{}, state{one: true}, state{one: true, warm: true}
	for _, c := range []struct {
		name     string
		from     state
		busy     float64
		want     state
		interval time.Duration
	}{
		{"a calm check on the default is counted", def, 0.05, state{calm: 1}, time.Second},
		{"a second one too", state{calm: 1}, 0.05, state{calm: 2}, time.Second},
		{"the third takes the master to one P", state{calm: 2}, 0.49, one, time.Second},
		{"a busy check starts the count again", state{calm: 2}, 0.5, def, time.Second},
		{"between Down and Up the default holds", state{calm: 1}, 0.7, def, time.Second},
		{"between Down and Up one P holds, checking sooner", one, 0.7, warm, 100 * time.Millisecond},
		{"at Up one P holds", warm, 0.8, warm, 100 * time.Millisecond},
		{"below Down one P holds, checking once a second", warm, 0.3, one, time.Second},
		{"idle on one P", one, 0.01, one, time.Second},
		{"above Up one P goes back to the default", one, 0.81, def, time.Second},
		{"from a warm one P too", warm, 0.81, def, time.Second},
		{"a master that needs two cores is on the default", one, 1.8, def, time.Second},
	} {
		got := p.next(c.from, c.busy)
		if got != c.want {
			t.Errorf("%s: next(%+v, %.2f) = %+v, want %+v", c.name, c.from, c.busy, got, c.want)
		}
		if i := p.interval(got); i != c.interval {
			t.Errorf("%s: next check after %v, want %v", c.name, i, c.interval)
		}
	}
}

// fakeEnv is an env whose clock and CPU time the test moves: each check
// waits until the test fires the timer it asked for.
type fakeEnv struct {
	asked chan time.Duration // the wait each check asks for
	fire  chan time.Time     // fires the asked timer
	cpus  chan time.Duration // the CPU time the next read returns (negative: the read fails)
	sets  chan bool          // each change of GOMAXPROCS (true: one P)
	now   chan time.Time     // the time the next read returns
	env   env
}

func newFakeEnv() *fakeEnv {
	f := &fakeEnv{
		asked: make(chan time.Duration), fire: make(chan time.Time),
		cpus: make(chan time.Duration, 1), now: make(chan time.Time, 1), sets: make(chan bool, 10),
	}
	f.env = env{
		now: func() time.Time { return <-f.now },
		after: func(d time.Duration) <-chan time.Time {
			f.asked <- d
			return f.fire
		},
		cpu: func() (time.Duration, error) {
			if d := <-f.cpus; d >= 0 {
				return d, nil
			}
			return 0, errors.New("no CPU time")
		},
		set: func(one bool) { f.sets <- one },
	}
	return f
}

// The loop starts on one P and checks every 100 ms there while the master
// is busy (once a second when idle), measuring the CPU the process used
// over the wall time between two checks; it goes to the default on the
// first busy check, and back to one P after three calm seconds.
func TestLoop(t *testing.T) {
	f := newFakeEnv()
	at, cpu := time.Unix(1000, 0), time.Duration(0)
	f.now <- at
	f.cpus <- cpu
	stop := Default().start(f.env, nil)
	defer stop()
	// check runs a check that finds used more CPU time than the last after
	// wall, and waits until the loop asks for its next wait, want.
	check := func(wall, used, want time.Duration) {
		t.Helper()
		at, cpu = at.Add(wall), cpu+used
		f.now <- at
		f.cpus <- cpu
		f.fire <- at
		if d := testkit.Recv(t, "a check's wait", f.asked); d != want {
			t.Fatalf("the loop waits %v, want %v", d, want)
		}
	}
	// changes is the changes of GOMAXPROCS so far (true: one P).
	changes := func() []bool {
		var got []bool
		for {
			select {
			case one := <-f.sets:
				got = append(got, one)
			default:
				return got
			}
		}
	}
	expect := func(want ...bool) {
		t.Helper()
		if got := changes(); !slices.Equal(got, want) {
			t.Fatalf("GOMAXPROCS changes (one P?) %v, want %v", got, want)
		}
	}
	const fast, slow = 100 * time.Millisecond, time.Second
	if d := testkit.Recv(t, "the first check's wait", f.asked); d != fast {
		t.Fatalf("the loop waits %v, want %v", d, fast)
	}
	expect(true)
	check(fast, 70*time.Millisecond, fast)
	expect()
	check(fast, 90*time.Millisecond, slow)
	expect(false)
	check(slow, 300*time.Millisecond, slow)
	check(slow, 100*time.Millisecond, slow)
	// A late timer: 2 s of wall time, 1.2 s of CPU is 60% of a core, not
	// calm.
	check(2*slow, 1200*time.Millisecond, slow)
	check(slow, 100*time.Millisecond, slow)
	check(slow, 100*time.Millisecond, slow)
	expect()
	check(slow, 100*time.Millisecond, slow)
	expect(true)
	// On one P an idle master checks once a second, a busier one every
	// 100 ms.
	check(slow, 50*time.Millisecond, slow)
	check(slow, 600*time.Millisecond, fast)
	expect()
	check(fast, 90*time.Millisecond, slow)
	expect(false)
}

// Start puts the process on one P at once, and the real set takes it
// back to the default: policy goes up at its first check, a millisecond
// later, and never down. Go's default is SetDefaultGOMAXPROCS's, not the
// value the test starts on (-cpu or GOMAXPROCS in go test's environment),
// which the test gives back to the package's other tests.
func TestStartSetsGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	was := runtime.GOMAXPROCS(0)
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(was)
	if def < 2 {
		t.Skip("the default GOMAXPROCS is 1 here")
	}
	stop := Start(Policy{Up: -1, Down: -1, DownAfter: 1, Interval: time.Hour, FastInterval: time.Millisecond}, nil)
	defer stop()
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS %d once started, want 1", n)
	}
	testkit.Eventually(t, "GOMAXPROCS back at the default", func() bool { return runtime.GOMAXPROCS(0) == def })
}

// Start leaves GOMAXPROCS set in the environment alone.
func TestStartLeavesGOMAXPROCSFromTheEnvironment(t *testing.T) {
	t.Setenv("GOMAXPROCS", "2")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	defer Start(Default(), nil)()
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("GOMAXPROCS %d, want the environment's 2", n)
	}
}

// Only a GOMAXPROCS the runtime obeys turns the policy off: before, any
// non-empty value did, so "0" or "abc" left the master with neither the
// user's choice (the runtime ignores them) nor the policy.
func TestChosen(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"", false},
		{"1", true},
		{"2", true},
		{"64", true},
		{"0", false},
		{"-1", false},
		{"+2", false},
		{"abc", false},
		{"2 ", false},
		{"2147483648", false},
	} {
		if got := chosen(c.v); got != c.want {
			t.Errorf("chosen(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}

// A check that cannot read the CPU time puts the master back on the
// default and ends the checks: before, the read gave 0, a negative busy
// that kept the master on one P (and a spurious surge at the next read).
func TestLoopWithoutCPUTime(t *testing.T) {
	f := newFakeEnv()
	at := time.Unix(1000, 0)
	f.now <- at
	f.cpus <- 0
	stop := Default().start(f.env, nil)
	if d := testkit.Recv(t, "the first check's wait", f.asked); d != 100*time.Millisecond {
		t.Fatalf("the loop waits %v, want 100ms", d)
	}
	if !testkit.Recv(t, "the start's change", f.sets) {
		t.Fatal("the start did not take one P")
	}
	f.now <- at.Add(100 * time.Millisecond)
	f.cpus <- -1
	f.fire <- at
	if testkit.Recv(t, "the change after a failed read", f.sets) {
		t.Fatal("a failed read kept one P")
	}
	stop()
}
