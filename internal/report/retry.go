package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy decides when a failed report is tried again: exponential
// backoff with jitter, never sooner than the target asked, and never past
// the report's lifetime, after which it is dropped. It is pure: the caller
// passes the time, and Rand may be fixed in tests.
type RetryPolicy struct {
	// Initial is the first backoff; 0 means 5s.
	Initial time.Duration
	// Max caps the backoff (not a target's Retry-After); 0 means 10m.
	Max time.Duration
	// Multiplier grows the backoff per attempt; below 1 means 2.
	Multiplier float64
	// Jitter is the fraction of the backoff drawn at random: the wait is
	// backoff × (1 - Jitter × rand); 0 means 0.5, negative means none.
	Jitter float64
	// Lifetime is how long after its first attempt a report may still be
	// tried; 0 means 24h.
	Lifetime time.Duration
	// Rand returns a number in [0, 1); nil means math/rand/v2.Float64.
	Rand func() float64
}

// Decision is what to do with a report after a failed attempt.
type Decision struct {
	// Retry is false when the report is to be dropped.
	Retry bool
	// At is when to try again.
	At time.Time
	// Reason says why a report is dropped.
	Reason string
}

// Next decides after attempt number attempts (1 for the first) failed
// with err at now; first is when the first attempt was made.
func (p RetryPolicy) Next(err error, attempts int, first, now time.Time) Decision {
	retry, after := RetryInfo(err)
	if !retry {
		return Decision{Reason: fmt.Sprintf("permanent failure: %v", err)}
	}
	wait := max(p.Backoff(attempts), after)
	deadline := first.Add(p.lifetime())
	if at := now.Add(wait); !at.After(deadline) {
		return Decision{Retry: true, At: at}
	}
	return Decision{Reason: fmt.Sprintf("gave up after %d attempts over %s (lifetime %s): %v",
		attempts, now.Sub(first).Round(time.Second), p.lifetime(), err)}
}

// Backoff is the jittered wait after attempt number attempts failed.
func (p RetryPolicy) Backoff(attempts int) time.Duration {
	initial, maxWait, mult, jitter := p.Initial, p.Max, p.Multiplier, p.Jitter
	if initial <= 0 {
		initial = 5 * time.Second
	}
	if maxWait <= 0 {
		maxWait = 10 * time.Minute
	}
	if mult < 1 {
		mult = 2
	}
	switch {
	case jitter == 0:
		jitter = 0.5
	case jitter < 0:
		jitter = 0
	case jitter > 1:
		jitter = 1
	}
	d := float64(initial) * math.Pow(mult, float64(max(attempts-1, 0)))
	d = min(d, float64(maxWait))
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	return time.Duration(d * (1 - jitter*r()))
}

func (p RetryPolicy) lifetime() time.Duration {
	if p.Lifetime <= 0 {
		return 24 * time.Hour
	}
	return p.Lifetime
}
