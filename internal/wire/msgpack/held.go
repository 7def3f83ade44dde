package msgpack

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// heldConn is the connection under a peer's WebSocket. It lets frames sent
// back to back leave in one write system call, which the other side then
// reads at once: a frame written while hold is set is kept, and goes out
// with the next frame written without hold, or before the next read from
// the socket (beforeRead). A peer holds its answers to the other side's
// requests (the next request read may have arrived with the one answered)
// and all but the last frame of a batch (callAll).
//
// Every frame still is one WebSocket message: only the system calls are
// fewer. What is held is never older than the next read, and the reader
// reads whenever it has nothing else to do, so nothing waits for long.
type heldConn struct {
	net.Conn
	// beforeRead writes what is held, bounded as the peer bounds a
	// write; set once by the peer before the first read.
	beforeRead func() error

	mu   sync.Mutex // held, hold; serialises the writes to Conn
	hold bool
	held []byte
}

// maxHeldCap is the largest buffer a connection keeps between writes: a
// big frame written after a held one is copied once, not kept.
const maxHeldCap = 64 << 10

func newHeldConn(c net.Conn) *heldConn { return &heldConn{Conn: c} }

// Write writes p, after what is held, in one write; with hold set it only
// keeps p.
func (c *heldConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if len(c.held) == 0 {
		return c.Conn.Write(p)
	}
	c.held = append(c.held, p...)
	if err := c.writeHeldLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Read writes what is held (beforeRead), then reads.
func (c *heldConn) Read(p []byte) (int, error) {
	if c.beforeRead != nil && c.holding() {
		if err := c.beforeRead(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *heldConn) holding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held) > 0
}

// setHold sets whether the writes that follow are held.
func (c *heldConn) setHold(on bool) {
	c.mu.Lock()
	c.hold = on
	c.mu.Unlock()
}

// flush writes what is held.
func (c *heldConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held) == 0 {
		return nil
	}
	return c.writeHeldLocked()
}

func (c *heldConn) writeHeldLocked() error {
	_, err := c.Conn.Write(c.held)
	if cap(c.held) > maxHeldCap {
		c.held = nil
	} else {
		c.held = c.held[:0]
	}
	return err
}

// heldHijacker hands the WebSocket library a heldConn when it hijacks the
// HTTP connection of an upgrade.
type heldHijacker struct {
	http.ResponseWriter
	conn *heldConn // set by Hijack
}

func (h *heldHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = newHeldConn(c)
	// The reader keeps what the HTTP server read ahead (the library then
	// reads from the connection it is given); writes go through conn.
	return h.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriter(h.conn)), nil
}
