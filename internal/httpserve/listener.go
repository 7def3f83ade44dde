package httpserve

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// Listener is a bound socket that outlives the Servers that serve on it. One
// goroutine accepts from the socket and hands each connection to the Server
// serving at that moment; while none is (a service restarting), connections
// wait.
type Listener struct {
	key    string
	limits Limits
	socket net.Listener
	conns  chan accepted // the accept loop → the Server serving now
	closed chan struct{}
	start  sync.Once
	close  sync.Once
}

type accepted struct {
	conn net.Conn
	err  error
}

// Bind binds the TCP address addr, which the config names key (e.g.
// "listen.www"), for a listener with limits. Its error names key and addr.
func Bind(key, addr string, limits Limits) (*Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, addr, err)
	}
	return Adopt(key, l, limits), nil
}

// Adopt makes l, bound by the caller, a Listener for key with limits. The
// Listener owns l from now on: Listener.Close closes it.
func Adopt(key string, l net.Listener, limits Limits) *Listener {
	return &Listener{key: key, limits: limits, socket: l, conns: make(chan accepted), closed: make(chan struct{})}
}

// Key is the config key that names the listener, e.g. "listen.www".
func (l *Listener) Key() string { return l.key }

// Addr is the address the listener is bound to (with the port the system
// picked when the config asked for port 0).
func (l *Listener) Addr() net.Addr { return l.socket.Addr() }

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
