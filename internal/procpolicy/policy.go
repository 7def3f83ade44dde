// Package procpolicy runs a master that uses well under one core on one P
// (GOMAXPROCS=1), and on Go's default GOMAXPROCS when it needs more. At
// tens of builds a second the master is idle most of the time, and with
// two Ps each idle→busy wake-up costs the Go scheduler several futex,
// nanosleep and epoll calls more than with one (waking a spinning M for
// the idle P, sysmon restarting its polling): on a machine where system
// calls are dear that is a large part of the master's CPU per build. With
// one P the same work costs less CPU, but the master cannot use a second
// core, so the policy goes back to the default as soon as the master's
// CPU shows it needs one.
//
// The master starts on one P. Every Policy.Interval (Policy.FastInterval
// on one P while the master is getting busy) the policy reads the CPU time
// the process used (user and system) and decides. GOMAXPROCS is the
// process's, so the policy is started once, by the master's command
// (internal/cli), and not at all when the user set GOMAXPROCS in the
// environment. It owns no actor and accepts no messages.
//
// In the master GOMAXPROCS therefore does not say how many CPUs it may
// use: a pool sized from it when it is made (zstd's coders, a semaphore)
// would keep one slot for the master's life if made while on one P. Size
// such pools from runtime.NumCPU with a bound of their own, as
// internal/logchunk's codec and internal/users/password's Hasher do.
package procpolicy

import "time"

// Policy is when the master goes to one P and back.
type Policy struct {
	// Up is the share of one core (CPU time over wall time, user and
	// system) above which the master, on one P, goes back to the default
	// at the next check.
	Up float64
	// Down is the share of one core below which the master, on the
	// default, counts a check as calm; DownAfter calm checks in a row take
	// it to one P. Down below Up, and DownAfter, keep it from flapping.
	Down      float64
	DownAfter int
	// Interval is the time between checks on the default, and on one P
	// after a check that saw less than Down; FastInterval between checks
	// on one P after one that saw Down or more (and after the start), so
	// that work that grows waits on one P for at most about FastInterval
	// once it shows, and an idle master wakes only once an Interval.
	Interval, FastInterval time.Duration
}

// Default is the master's policy: the default again above 80% of a core
// (one P is nearly saturated) — within 100 ms once the master uses half a
// core, within about a second from idle —, one P after 3 s below 50%; an
// idle master checks once a second.
func Default() Policy {
	return Policy{Up: 0.8, Down: 0.5, DownAfter: 3, Interval: time.Second, FastInterval: 100 * time.Millisecond}
}

// state is where the policy stands: on one P or not, how many calm checks
// in a row it has seen on the default, and, on one P, whether the last
// check saw Down or more (warm: the next comes after FastInterval). It
// starts on one P, warm.
type state struct {
	one  bool
	calm int
	warm bool
}

// next is the state after a check that saw the process use busy cores
// (CPU time over wall time) since the last one.
func (p Policy) next(s state, busy float64) state {
	if s.one {
		if busy > p.Up {
			return state{}
		}
		return state{one: true, warm: busy >= p.Down}
	}
	if busy >= p.Down {
		return state{}
	}
	if s.calm+1 >= p.DownAfter {
		return state{one: true}
	}
	return state{calm: s.calm + 1}
}

// interval is the time until the check after one that left s.
func (p Policy) interval(s state) time.Duration {
	if s.one && s.warm {
		return p.FastInterval
	}
	return p.Interval
}
