package secrets

import (
	"bufio"
	"net"
	"net/http"
)

// Middleware redacts the bodies of h's answers with the Redactor that
// redactor returns when each request arrives: an HTTP surface's last line
// of defence, should a value have reached something it serves. When there
// is nothing to redact, h answers untouched. A Content-Length set by h is
// dropped (a marker changes the length); a flush sends all but what may
// begin a value; a hijacked connection (a WebSocket) is left alone.
func Middleware(redactor func() *Redactor) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			red := redactor()
			if red == nil || red.Empty() {
				h.ServeHTTP(w, r)
				return
			}
			rw := &redactingResponse{ResponseWriter: w, red: red}
			defer rw.finish()
			h.ServeHTTP(rw, r)
		})
	}
}

// redactingResponse is an http.ResponseWriter whose body goes through a
// Writer.
type redactingResponse struct {
	http.ResponseWriter
	red         *Redactor
	w           *Writer
	wroteHeader bool
	hijacked    bool
}

func (rw *redactingResponse) WriteHeader(code int) {
	if !rw.wroteHeader && code >= 200 {
		rw.wroteHeader = true
		rw.Header().Del("Content-Length")
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *redactingResponse) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.w == nil {
		rw.w = rw.red.NewWriter(rw.ResponseWriter)
	}
	return rw.w.Write(p)
}

// FlushError flushes the connection. What the Writer holds back (at most
// the longest value's length less a byte, after the last newline) stays
// held until more is written or the answer ends, so that a value split
// across a flush is still found.
func (rw *redactingResponse) FlushError() error {
	return http.NewResponseController(rw.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (rw *redactingResponse) Flush() { _ = rw.FlushError() }

// Hijack implements http.Hijacker: what goes over the connection after it
// is not redacted.
func (rw *redactingResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	rw.hijacked = true
	return http.NewResponseController(rw.ResponseWriter).Hijack()
}

// Unwrap gives http.ResponseController the connection's deadlines.
func (rw *redactingResponse) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

func (rw *redactingResponse) finish() {
	if rw.w != nil && !rw.hijacked {
		_ = rw.w.Flush()
	}
}
