package mq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

func key(s string) Key { return Key(strings.Split(s, "/")) }

func filter(t testing.TB, s string) Filter {
	t.Helper()
	f, err := ParseFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func subscribe(t testing.TB, b *Bus, buffer int, filters ...string) *Subscription {
	t.Helper()
	s := b.Subscribe(t.Context(), buffer)
	for _, f := range filters {
		if _, err := s.Add(filter(t, f)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func publish(t testing.TB, b *Bus, k string, body string) {
	t.Helper()
	if err := b.Publish(key(k), "", []byte(body)); err != nil {
		t.Fatal(err)
	}
}

// queued takes what s has queued now, as "topic body" lines.
func queued(s *Subscription) []string {
	var out []string
	for _, ev := range s.Take(nil) {
		out = append(out, ev.Topic+" "+string(ev.Body))
	}
	return out
}

// next takes the one event s has queued.
func next(t testing.TB, s *Subscription) *Event {
	t.Helper()
	evs := s.Take(nil)
	if len(evs) != 1 {
		t.Fatalf("took %d events, want 1", len(evs))
	}
	return evs[0]
}

func TestPublishDeliversOnceInOrder(t *testing.T) {
	b := New()
	// Overlapping filters: each event still arrives once.
	s := subscribe(t, b, 10, "builds/*/*", "builds/12/*", "*/12/finished")
	other := subscribe(t, b, 10, "steps/*/*")
	publish(t, b, "builds/12/new", `{"n":1}`)
	publish(t, b, "steps/3/new", `{"n":2}`)
	publish(t, b, "builds/12/finished", `{"n":3}`)
	publish(t, b, "builds/13/finished", `{"n":4}`)
	got := strings.Join(queued(s), "\n")
	want := "builds/12/new {\"n\":1}\nbuilds/12/finished {\"n\":3}\nbuilds/13/finished {\"n\":4}"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := queued(other); len(got) != 1 || got[0] != `steps/3/new {"n":2}` {
		t.Errorf("other got %q", got)
	}
	st := b.Stats()
	if st != (Stats{Subscribers: 2, Filters: 4, Published: 4, Delivered: 4, Wakeups: 2}) {
		t.Errorf("stats %+v", st)
	}
}

func TestEventIsShared(t *testing.T) {
	b := New()
	s1 := subscribe(t, b, 1, "builds/*/*")
	s2 := subscribe(t, b, 1, "builds/1/*")
	publish(t, b, "builds/1/new", `{}`)
	e1, e2 := next(t, s1), next(t, s2)
	if e1 != e2 || e1.Seq != 1 {
		t.Errorf("subscribers got different events %p %p, seq %d", e1, e2, e1.Seq)
	}
}

func TestAddTwiceAndRemove(t *testing.T) {
	b := New()
	s := b.Subscribe(t.Context(), 10)
	if added, err := s.Add(filter(t, "builds/*/*")); !added || err != nil {
		t.Fatalf("first Add = %v, %v", added, err)
	}
	if added, err := s.Add(filter(t, "builds/*/*")); added || err != nil {
		t.Fatalf("second Add = %v, %v; want false, nil", added, err)
	}
	publish(t, b, "builds/1/new", `1`)
	if got := queued(s); len(got) != 1 {
		t.Fatalf("got %q, want one event", got)
	}
	if !s.Remove(filter(t, "builds/*/*")) {
		t.Fatal("Remove of an added filter = false")
	}
	if s.Remove(filter(t, "builds/*/*")) {
		t.Fatal("second Remove = true")
	}
	publish(t, b, "builds/1/new", `2`)
	if got := queued(s); len(got) != 0 {
		t.Fatalf("got %q after Remove", got)
	}
	if st := b.Stats(); st.Filters != 0 || st.Subscribers != 1 {
		t.Errorf("stats %+v", st)
	}
	if b.root.n != 0 || len(b.root.lit) != 0 || b.root.any != nil {
		t.Errorf("index not pruned: %+v", b.root)
	}
}

// A subscriber that does not read is dropped when its queue is full; the
// publisher goes on (a blocking Publish would hang this test), and a
// subscriber that keeps up receives every event, in order.
func TestSlowSubscriberDropped(t *testing.T) {
	b := New()
	const buffer = 4
	stuck := subscribe(t, b, buffer, "builds/*/*")
	fast := subscribe(t, b, buffer, "builds/*/*")
	for i := range 1000 {
		publish(t, b, fmt.Sprintf("builds/%d/new", i+1), fmt.Sprint(i))
		ev := next(t, fast) // keeps up
		if want := fmt.Sprint(i); string(ev.Body) != want {
			t.Fatalf("fast got %s, want %s", ev.Body, want)
		}
	}
	<-stuck.Context().Done()
	cause := context.Cause(stuck.Context())
	if !errors.Is(cause, ErrSlow) || cause.Error() != "subscriber fell behind: its queue of 4 events was full" {
		t.Errorf("cause = %v", cause)
	}
	// The events queued before the drop can still be taken.
	if got := queued(stuck); len(got) != buffer || got[buffer-1] != "builds/4/new 3" {
		t.Errorf("stuck queue: %q", got)
	}
	if _, err := stuck.Add(filter(t, "steps/*/*")); !errors.Is(err, ErrSlow) {
		t.Errorf("Add after drop: %v", err)
	}
	st := b.Stats()
	if st.Dropped != 1 || st.Subscribers != 1 || st.Filters != 1 || st.Published != 1000 || st.Delivered != 1000+buffer {
		t.Errorf("stats %+v", st)
	}
}

func TestSubscriptionEnds(t *testing.T) {
	b := New()
	ctx, cancel := context.WithCancelCause(t.Context())
	byCtx := subscribe(t, b, 1, "builds/*/*")
	byCtx.Close()
	parent := b.Subscribe(ctx, 1)
	if _, err := parent.Add(filter(t, "builds/*/*")); err != nil {
		t.Fatal(err)
	}
	gone := errors.New("client went away")
	cancel(gone)
	<-parent.Context().Done()
	testkit.Eventually(t, "the subscription ended by its context leaves the bus", func() bool {
		return b.Stats().Subscribers == 0
	})
	if c := context.Cause(parent.Context()); c != gone {
		t.Errorf("cause = %v, want %v", c, gone)
	}
	if c := context.Cause(byCtx.Context()); c != ErrUnsubscribed {
		t.Errorf("cause = %v, want ErrUnsubscribed", c)
	}
	live := subscribe(t, b, 1, "builds/*/*")
	b.Close()
	if c := context.Cause(live.Context()); c != ErrClosed {
		t.Errorf("cause after bus Close = %v", c)
	}
	if err := b.Publish(key("builds/1/new"), "", []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	late := b.Subscribe(t.Context(), 1)
	if c := context.Cause(late.Context()); c != ErrClosed {
		t.Errorf("Subscribe after Close: cause %v", c)
	}
	if st := b.Stats(); st.Subscribers != 0 || st.Filters != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	b := New()
	s := subscribe(t, b, 10, "builds/*/*", "*")
	for _, tc := range []struct {
		key  Key
		body string
		err  string
	}{
		{key("builds/1/new"), `{"a":`, "publish builds/1/new: body is not one JSON value"},
		{key("builds/1/new"), "{\n\"a\":", "publish builds/1/new: body is not one JSON value: unexpected end of JSON input"},
		{key("builds/1/new"), ``, "publish builds/1/new: body is not one JSON value"},
		{key("builds/1/new"), `{} {}`, "publish builds/1/new: body is not one JSON value"},
		{Key{"builds", "*", "new"}, `{}`, `publish: key "builds/*/new": segment 2: "*": byte 1 ('*') cannot appear in a key`},
	} {
		err := b.Publish(tc.key, "", []byte(tc.body))
		if errString(err) != tc.err {
			t.Errorf("Publish(%q, %q) = %v, want %q", tc.key, tc.body, err, tc.err)
		}
	}
	if got := queued(s); len(got) != 0 {
		t.Errorf("bad publishes delivered %q", got)
	}
	// A body with newlines is compacted, so that SSE can frame it.
	publish(t, b, "x", "{\n  \"a\": [1,\r\n 2]\n}")
	if got := queued(s); len(got) != 1 || got[0] != `x {"a":[1,2]}` {
		t.Errorf("got %q", got)
	}
	if st := b.Stats(); st.Published != 1 {
		t.Errorf("stats %+v", st)
	}
}

// The index delivers exactly what Filter.Match selects, through random
// adds, removes and publishes.
func TestIndexAgreesWithMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	segs := []string{"builds", "steps", "1", "2", "new", "finished"}
	randomFilter := func() Filter {
		f := make(Filter, 1+r.IntN(4))
		for i := range f {
			if r.IntN(3) == 0 {
				f[i] = Wildcard
			} else {
				f[i] = segs[r.IntN(len(segs))]
			}
		}
		return f
	}
	b := New()
	type sub struct {
		s       *Subscription
		filters map[string]Filter
	}
	subs := make([]*sub, 20)
	for i := range subs {
		subs[i] = &sub{s: b.Subscribe(t.Context(), 1), filters: map[string]Filter{}}
	}
	for step := range 5000 {
		sb := subs[r.IntN(len(subs))]
		switch r.IntN(3) {
		case 0:
			f := randomFilter()
			if _, err := sb.s.Add(f); err != nil {
				t.Fatal(err)
			}
			sb.filters[f.String()] = f
		case 1:
			f := randomFilter()
			_, had := sb.filters[f.String()]
			if got := sb.s.Remove(f); got != had {
				t.Fatalf("step %d: Remove(%s) = %v, want %v", step, f, got, had)
			}
			delete(sb.filters, f.String())
		case 2:
			k := Key(randomFilter())
			for i := range k {
				if k[i] == Wildcard {
					k[i] = "other"
				}
			}
			publish(t, b, k.String(), `0`)
			for i, sb := range subs {
				want := false
				for _, f := range sb.filters {
					want = want || f.Match(k)
				}
				got := len(queued(sb.s)) == 1
				if got != want {
					t.Fatalf("step %d: subscriber %d with %v got %s = %v, want %v", step, i, sb.filters, k, got, want)
				}
			}
		}
	}
	n := 0
	for _, sb := range subs {
		n += len(sb.filters)
	}
	if st := b.Stats(); st.Filters != n || st.Dropped != 0 {
		t.Errorf("stats %+v, want %d filters", st, n)
	}
}

// Every event of a class carries the same ClassID, from 1 in the order
// the classes first come; past MaxClassIDs classes, new ones get 0.
func TestClassIDs(t *testing.T) {
	b := New()
	s := subscribe(t, b, 16, "builds/*/*")
	for i, class := range []string{"builders/1", "", "builders/2", "builders/1", ""} {
		if err := b.Publish(key(fmt.Sprintf("builds/%d/new", i)), class, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, ev := range s.Take(nil) {
		got = append(got, fmt.Sprintf("%s=%d", ev.Class, ev.ClassID))
	}
	if want := "[builders/1=1 =2 builders/2=3 builders/1=1 =2]"; fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	for i := len(b.ids); i < MaxClassIDs; i++ {
		b.ids[fmt.Sprint("filler/", i)] = uint32(i + 1)
	}
	publishClass := func(class string) uint32 {
		if err := b.Publish(key("builds/9/new"), class, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		return next(t, s).ClassID
	}
	if id := publishClass("builders/3"); id != 0 {
		t.Errorf("a class past the bound: id %d, want 0", id)
	}
	if id := publishClass("builders/2"); id != 3 {
		t.Errorf("a numbered class after the bound: id %d, want 3", id)
	}
}

// ready reports whether s has a wake-up waiting, taking it.
func ready(s *Subscription) bool {
	select {
	case <-s.Ready():
		return true
	default:
		return false
	}
}

// A subscriber is woken once for the events queued after it found its
// queue empty, not once per event, and not at all while it has not found
// its queue empty again; a wake-up it has not received is spent by the
// Take that takes its events.
func TestWakeupOncePerBatch(t *testing.T) {
	b := New()
	s := subscribe(t, b, 16, "builds/*/*")
	for i := range 3 {
		publish(t, b, fmt.Sprintf("builds/%d/new", i), `{}`)
	}
	if !ready(s) || ready(s) {
		t.Fatal("three events into an empty queue: want one wake-up")
	}
	if got := queued(s); len(got) != 3 {
		t.Fatalf("took %q", got)
	}
	// Awake (its last Take found events): more events wake it no more.
	publish(t, b, "builds/3/new", `{}`)
	publish(t, b, "builds/4/new", `{}`)
	if ready(s) {
		t.Fatal("an awake subscriber was woken")
	}
	if got := queued(s); len(got) != 2 {
		t.Fatalf("took %q", got)
	}
	if got := queued(s); len(got) != 0 { // finds it empty: asleep
		t.Fatalf("took %q", got)
	}
	publish(t, b, "builds/5/new", `{}`)
	// Taken without waiting for the wake-up: the wake-up is spent.
	if got := queued(s); len(got) != 1 {
		t.Fatalf("took %q", got)
	}
	if ready(s) {
		t.Fatal("a wake-up outlived the events it was sent for")
	}
	if st := b.Stats(); st.Wakeups != 2 || st.Delivered != 6 {
		t.Errorf("stats %+v, want 2 wake-ups", st)
	}
}

// A subscriber that waits for Ready when its queue is empty gets every
// event, in order, while a publisher publishes concurrently, and is
// woken only after finding its queue empty.
func TestTakeWhilePublishing(t *testing.T) {
	b := New()
	s := subscribe(t, b, 1<<14, "builds/*/*")
	const n = 10_000
	go func() {
		for i := range n {
			if err := b.Publish(key(fmt.Sprintf("builds/%d/new", i)), "", []byte(fmt.Sprint(i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var buf []*Event
	got, empty := 0, 0
	for got < n {
		buf = s.Take(buf)
		if len(buf) == 0 {
			empty++
			<-s.Ready()
			continue
		}
		for _, ev := range buf {
			if want := fmt.Sprint(got); string(ev.Body) != want {
				t.Fatalf("got %s, want %s", ev.Body, want)
			}
			got++
		}
		clear(buf)
	}
	if w := b.Stats().Wakeups; w != uint64(empty) {
		t.Errorf("%d wake-ups for %d takes that found the queue empty", w, empty)
	}
}
