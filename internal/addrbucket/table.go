package addrbucket

import (
	"math"
	"time"
)

// Table is a token bucket, with a payload P, for each of at most max keys:
// a bucket holds burst tokens when full and gets one more back each every.
// It is not safe for concurrent use: its owner holds a lock.
type Table[P comparable] struct {
	every   time.Duration
	slack   time.Duration // (burst-1)×every: what a bucket may owe and still give a token
	max     int
	forgot  func(P)
	buckets map[string]Bucket[P]
}

// Bucket is a key's bucket and payload, as a value: change it with the
// Table's methods and Put it back. It stores when it will be full again
// rather than a count, so an idle bucket needs no update. The zero Bucket
// is full.
type Bucket[P comparable] struct {
	Payload P // first: a trailing struct{} would be padded
	full    time.Time
}

// New returns a Table of buckets of burst tokens, one more each every (>
// 0), for at most max keys. forgot, when not nil, is told the payload of
// each key forgotten to make room.
func New[P comparable](burst int, every time.Duration, max int, forgot func(P)) *Table[P] {
	slack := time.Duration(math.MaxInt64)
	if n := int64(burst - 1); n < int64(math.MaxInt64/every) {
		slack = time.Duration(n) * every
	}
	return &Table[P]{every: every, slack: slack, max: max, forgot: forgot, buckets: map[string]Bucket[P]{}}
}

// Get returns key's bucket: a full one with a zero payload when key is not
// held.
func (t *Table[P]) Get(key string) Bucket[P] { return t.buckets[key] }

// Put makes b key's bucket at now. A full bucket with a zero payload is
// not kept. When key is new and the table full, Put first forgets the keys
// whose buckets have refilled, then random ones until the table is three
// quarters full.
func (t *Table[P]) Put(key string, b Bucket[P], now time.Time) {
	var zero P
	if !b.full.After(now) && b.Payload == zero {
		delete(t.buckets, key)
		return
	}
	if len(t.buckets) >= t.max {
		if _, ok := t.buckets[key]; !ok {
			t.shrink(now)
		}
	}
	t.buckets[key] = b
}

// Delete forgets key.
func (t *Table[P]) Delete(key string) { delete(t.buckets, key) }

// Len returns how many keys are held.
func (t *Table[P]) Len() int { return len(t.buckets) }

// Wait returns how long from now until b has a token: 0 when it has one.
func (t *Table[P]) Wait(b Bucket[P], now time.Time) time.Duration {
	if !b.full.After(now) { // full: also spares the zero Bucket a slow Sub
		return 0
	}
	owed := b.full.Sub(now) // a token for each every until full
	if owed <= t.slack {
		return 0
	}
	return owed - t.slack
}

// Spend returns b with one token taken (whether it had one or not).
func (t *Table[P]) Spend(b Bucket[P], now time.Time) Bucket[P] {
	if b.full.Before(now) {
		b.full = now
	}
	b.full = b.full.Add(t.every)
	return b
}

// Refund returns b with one token given back.
func (t *Table[P]) Refund(b Bucket[P]) Bucket[P] {
	b.full = b.full.Add(-t.every)
	return b
}

// shrink forgets the keys whose buckets have refilled, then random ones
// until the table is three quarters full, and moves the rest to a new map:
// a Go map keeps the room of its deleted keys (and grows past it), so a
// map that strangers keep filling and shrink keeps emptying would grow
// with the number of strangers, not with max.
func (t *Table[P]) shrink(now time.Time) {
	for k, b := range t.buckets {
		if !b.full.After(now) {
			t.forget(k, b)
		}
	}
	for k, b := range t.buckets { // map order is random
		if len(t.buckets) <= t.max*3/4 {
			break
		}
		t.forget(k, b)
	}
	kept := make(map[string]Bucket[P], t.max)
	for k, b := range t.buckets {
		kept[k] = b
	}
	t.buckets = kept
}

func (t *Table[P]) forget(key string, b Bucket[P]) {
	delete(t.buckets, key)
	if t.forgot != nil {
		t.forgot(b.Payload)
	}
}
