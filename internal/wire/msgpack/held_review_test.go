package msgpack

import (
	"net"
	"sync"
	"testing"
)

// TestHeldConnReadNotBlockedByWrite: each side of a connection writes
// while its reader drains what the other side writes. With plain
// connections this always completes; heldConn.Read takes the mutex a
// blocked Write holds (holding, under c.mu for the whole Conn.Write), so
// when both sides' writes wait for the other side to read, neither reader
// can read: a deadlock (only the peer's write timeout ends it). net.Pipe
// has no buffer, which makes every write wait for the reader, as a full
// socket buffer does. Fails (hangs until -timeout) on review4/main.
func TestHeldConnReadNotBlockedByWrite(t *testing.T) {
	a, b := net.Pipe()
	ha, hb := newHeldConn(a), newHeldConn(b)
	ha.beforeRead = func() error { return ha.flush() }
	hb.beforeRead = func() error { return hb.flush() }
	defer a.Close()
	defer b.Close()
	msg := make([]byte, 4096)
	var wg sync.WaitGroup
	for _, c := range []*heldConn{ha, hb} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := c.Write(msg); err != nil {
				t.Errorf("write: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			// Small reads, as the library's bufio.Reader makes for
			// a frame bigger than its buffer.
			buf := make([]byte, 512)
			for n := 0; n < len(msg); {
				k, err := c.Read(buf)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				n += k
			}
		}()
	}
	wg.Wait()
}
