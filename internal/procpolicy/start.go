package procpolicy

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Start sets GOMAXPROCS to 1 and applies p until stop is called, which
// leaves GOMAXPROCS where the policy last put it. When the environment
// sets GOMAXPROCS to a value the Go runtime obeys it does nothing: the
// user chose. A value the runtime ignores ("0", "abc") leaves the policy
// on, as the runtime leaves its default. log (nil: none) hears of each
// change at debug level.
func Start(p Policy, log *slog.Logger) (stop func()) {
	if chosen(os.Getenv("GOMAXPROCS")) {
		return func() {}
	}
	return p.start(system(), log)
}

// chosen reports whether the runtime takes v, GOMAXPROCS's value in the
// environment, as the number of Ps: a decimal int32 above zero, with no
// sign but an optional minus, as the runtime parses it.
func chosen(v string) bool {
	if strings.HasPrefix(v, "+") {
		return false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	return err == nil && n > 0
}

// env is what the policy reads and changes: a clock, the CPU time the
// process has used, and GOMAXPROCS (one P, or Go's default).
type env struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	cpu   func() (time.Duration, error)
	set   func(one bool)
}

// system is the process's own env.
func system() env {
	return env{now: time.Now, after: time.After, cpu: cpuTime, set: func(one bool) {
		if one {
			runtime.GOMAXPROCS(1)
		} else {
			runtime.SetDefaultGOMAXPROCS()
		}
	}}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() (time.Duration, error) {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()), nil
}

// start sets e to one P and runs the policy's checks in e on a goroutine
// of its own until stop is called. If the CPU time cannot be read, it
// puts e back on the default and checks no more.
func (p Policy) start(e env, log *slog.Logger) (stop func()) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	s := state{one: true, warm: true}
	e.set(true)
	go func() {
		defer close(finished)
		// giveUp leaves the process on the default when its CPU time
		// cannot be read.
		giveUp := func(err error) {
			if s.one {
				e.set(false)
			}
			log.Warn("GOMAXPROCS left at Go's default", "error", err)
		}
		lastWall := e.now()
		lastCPU, err := e.cpu()
		if err != nil {
			giveUp(err)
			return
		}
		for {
			select {
			case <-done:
				return
			case <-e.after(p.interval(s)):
			}
			wall := e.now()
			cpu, err := e.cpu()
			if err != nil {
				giveUp(err)
				return
			}
			busy := 0.0
			if d := wall.Sub(lastWall); d > 0 {
				busy = float64(cpu-lastCPU) / float64(d)
			}
			lastWall, lastCPU = wall, cpu
			n := p.next(s, busy)
			if n.one != s.one {
				e.set(n.one)
				log.Debug("GOMAXPROCS set", "one", n.one, "busy_cores", busy)
			}
			s = n
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
