package httpserve

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// busy counts the requests a listener's handlers have answered and the time
// they took, from the request's headers read to the handler's return: the
// master's own part of a request, which a client's wall time (its process
// start, connection, transfer) is measured against. Streams (a request
// asking for an upgrade, a WebSocket; a response of text/event-stream)
// live as long as their client stays, so they are counted apart, without
// their time, which would swamp the ordinary requests'.
type busy struct {
	requests atomic.Int64
	nanos    atomic.Int64
	streams  atomic.Int64
	now      func() time.Time // time.Now; a test's fake clock
}

// timed is h counting into b.
func (b *busy) timed(h http.Handler) http.Handler {
	now := b.now
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		defer func() {
			if stream(w, r) {
				b.streams.Add(1)
				return
			}
			b.nanos.Add(int64(now().Sub(start)))
			b.requests.Add(1)
		}()
		h.ServeHTTP(w, r)
	})
}

// stream tells whether r, answered on w, was a stream: it asked for an
// upgrade (a WebSocket), or its answer is an event stream.
func stream(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return true
	}
	const eventStream = "text/event-stream" // a prefix: no parameters parsed on every request
	ct := w.Header().Get("Content-Type")
	return len(ct) >= len(eventStream) && strings.EqualFold(ct[:len(eventStream)], eventStream)
}

// Served is how many requests the listener's handlers have answered since
// it was bound, and the time they took in all; streams are not among them
// (Streams).
func (l *Listener) Served() (requests int64, took time.Duration) {
	return l.busy.requests.Load(), time.Duration(l.busy.nanos.Load())
}

// Streams is how many streams (WebSocket, event stream) the listener's
// handlers have ended since it was bound.
func (l *Listener) Streams() int64 { return l.busy.streams.Load() }
