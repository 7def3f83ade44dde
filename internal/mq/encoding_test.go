package mq

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Each encoding of an event is made once and shared by every subscriber
// that asks for it, also when they ask at once; two encodings of one
// event are kept apart.
func TestEncodedOnce(t *testing.T) {
	b := New()
	defer b.Close()
	var subs []*Subscription
	for range 8 {
		subs = append(subs, subscribe(t, b, 4, "builds/*/new"))
	}
	var upperCalls, lenCalls atomic.Int64
	upper := NewEncoding(func(ev *Event) []byte {
		upperCalls.Add(1)
		return []byte("<" + ev.Topic + ">")
	})
	length := NewEncoding(func(ev *Event) []byte {
		lenCalls.Add(1)
		return []byte{byte(len(ev.Body))}
	})
	publish(t, b, "builds/1/new", `{"a":1}`)

	var wg sync.WaitGroup
	got := make([][2]string, len(subs))
	for i, s := range subs {
		wg.Go(func() {
			<-s.Ready()
			ev := s.Take(nil)[0]
			got[i] = [2]string{string(ev.Encoded(upper)), string(ev.Encoded(length))}
		})
	}
	wg.Wait()
	for i, g := range got {
		if g != [2]string{"<builds/1/new>", "\x07"} {
			t.Errorf("subscriber %d: %q", i, g)
		}
	}
	if u, l := upperCalls.Load(), lenCalls.Load(); u != 1 || l != 1 {
		t.Errorf("encoded %d and %d times, want once each", u, l)
	}
}
