package eventstream

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// countingConn counts the writes that reach a real connection.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// TestCorkConn: writes between hold and release reach the connection as
// one write, in order; outside them each write goes through at once.
func TestCorkConn(t *testing.T) {
	l := testkit.Listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	defer server.Close()
	counted := &countingConn{Conn: server}
	c := &corkConn{Conn: counted}

	c.Write([]byte("a"))
	c.hold()
	c.Write([]byte("b"))
	c.Write([]byte("cd"))
	if counted.writes != 1 {
		t.Fatalf("%d writes reached the connection while held, want 1 (the one before hold)", counted.writes)
	}
	if err := c.release(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("e"))
	if counted.writes != 3 {
		t.Fatalf("%d writes reached the connection, want 3 (a, the held bc d at once, e)", counted.writes)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, []byte("abcde")) {
		t.Fatalf("read %q, %v; want abcde", got, err)
	}
	if err := c.release(); err != nil || counted.writes != 3 {
		t.Fatalf("an empty release wrote (%d writes, %v)", counted.writes, err)
	}
}
