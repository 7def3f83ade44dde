package httpserve

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Limits bound what the clients of one listener can cost, authenticated or
// not. A zero field is no limit.
type Limits struct {
	// MaxConns is how many connections the listener holds open at once;
	// more wait in the system's accept queue until one closes.
	MaxConns int
	// ReadHeaderTimeout is how long a client may take to send a request's
	// headers (a client trickling them is cut off).
	ReadHeaderTimeout time.Duration
	// ReadTimeout is how long a client may take to send a whole request.
	ReadTimeout time.Duration
	// WriteTimeout is how long a response may take to be written.
	WriteTimeout time.Duration
	// IdleTimeout is how long an idle keep-alive connection is kept.
	IdleTimeout time.Duration
}

// LimitBody refuses, with 413, a request whose body is larger than max()
// bytes (read at each request, so that it can change while the master
// runs): at once when its Content-Length says so, else when a handler reads
// past it (the read fails with an *http.MaxBytesError; TooLarge says so).
func LimitBody(max func() int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := max()
		if r.ContentLength > n {
			WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": TooLargeMessage(n)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// TooLarge reports whether err is a read past LimitBody's bound, and the
// bound.
func TooLarge(err error) (int64, bool) {
	if e, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return e.Limit, true
	}
	return 0, false
}

// TooLargeMessage is the refusal of a body larger than max bytes.
func TooLargeMessage(max int64) string {
	return fmt.Sprintf("the body is larger than %d bytes", max)
}
