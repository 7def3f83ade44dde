package eventstream

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// A WebSocket's connection has two writers: the stream's writer sends its
// batches of text frames itself (batch.go, wsframe.go, writeFrames), and
// the library sends its control frames (pings, pongs, close) through the
// buffered writer it got from Hijack, which it flushes after each whole
// frame. frameConn makes each Write whole, so that frames of the two
// never interleave on the wire.

// frameConn is a connection whose writes (Write, writeFrames) do not
// interleave.
type frameConn struct {
	net.Conn
	mu sync.Mutex
}

func (c *frameConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// writeFrames writes frames whole, in order: on a TCP connection in one
// writev (more than a thousand frames take several), on another
// connection one Write each. frames' elements are consumed (set to nil or
// resliced); the bytes they refer to are not modified.
func (c *frameConn) writeFrames(frames [][]byte) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bufs := net.Buffers(frames)
	return bufs.WriteTo(c.Conn)
}

// hijackWriter is a ResponseWriter whose Hijack hands out the connection
// as a frameConn, kept in conn.
type hijackWriter struct {
	http.ResponseWriter
	conn *frameConn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &frameConn{Conn: nc}
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w.conn, brw.Writer.Size())), nil
}
