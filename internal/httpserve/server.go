package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
)

// Server serves one handler on a Listener, from Serve until Stop or Close.
type Server struct {
	srv     *http.Server
	session *session
}

// Serve starts serving h on l in the background, with l's timeouts; log
// receives the server's own errors, and why it stopped if it stops by itself.
// Only one Server should serve a Listener at a time.
func Serve(l *Listener, h http.Handler, log *slog.Logger) *Server {
	return ServeTLS(l, h, log, nil, nil)
}

// ServeTLS is Serve over TLS with cfg (which holds the certificate); a nil
// cfg serves plain HTTP. Failed TLS handshakes, which a stranger causes at
// will, and every other line of the server's log, are logged through
// refusals (nil: a droplog of the server's own).
func ServeTLS(l *Listener, h http.Handler, log *slog.Logger, cfg *tls.Config, refusals *droplog.Log) *Server {
	if refusals == nil {
		refusals = droplog.New(log, droplog.Options{})
	}
	s := &Server{
		srv: &http.Server{
			Handler:           l.busy.timed(h),
			ReadHeaderTimeout: l.limits.ReadHeaderTimeout,
			ReadTimeout:       l.limits.ReadTimeout,
			WriteTimeout:      l.limits.WriteTimeout,
			IdleTimeout:       l.limits.IdleTimeout,
			ErrorLog:          errorLog(refusals),
			TLSConfig:         cfg,
		},
		session: l.session(),
	}
	go func() {
		serve := func() error { return s.srv.Serve(s.session) }
		if cfg != nil {
			serve = func() error { return s.srv.ServeTLS(s.session, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(l.key+": stopped serving", slog.Any("error", err))
		}
	}()
	return s
}

// Stop stops accepting connections, lets the requests in flight finish for
// up to grace, then closes every connection left. The Listener stays bound.
func (s *Server) Stop(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
}

// Close stops accepting and closes every connection at once (a service
// restarting after a failure). The Listener stays bound.
func (s *Server) Close() { s.srv.Close() }
