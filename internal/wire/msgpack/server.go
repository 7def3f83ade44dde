package msgpack

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// DefaultLoginTimeout is how long a worker has, from the upgrade, to
// answer get_worker_info and set_worker_settings.
const DefaultLoginTimeout = 10 * time.Second

// ServerOptions tune a Server; the zero value takes the defaults.
type ServerOptions struct {
	Logger       *slog.Logger  // default slog.Default()
	MaxFrame     int64         // largest frame read; default DefaultMaxFrame
	LoginTimeout time.Duration // default DefaultLoginTimeout
	WriteTimeout time.Duration // bound on writing one frame; default one minute
	Settings     Settings      // sent with set_worker_settings; default DefaultSettings()
	// Refusals logs refused logins and the frames a logged-in worker
	// sends that are ignored, within its budgets (share one between
	// listeners); default one of the server's own, on Logger.
	Refusals *droplog.Log
}

// Server is the master's side of msgpack_experimental_v7: an http.Handler
// for the WebSocket upgrade, mounted on a listener its owner runs (give
// that http.Server a ReadHeaderTimeout: the handler only sees complete
// requests).
//
// The upgrade checks Authorization: Basic against the Authenticator:
// no header, an unknown worker or a wrong password → 401; a header that is
// not Basic base64(name:password) → 400; ErrRateLimited → 429 (so a worker
// can tell "wait" from "wrong password"; Buildbot's worker retries either
// way), with Retry-After when the Authenticator said how long
// (wire.RateLimited); another Authenticator error → 503. A refused request,
// or one that fails to upgrade, has its connection closed after the answer
// (no keep-alive for a connection not logged in). Passwords are compared in
// constant time and never logged.
//
// After the upgrade the worker is logged in by asking get_worker_info and
// sending set_worker_settings; a worker that has not answered both within
// LoginTimeout is closed. Until then every request from it is answered
// "Worker not authenticated.". Then accept gets the connection.
type Server struct {
	auth   wire.Authenticator
	accept func(wire.Conn)
	opts   ServerOptions
	log    *slog.Logger

	mu     sync.Mutex
	conns  map[*serverConn]struct{}
	closed bool

	frames framePool // the buffers its connections read frames into

	onFrame func(in bool, b []byte) // tests capture the frames of every connection
}

// NewServer returns a Server that checks logins with auth and hands each
// logged-in connection to accept (on a goroutine of the connection's own;
// accept may block).
func NewServer(auth wire.Authenticator, accept func(wire.Conn), opts ServerOptions) (*Server, error) {
	if auth == nil || accept == nil {
		return nil, errors.New("msgpack.NewServer: an Authenticator and an accept func are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = DefaultLoginTimeout
	}
	if opts.Refusals == nil {
		opts.Refusals = droplog.New(opts.Logger, droplog.Options{})
	}
	if opts.Settings == (Settings{}) {
		opts.Settings = DefaultSettings()
	}
	return &Server{auth: auth, accept: accept, opts: opts, log: opts.Logger,
		conns: map[*serverConn]struct{}{}}, nil
}

// ServeHTTP upgrades a worker's request, logs it in and serves the
// connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := s.log.With("peer", r.RemoteAddr)
	if s.isClosed() {
		refuse(w, "master shutting down", http.StatusServiceUnavailable)
		return
	}
	name, status, wait := s.authenticate(r.Context(), r)
	if status != http.StatusOK {
		attrs := []slog.Attr{slog.String("worker", droplog.Text(name)), slog.Int("status", status)}
		if wait > 0 {
			attrs = append(attrs, slog.Duration("retry_after", wait))
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		}
		s.opts.Refusals.Refused(r.RemoteAddr, "worker login refused", attrs...)
		refuse(w, http.StatusText(status), status)
		return
	}
	hw := &heldHijacker{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.opts.Refusals.Refused(r.RemoteAddr, "worker upgrade failed", slog.String("worker", name), slog.Any("err", err))
		hangUp(w)
		return
	}
	wire.LoggedIn(hw.conn.Conn)
	log = log.With("worker", name)
	c := newServerConn(ws, name, r.RemoteAddr, log, &s.frames, s.opts)
	c.p.holdOn(hw.conn)
	hw.conn.settle = c.deliverHeld
	c.p.onFrame = s.onFrame
	if !s.track(c) {
		c.p.close(websocket.StatusGoingAway, "master shutting down")
	} else {
		defer s.untrack(c)
		go s.login(c)
	}
	err = c.serve()
	log.Debug("worker connection ended", "err", err) // botmaster logs "worker detached", within a budget
}

// refuse answers a request that is not a worker's upgrade with status and
// closes its connection after: a connection that has not logged in is a
// stranger's, and keep-alive would let it hold its place among the
// listener's strangers (httpserve.Listener.LimitStrangers) with a request
// every idle timeout.
func refuse(w http.ResponseWriter, msg string, status int) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}

// hangUp closes the connection of a request answered already (a failed
// upgrade, whose answer says "Connection: Upgrade"), as refuse does.
func hangUp(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = c.Close()
	}
}

// authenticate checks the Authorization header; it returns the worker
// name and http.StatusOK, or the status to refuse with and, for a 429,
// how long the worker should wait (0 when the Authenticator did not say).
func (s *Server) authenticate(ctx context.Context, r *http.Request) (string, int, time.Duration) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", http.StatusUnauthorized, 0
	}
	name, pass, ok := parseBasic(h)
	if !ok {
		s.observe("", r.RemoteAddr, false)
		return "", http.StatusBadRequest, 0
	}
	want, known, err := s.auth.Password(ctx, name, r.RemoteAddr)
	switch {
	case errors.Is(err, wire.ErrRateLimited):
		wait, _ := wire.RetryAfter(err)
		return name, http.StatusTooManyRequests, wait
	case err != nil:
		s.log.Error("worker login: authenticator failed", "worker", name, "err", err)
		return name, http.StatusServiceUnavailable, 0
	}
	// Comparing digests keeps the time independent of both lengths.
	a, b := sha256.Sum256([]byte(pass)), sha256.Sum256([]byte(want))
	ok = known && subtle.ConstantTimeCompare(a[:], b[:]) == 1
	s.observe(name, r.RemoteAddr, ok)
	if !ok {
		return name, http.StatusUnauthorized, 0
	}
	return name, http.StatusOK, 0
}

func (s *Server) observe(name, remote string, ok bool) {
	if o, is := s.auth.(wire.LoginObserver); is {
		o.LoginResult(name, remote, ok)
	}
}

// parseBasic splits "Basic base64(name:password)" as Buildbot does: the
// password may hold colons, the name may not.
func parseBasic(h string) (name, pass string, ok bool) {
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

// login runs the login exchange and hands the connection to accept.
func (s *Server) login(c *serverConn) {
	ctx, cancel := context.WithTimeout(c.p.ctx, s.opts.LoginTimeout)
	defer cancel()
	if err := c.login(ctx); err != nil {
		// Within the refusal budget: a worker with the password can fail
		// its login (its info) in a loop.
		s.opts.Refusals.Refused(c.remote, "closing worker connection: login failed", slog.String("worker", c.name), slog.Any("err", err))
		c.p.close(websocket.StatusPolicyViolation, "login failed")
		return
	}
	s.accept(c)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(c *serverConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// Close closes every connection, logged in or not, with reason, and
// answers new ones 503. It does not wait for the connections' ends.
func (s *Server) Close(reason string) {
	s.mu.Lock()
	s.closed = true
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close(reason)
	}
}
