package db

import (
	"context"
	"time"
)

// ExpiryTarget is how long one of the janitor's Expire writes should take,
// from its submission to its being applied (pacer).
const ExpiryTarget = 10 * time.Millisecond

// pacer paces the janitor's writes so that they hold up the master's other
// writes by little (a build's start is two or three writes, each submitted
// once the one before is applied): it sizes each batch by what the ones
// before cost, and after each batch it waits as long as that batch took, so
// that what was submitted meanwhile goes first and the janitor has at most
// about half of the state's time.
//
// A batch's cost is its time from submission to applied: its raft entry's
// write and fsync, its apply (memdb write, archive segments written again),
// and the writes queued before it. The size aims at target: halved after a
// batch that took more than target, grown by a quarter (at least one) after
// one that took less than half of it, always within [max/10, max] (at
// least 1), starting at the smallest: a slow or busy master gets small
// writes, and a loaded one still gets through its history.
type pacer struct {
	target   time.Duration
	min, max int
	size     int
	// wait waits d, or until ctx ends (then it returns ctx's error).
	wait func(ctx context.Context, d time.Duration) error
}

// newPacer returns a pacer of batches of at most most (DefaultJanitorBatch
// when most ≤ 0), aiming at ExpiryTarget.
func newPacer(most int) *pacer {
	if most <= 0 {
		most = DefaultJanitorBatch
	}
	lo := max(1, most/10)
	return &pacer{target: ExpiryTarget, min: lo, max: most, size: lo, wait: sleep}
}

// next is the size of the next batch.
func (p *pacer) next() int { return p.size }

// took records that the last batch took d, sizes the next one, and waits
// as long (or until ctx ends).
func (p *pacer) took(ctx context.Context, d time.Duration) error {
	switch {
	case d > p.target:
		p.size = max(p.min, p.size/2)
	case d < p.target/2:
		p.size = min(p.max, p.size+max(1, p.size/4))
	}
	return p.wait(ctx, d)
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
