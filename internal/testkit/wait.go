package testkit

import (
	"fmt"
	"testing"
	"time"
)

// DefaultTimeout is how long a wait lasts before it fails the test. It is
// generous on purpose: a condition that holds at all holds well within it
// even on a loaded two-core machine under -race, and a test that passes
// never waits for it.
const DefaultTimeout = time.Minute

// pollMax is the longest pause between two checks of a condition; the
// first pauses are shorter, so that a condition that holds soon is seen
// soon.
const pollMax = 20 * time.Millisecond

// An Option changes one wait.
type Option struct{ timeout time.Duration }

// Within sets the deadline of one wait to d instead of DefaultTimeout.
func Within(d time.Duration) Option { return Option{timeout: d} }

func timeout(opts []Option) time.Duration {
	d := DefaultTimeout
	for _, o := range opts {
		if o.timeout > 0 {
			d = o.timeout
		}
	}
	return d
}

// Eventually checks cond until it returns true. If it has not by the
// deadline, it fails the test (t.Fatalf) with "never: what". Like Fatalf,
// call it from the test's goroutine.
func Eventually(t testing.TB, what string, cond func() bool, opts ...Option) {
	t.Helper()
	Retry(t, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("never: %s", what)
	}, opts...)
}

// Retry calls check until it returns nil. If it has not by the deadline,
// it fails the test (t.Fatalf) with check's last error, which should say
// what was expected and what was last seen. Like Fatalf, call it from the
// test's goroutine.
func Retry(t testing.TB, check func() error, opts ...Option) {
	t.Helper()
	d := timeout(opts)
	deadline := time.Now().Add(d)
	for pause := time.Millisecond; ; pause = min(2*pause, pollMax) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v (waited %s)", err, d)
			return
		}
		time.Sleep(pause)
	}
}

// Recv waits for a value on ch and returns it (a closed channel gives its
// zero value at once, as a receive does). If none comes by the deadline,
// it fails the test (t.Fatalf) with "nothing on what". Like Fatalf, call
// it from the test's goroutine.
func Recv[T any](t testing.TB, what string, ch <-chan T, opts ...Option) T {
	t.Helper()
	d := timeout(opts)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("nothing on %s (waited %s)", what, d)
		var zero T
		return zero
	}
}
