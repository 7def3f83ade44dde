package httpserve

import (
	"net/http"
	"sync/atomic"
	"time"
)

// busy counts the requests a listener's handlers have answered and the time
// they took, from the request's headers read to the handler's return: the
// master's own part of a request, which a client's wall time (its process
// start, connection, transfer) is measured against.
type busy struct {
	requests atomic.Int64
	nanos    atomic.Int64
}

// timed is h counting into b.
func (b *busy) timed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() {
			b.nanos.Add(int64(time.Since(start)))
			b.requests.Add(1)
		}()
		h.ServeHTTP(w, r)
	})
}

// Served is how many requests the listener's handlers have answered since
// it was bound, and the time they took in all (a request still in a
// handler, a WebSocket or an event stream, is counted when it ends).
func (l *Listener) Served() (requests int64, took time.Duration) {
	return l.busy.requests.Load(), time.Duration(l.busy.nanos.Load())
}
