package eventstream

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// A WebSocket writer that finds several events queued writes their frames
// with one system call: the write of each frame is most of what a client
// costs the server (the library flushes every message), and the events of
// one commit (a build's end and its request's completion …) come
// together. corkConn is the hijacked connection under the library's
// writer: between hold and release it keeps what is written, release
// sends it at once.

// corkConn is a connection whose writes can be held back.
type corkConn struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  []byte
}

// maxCorkKeep is the largest buffer kept between batches.
const maxCorkKeep = 64 << 10

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// hold keeps what is written from now on until release.
func (c *corkConn) hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// release writes what was held, and writes go through again.
func (c *corkConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > maxCorkKeep {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// corkWriter is a ResponseWriter whose Hijack hands out the connection as
// a corkConn (conn, once hijacked).
type corkWriter struct {
	http.ResponseWriter
	conn *corkConn
}

func (w *corkWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc}
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w.conn, brw.Writer.Size())), nil
}
