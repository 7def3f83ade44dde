package msgpack

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
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
//
// Read never waits for a write: a write blocked on a full socket must not
// keep this side from reading what the other side writes, or both sides'
// writes could wait for each other's readers.
type heldConn struct {
	net.Conn
	// beforeRead writes what is held, bounded as the peer bounds a
	// write; set once by the peer before the first read. It must not
	// wait for a write under way (peer.flushHeld).
	beforeRead func() error
	// settle, when set, runs before every read from the socket (the
	// reader may wait for input then): the server hands the updates it
	// holds to their Sink (serverConn.deliverHeld). Set before the first
	// read.
	settle func()

	wmu sync.Mutex // serialises the writes to Conn, in the order taken

	mu      sync.Mutex // hold, held; never held across a write to Conn
	hold    bool
	held    []byte
	spare   []byte       // the buffer last written, reused for held
	heldLen atomic.Int64 // len(held), read without mu
}

// maxHeldCap is the largest buffer a connection keeps between writes: a
// big frame written after a held one is copied once, not kept.
const maxHeldCap = 64 << 10

func newHeldConn(c net.Conn) *heldConn { return &heldConn{Conn: c} }

// Write writes p, after what is held, in one write; with hold set it only
// keeps p.
func (c *heldConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.hold {
		c.held = append(c.held, p...)
		c.heldLen.Store(int64(len(c.held)))
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.take(p)
	if b == nil {
		return c.Conn.Write(p)
	}
	if err := c.writeTaken(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Read settles, writes what is held (beforeRead), then reads.
func (c *heldConn) Read(p []byte) (int, error) {
	if c.settle != nil {
		c.settle()
	}
	if c.beforeRead != nil && c.holding() {
		if err := c.beforeRead(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// holding reports whether something is held; it never waits.
func (c *heldConn) holding() bool { return c.heldLen.Load() > 0 }

// setHold sets whether the writes that follow are held.
func (c *heldConn) setHold(on bool) {
	c.mu.Lock()
	c.hold = on
	c.mu.Unlock()
}

// flush writes what is held.
func (c *heldConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if b := c.take(nil); b != nil {
		return c.writeTaken(b)
	}
	return nil
}

// take returns what is held followed by p, and holds nothing after; nil
// when nothing is held. The caller holds wmu, so what it takes leaves
// before anything written after.
func (c *heldConn) take(p []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held) == 0 {
		return nil
	}
	b := append(c.held, p...)
	c.held, c.spare = c.spare[:0], nil
	c.heldLen.Store(0)
	return b
}

// writeTaken writes b, taken from held, and keeps it for reuse if small.
func (c *heldConn) writeTaken(b []byte) error {
	_, err := c.Conn.Write(b)
	if cap(b) <= maxHeldCap {
		c.mu.Lock()
		if c.spare == nil {
			c.spare = b[:0]
		}
		c.mu.Unlock()
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
