package pb

import "net"

// hookedWrites calls hook before each write on the connections it
// accepts; an error from hook fails that write.
type hookedWrites struct {
	net.Listener
	hook func() error
}

func (l *hookedWrites) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hookedConn{nc, l.hook}, nil
}

type hookedConn struct {
	net.Conn
	hook func() error
}

func (c hookedConn) Write(p []byte) (int, error) {
	if err := c.hook(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
