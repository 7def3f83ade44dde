package pb

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestPreLoginReadBuffer: a connection holds a small read buffer until it
// logs in (a stranger costs little), and the full one after.
func TestPreLoginReadBuffer(t *testing.T) {
	ts := startServer(t, Config{})
	rawConn(t, ts) // read the dialect offer: the server holds the connection
	ts.mu.Lock()
	for b := range ts.Server.conns {
		if got := b.dec.r.Size(); got != preLoginReadBuffer {
			t.Errorf("a connection not logged in reads into %d bytes, want %d", got, preLoginReadBuffer)
		}
	}
	ts.mu.Unlock()

	w := dialGo(t, ts.addr)
	if _, err := w.login("w1", "pass1"); err != nil {
		t.Fatal(err)
	}
	c := ts.next(t).(*conn)
	if got := c.b.dec.r.Size(); got != readBuffer {
		t.Errorf("a logged-in connection reads into %d bytes, want %d", got, readBuffer)
	}
}

// TestGrowBufferKeepsWhatItHolds: the bytes the small buffer had read
// ahead are decoded after it grows.
func TestGrowBufferKeepsWhatItHolds(t *testing.T) {
	var in []byte
	want := []any{[]any{[]byte("login"), int64(1)}, []byte("a string longer than the small buffer"), int64(-7)}
	for _, e := range want {
		var err error
		if in, err = AppendExpr(in, e, false); err != nil {
			t.Fatal(err)
		}
	}
	d := newDecoder(bytes.NewReader(in), 16)
	for i, e := range want {
		if i == 1 {
			d.growBuffer(readBuffer)
		}
		got, err := d.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if sexpString(got) != sexpString(e) {
			t.Fatalf("expression %d: got %s, want %s", i, sexpString(got), sexpString(e))
		}
	}
}

// TestLoginLeavesTheStrangers: on a listener that bounds its connections
// not logged in, a worker's login gives back the place it took.
func TestLoginLeavesTheStrangers(t *testing.T) {
	l := strangersListener(t, 1)
	ts := startServerOn(t, Config{}, l.Accepting())
	w := dialGo(t, ts.addr)
	if l.Strangers() != 1 {
		t.Fatalf("%d strangers before the login, want 1", l.Strangers())
	}
	if _, err := w.login("w1", "pass1"); err != nil {
		t.Fatal(err)
	}
	ts.next(t)
	if l.Strangers() != 0 {
		t.Errorf("%d strangers after the login, want 0", l.Strangers())
	}
}

// TestFailedLoginsGiveBackTheirPlaces: connections that never log in (a
// wrong password, garbage, half a frame, silence past LoginTimeout) each
// give back their place among the strangers, whichever way they end; a
// worker with the longest name and a long password then logs in.
func TestFailedLoginsGiveBackTheirPlaces(t *testing.T) {
	l := strangersListener(t, 2)
	name, pass := strings.Repeat("n", maxNameLength), strings.Repeat("p", 600)
	ts := startServerOn(t, Config{Auth: passwords{name: pass}, LoginTimeout: 100 * time.Millisecond}, l.Accepting())
	settled := func(what string) {
		t.Helper()
		testkit.Eventually(t, "no strangers after "+what, func() bool { return l.Strangers() == 0 })
	}
	raw := func(b []byte) {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write(b)
		_, _ = io.Copy(io.Discard, c) // until the server closes it
	}
	for i := range 5 {
		w := dialGo(t, ts.addr)
		if _, err := w.login(name, "wrong"); err == nil {
			t.Fatal("a wrong password logged in")
		}
		w.b.close(errors.New("gave up"))
		<-w.b.done
		settled("a wrong password")
		raw(bytes.Repeat([]byte{0xff}, 100+i)) // garbage
		settled("garbage")
		raw([]byte{0x05, 0x82}) // a string's length and no string: read until the login timeout
		settled("half a frame")
		raw(nil) // silence
		settled("silence")
	}
	w := dialGo(t, ts.addr)
	if _, err := w.login(name, pass); err != nil {
		t.Fatalf("a login with a %d-byte name: %v", len(name), err)
	}
	ts.next(t)
	settled("a login")
}

// strangersListener is a PB listener on 127.0.0.1:0 that holds at most max
// connections not logged in, closed when the test ends.
func strangersListener(t *testing.T, max int) *httpserve.Listener {
	t.Helper()
	l, err := httpserve.Bind("listen.workers_pb", "127.0.0.1:0", httpserve.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.LimitStrangers(max, func(string) {})
	return l
}
