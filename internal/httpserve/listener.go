package httpserve

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/netutil"
)

// Listener is a bound socket that outlives the Servers that serve on it. One
// goroutine accepts from the socket, no more than Limits.MaxConns
// connections open at once, and hands each to the Server serving at that
// moment; while none is (a service restarting), connections wait.
type Listener struct {
	key    string
	limits Limits
	socket net.Listener // limited to MaxConns, counting open connections
	open   atomic.Int64
	busy   busy
	conns  chan accepted // the accept loop → the Server serving now
	closed chan struct{}
	start  sync.Once
	close  sync.Once
	// strangers, when set (LimitStrangers), bounds the connections not
	// logged in.
	strangers *strangers
}

type accepted struct {
	conn net.Conn
	err  error
}

// Bind binds the TCP address addr, which the config names key (e.g.
// "listen.www"), for a listener with limits. Its error names key and addr,
// and says why as the system does ("listen.www 127.0.0.1:8010: address
// already in use"); it wraps the system's error.
func Bind(key, addr string, limits Limits) (*Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, BindError(key, addr, err)
	}
	return Adopt(key, l, limits), nil
}

// BindError is the error of binding addr, named key, that failed with err:
// "KEY ADDR: REASON", the reason being the system's (e.g. "address already
// in use") when err carries one. The master words every listener's failure
// with it, the control endpoint's (listen.remote) too.
func BindError(key, addr string, err error) error {
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		err = errno
	}
	return fmt.Errorf("%s %s: %w", key, addr, err)
}

// Adopt makes l, bound by the caller, a Listener for key with limits. The
// Listener owns l from now on: Listener.Close closes it.
func Adopt(key string, l net.Listener, limits Limits) *Listener {
	out := &Listener{key: key, limits: limits, conns: make(chan accepted), closed: make(chan struct{})}
	limited := l
	if limits.MaxConns > 0 {
		limited = netutil.LimitListener(l, limits.MaxConns)
	}
	out.socket = &counting{Listener: limited, open: &out.open}
	return out
}

// Addr is the address the listener is bound to (with the port the system
// picked when the config asked for port 0).
func (l *Listener) Addr() net.Addr { return l.socket.Addr() }

// Open is how many of the listener's connections are open now.
func (l *Listener) Open() int64 { return l.open.Load() }

// Close unbinds the socket; Servers on it stop accepting. The master calls
// it when it stops, after the services.
func (l *Listener) Close() error {
	var err error
	l.close.Do(func() {
		close(l.closed)
		err = l.socket.Close()
	})
	return err
}

// accept hands the socket's connections, and its errors (a temporary one,
// such as too many open files, is retried by the Server with a backoff), to
// whoever serves, until the socket is closed.
func (l *Listener) accept() {
	for {
		c, err := l.socket.Accept()
		if err == nil && l.strangers != nil && !l.strangers.admit(c.(*countedConn)) {
			continue
		}
		select {
		case l.conns <- accepted{c, err}:
		case <-l.closed:
			if c != nil {
				c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// Accepting returns a net.Listener on l for a server that is not HTTP (the
// PB worker protocol): closing it stops that server accepting and leaves the
// socket bound, as Server.Stop does. One server at a time should accept.
func (l *Listener) Accepting() net.Listener { return l.session() }

// session is the net.Listener one Server serves on: closing it stops that
// Server accepting, and leaves the socket bound.
func (l *Listener) session() *session {
	l.start.Do(func() { go l.accept() })
	return &session{l: l, done: make(chan struct{})}
}

type session struct {
	l    *Listener
	done chan struct{}
	once sync.Once
}

// Accept implements net.Listener.
func (s *session) Accept() (net.Conn, error) {
	select {
	case <-s.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case a := <-s.l.conns:
		return a.conn, a.err
	case <-s.done:
	case <-s.l.closed:
	}
	return nil, net.ErrClosed
}

// Close implements net.Listener: this session accepts no more.
func (s *session) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

// Addr implements net.Listener.
func (s *session) Addr() net.Addr { return s.l.Addr() }

// counting counts the open connections of a listener.
type counting struct {
	net.Listener
	open *atomic.Int64
}

// Accept implements net.Listener.
func (c *counting) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &countedConn{Conn: conn, open: c.open}, nil
}

type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
	// stranger, until the peer logs in, is the count of its listener's
	// strangers, which it is among (LimitStrangers).
	stranger *atomic.Int64
	logged   sync.Once
}

// Close implements net.Conn.
func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	c.LoggedIn()
	return c.Conn.Close()
}

// LoggedIn takes c out of its listener's strangers (wire.LoggedIn).
func (c *countedConn) LoggedIn() {
	c.logged.Do(func() {
		if c.stranger != nil {
			c.stranger.Add(-1)
		}
	})
}
