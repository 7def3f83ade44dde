package pb

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// Config configures a Server. Auth and Accept are required.
type Config struct {
	// Auth says who may log in.
	Auth wire.Authenticator
	// Accept takes each logged-in connection. The worker gets its login
	// answer (and starts its keepalives) only when Accept returns nil, as
	// with Buildbot, whose master attaches the worker (print, Info,
	// SetBuilderList) before answering; Accept may make calls on c. An
	// error refuses the worker: it gets the error (a RuntimeError, which
	// makes buildbot-worker 3.7 stop, as Buildbot's "rejecting duplicate
	// worker" does) and the connection is closed; Accept logs why (the
	// Server only at Debug). ctx ends with the connection.
	Accept func(ctx context.Context, c wire.Conn) error
	// ShutdownRequested, if set, is called when a logged-in worker asks
	// to be shut down once idle (buildbot-worker's graceful shutdown):
	// within a budget per connection (ShutdownBurst, ShutdownEvery).
	ShutdownRequested func(c wire.Conn)
	// Log receives connection events; nil discards them.
	Log *slog.Logger
	// Refusals logs refused logins and connections, and the ends of
	// connections that never logged in, within its budgets (share one
	// between listeners); default one of the server's own, on Log.
	Refusals *droplog.Log
	// MaxConns bounds the connections open at once, logged in or not;
	// more are closed at once. Default 1024.
	MaxConns int
	// MaxMessage bounds one PB message (a top-level Banana expression)
	// of a logged-in worker; a larger one closes the connection. Default
	// 1 MiB. Before login the bound is 64 KiB and 256 elements. Banana
	// strings are also bounded by Twisted's own 640 KiB.
	MaxMessage int
	// LoginTimeout closes a connection not logged in by then. Default 10 s.
	LoginTimeout time.Duration
	// WriteTimeout closes a connection that does not take our bytes
	// within it. Default 1 min.
	WriteTimeout time.Duration
	// Challenge returns a login challenge; tests inject a fixed one.
	// Default: 16 random bytes, as Twisted's (an md5 digest).
	Challenge func() []byte
	// Now is the clock of the shutdown requests' budget; tests stand it
	// still. Default time.Now.
	Now func() time.Time
}

const (
	preLoginMaxMessage = 64 * 1024
	// preLoginMaxElements bounds the elements of an expression read
	// before login: a login's largest, respond, has about 15. Without
	// it 64 KiB of empty lists held 4 MiB while the connection waited
	// (1,024 connections: 4 GiB).
	preLoginMaxElements = 256
	// preLoginMessages bounds the expressions read before a login
	// succeeds; a login takes five (dialect, version, login, respond,
	// decref).
	preLoginMessages = 32
	// preLoginReadBuffer is a connection's read buffer until it logs in
	// (then readBuffer): a login's messages are a few hundred bytes, and
	// a stranger should not hold 32 KiB while it waits.
	preLoginReadBuffer = 512
	// maxLoginAttempts bounds login calls on one connection.
	maxLoginAttempts = 3
)

// Server is the master side of PB: it serves a listener the caller owns,
// logs workers in and hands each logged-in connection to Config.Accept.
type Server struct {
	cfg   Config
	log   *slog.Logger
	slots chan struct{}

	mu     sync.Mutex
	conns  map[*broker]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer checks cfg and fills in its defaults.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Auth == nil || cfg.Accept == nil {
		return nil, errors.New("pb: Config needs Auth and Accept")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Refusals == nil {
		cfg.Refusals = droplog.New(cfg.Log, droplog.Options{})
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = defaultMaxMsg
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.Challenge == nil {
		cfg.Challenge = func() []byte {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			return b
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{
		cfg:   cfg,
		log:   cfg.Log,
		slots: make(chan struct{}, cfg.MaxConns),
		conns: map[*broker]struct{}{},
	}, nil
}

// Serve accepts connections on l until l is closed (it then returns nil)
// or fails.
func (s *Server) Serve(l net.Listener) error {
	for {
		nc, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("pb: accept: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.cfg.Refusals.Refused(nc.RemoteAddr().String(), "pb: too many connections, closing a new one", slog.Int("max", s.cfg.MaxConns))
			_ = nc.Close()
			continue
		}
		b := newBroker(nc, s.log.With("peer", nc.RemoteAddr().String()), s.cfg.WriteTimeout)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			<-s.slots
			continue
		}
		s.conns[b] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, b)
				s.mu.Unlock()
				<-s.slots
				s.wg.Done()
			}()
			s.handle(b)
		}()
	}
}

// Close drops every connection and waits for them to end. Close the
// listener first, so that Serve returns.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*broker, 0, len(s.conns))
	for b := range s.conns {
		conns = append(conns, b)
	}
	s.mu.Unlock()
	for _, b := range conns {
		b.close(errors.New("server closed"))
	}
	s.wg.Wait()
}

// handle runs one connection: dialect, login, then the worker's session.
func (s *Server) handle(b *broker) {
	if tc, ok := b.nc.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(true)
	}
	addr := b.nc.RemoteAddr().String()
	_ = b.nc.SetReadDeadline(time.Now().Add(s.cfg.LoginTimeout))
	b.dec.MaxMessage = preLoginMaxMessage
	b.dec.MaxElements = preLoginMaxElements
	if err := negotiate(b); err != nil {
		s.cfg.Refusals.RefusedAt(slog.LevelInfo, addr, "pb: closing a connection that did not negotiate", slog.Any("err", timeoutReason(err, s.cfg.LoginTimeout)))
		_ = b.nc.Close()
		return
	}
	l := &login{srv: s, b: b, addr: addr}
	b.ignored = func(msg string, attrs ...slog.Attr) {
		s.cfg.Refusals.Refused(addr, msg, append(attrs, slog.String("worker", l.name))...)
	}
	b.root = l
	b.untrusted = preLoginMessages
	b.onClose = func(err error) {
		if l.conn == nil {
			s.cfg.Refusals.RefusedAt(slog.LevelInfo, addr, "pb: connection closed before a login", slog.Any("reason", timeoutReason(err, s.cfg.LoginTimeout)))
		} else {
			b.log.Debug("pb: connection closed", "worker", l.name, "reason", err) // botmaster logs "worker detached", within a budget
		}
		l.closed(err)
	}
	b.serve()
}

func timeoutReason(err error, d time.Duration) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("not logged in within %s", d)
	}
	return err
}

// negotiate runs Banana's dialect selection as its server: offer
// ["pb", "none"], take the client's choice, then send ["version", 6].
func negotiate(b *broker) error {
	err := b.write(func(buf []byte, _ bool) ([]byte, error) {
		return AppendExpr(buf, []any{"pb", "none"}, false)
	})
	if err != nil {
		return err
	}
	choice, err := b.dec.Decode()
	if err != nil {
		return fmt.Errorf("reading the dialect: %w", err)
	}
	dialect, _ := choice.([]byte)
	switch string(dialect) {
	case "pb":
		b.wmu.Lock()
		b.vocab = true
		b.wmu.Unlock()
		b.dec.Vocab = true
	case "none":
	default:
		return fmt.Errorf("the client chose a dialect we did not offer: %s", sexpString(choice))
	}
	return b.write(func(buf []byte, vocab bool) ([]byte, error) {
		j := jellier{vocab: vocab}
		return appendInt(j.head(buf, 2, "version"), protocolVersion), nil
	})
}
