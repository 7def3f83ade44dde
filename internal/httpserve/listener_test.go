package httpserve

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

var quiet = slog.New(slog.DiscardHandler)

// text is a handler answering s.
func text(s string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, s) })
}

// bound binds a Listener on 127.0.0.1:0, unbound when the test ends.
func bound(t *testing.T, limits Limits) *Listener {
	t.Helper()
	l, err := Bind("listen.test", "127.0.0.1:0", limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// get GETs url on a new connection and returns the body, or the error.
func get(url string) string {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// TestListenerOutlivesItsServers: a Server closed (a service restarting)
// leaves the socket bound; a connection made meanwhile waits, and the next
// Server on the same Listener answers it. Nothing binds twice.
func TestListenerOutlivesItsServers(t *testing.T) {
	l := bound(t, Limits{})
	url := "http://" + l.Addr().String() + "/"
	first := Serve(l, text("first"), quiet)
	if got := get(url); got != "first" {
		t.Fatalf("first server answered %q", got)
	}
	first.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	second := Serve(l, text("second"), quiet)
	defer second.Close()
	if res, _ := io.ReadAll(c); !strings.HasSuffix(string(res), "\r\n\r\nsecond") {
		t.Fatalf("a request made between two servers got %q", res)
	}
	second.Stop(time.Second)
	third := Serve(l, text("third"), quiet)
	defer third.Close()
	if got := get(url); got != "third" {
		t.Fatalf("after a graceful stop, the next server answered %q", got)
	}
}

// TestStopLetsRequestsFinish: Stop waits for a request in flight, which
// gets its whole answer.
func TestStopLetsRequestsFinish(t *testing.T) {
	l := bound(t, Limits{})
	entered, release := make(chan struct{}), make(chan struct{})
	s := Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	}), quiet)
	got := make(chan string, 1)
	go func() { got <- get("http://" + l.Addr().String() + "/") }()
	<-entered
	stopped := make(chan struct{})
	go func() { s.Stop(time.Minute); close(stopped) }()
	close(release)
	if g := <-got; g != "finished" {
		t.Fatalf("the request in flight got %q", g)
	}
	<-stopped
}

// TestCloseUnbinds: once the Listener is closed its port refuses
// connections, and a Server on it stops.
func TestCloseUnbinds(t *testing.T) {
	l := bound(t, Limits{})
	s := Serve(l, text("x"), quiet)
	defer s.Close()
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Close: %v; want connection refused", err)
	}
}

// TestBindErrorNamesKeyAndAddress: a port in use is an error that says
// which key and address, and why in the system's words.
func TestBindErrorNamesKeyAndAddress(t *testing.T) {
	held := bound(t, Limits{})
	_, err := Bind("listen.www", held.Addr().String(), Limits{})
	if err == nil || err.Error() != "listen.www "+held.Addr().String()+": address already in use" || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("err = %v", err)
	}
}

// TestAdoptServesTheCallersListener: a listener bound by the caller is
// served as it is.
func TestAdoptServesTheCallersListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Adopt("listen.www", raw, Limits{})
	defer l.Close()
	s := Serve(l, text("adopted"), quiet)
	defer s.Stop(time.Second)
	if l.Addr().String() != raw.Addr().String() || get("http://"+raw.Addr().String()+"/") != "adopted" {
		t.Fatal("the adopted listener is not served")
	}
}

// TestLimitStrangers: past the bound on connections not logged in, a new
// one is closed at once, counted and reported; one that logged in
// (wire.LoggedIn) or closed gives its place back.
func TestLimitStrangers(t *testing.T) {
	l := bound(t, Limits{})
	refused := make(chan string, 10)
	l.LimitStrangers(1, func(remote string) { refused <- remote })
	s := l.Accepting()
	accepted := make(chan net.Conn)
	go func() {
		for {
			sc, err := s.Accept()
			if err != nil {
				return
			}
			accepted <- sc
		}
	}()
	t.Cleanup(func() { s.Close() })
	dial := func() (client, server net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		select {
		case sc := <-accepted:
			return c, sc
		case remote := <-refused:
			if remote != c.LocalAddr().String() {
				t.Errorf("refused %s, want %s", remote, c.LocalAddr())
			}
			if n, _ := io.Copy(io.Discard, c); n != 0 {
				t.Errorf("a refused connection got %d bytes", n)
			}
			return c, nil
		}
	}
	_, first := dial()
	if first == nil || l.Strangers() != 1 {
		t.Fatalf("the first connection was refused (%d strangers)", l.Strangers())
	}
	if _, second := dial(); second != nil {
		t.Fatal("a second stranger was accepted past the bound of 1")
	}
	if l.StrangersRefused() != 1 {
		t.Errorf("StrangersRefused = %d, want 1", l.StrangersRefused())
	}
	wire.LoggedIn(first)
	_, third := dial()
	if third == nil {
		t.Fatal("a connection was refused while the only other one had logged in")
	}
	wire.LoggedIn(first) // once only
	third.Close()
	if _, fourth := dial(); fourth == nil || l.Strangers() != 1 {
		t.Fatalf("a connection was refused after the stranger before it closed (%d strangers)", l.Strangers())
	}
}
