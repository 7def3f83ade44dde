package testkit

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures; Fatal ends the calling
// goroutine as testing's does.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	fatal  bool
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.mu.Lock()
	r.fatal = true
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// run calls f with a recorder on its own goroutine, as testing runs a
// test, and returns the recorder once f has ended.
func run(f func(t *recorder)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	r := run(func(r *recorder) { Eventually(r, "three checks", func() bool { n++; return n == 3 }) })
	if len(r.failed) != 0 || n != 3 {
		t.Fatalf("failed %q after %d checks", r.failed, n)
	}
}

func TestEventuallyFailsAtTheDeadline(t *testing.T) {
	r := run(func(r *recorder) {
		Eventually(r, "the impossible", func() bool { return false }, Within(30*time.Millisecond))
	})
	if !r.fatal || len(r.failed) != 1 || r.failed[0] != "never: the impossible (waited 30ms)" {
		t.Fatalf("fatal=%v failed=%q", r.fatal, r.failed)
	}
}

func TestRetryReportsTheLastError(t *testing.T) {
	n := 0
	r := run(func(r *recorder) {
		Retry(r, func() error { n++; return fmt.Errorf("seen %d", n) }, Within(30*time.Millisecond))
	})
	want := fmt.Sprintf("seen %d (waited 30ms)", n)
	if !r.fatal || len(r.failed) != 1 || r.failed[0] != want || n < 2 {
		t.Fatalf("fatal=%v failed=%q, want %q", r.fatal, r.failed, want)
	}
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	var got int
	r := run(func(r *recorder) { got = Recv(r, "a number", ch) })
	if got != 7 || len(r.failed) != 0 {
		t.Fatalf("got %d, failed %q", got, r.failed)
	}
	r = run(func(r *recorder) { Recv(r, "a number", ch, Within(20*time.Millisecond)) })
	if !r.fatal || len(r.failed) != 1 || r.failed[0] != "nothing on a number (waited 20ms)" {
		t.Fatalf("fatal=%v failed=%q", r.fatal, r.failed)
	}
	close(ch)
	r = run(func(r *recorder) { got = Recv(r, "the end", ch) })
	if got != 0 || len(r.failed) != 0 {
		t.Fatalf("closed: got %d, failed %q", got, r.failed)
	}
}

func TestGoldenShowsTheFirstDifference(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	want := "a\nb\nc\nd\ne\nf\ng\nh\n"
	if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(func(r *recorder) { Golden(r, path, []byte(want)) }); len(r.failed) != 0 {
		t.Fatalf("same content: %q", r.failed)
	}
	r := run(func(r *recorder) { Golden(r, path, []byte(strings.Replace(want, "f", "F", 1))) })
	if r.fatal || len(r.failed) != 1 {
		t.Fatalf("fatal=%v failed=%q", r.fatal, r.failed)
	}
	for _, s := range []string{path, "-update", "--- got, from line 3:\n\"c\\n\"\n\"d\\n\"\n\"e\\n\"\n\"F\\n\"\n\"g\\n\"\n\"h\\n\"\n\"\"\n--- want"} {
		if !strings.Contains(r.failed[0], s) {
			t.Errorf("message lacks %q:\n%s", s, r.failed[0])
		}
	}
	r = run(func(r *recorder) { Golden(r, filepath.Join(t.TempDir(), "none.golden"), nil) })
	if !r.fatal || !strings.Contains(r.failed[0], "go test -update creates it") {
		t.Fatalf("missing file: fatal=%v failed=%q", r.fatal, r.failed)
	}
}

func TestListenIsBoundAndClosedAtCleanup(t *testing.T) {
	var l net.Listener
	t.Run("inner", func(t *testing.T) {
		l = Listen(t)
		addr := l.Addr().String()
		if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
			t.Fatalf("address %s", addr)
		}
		go func() {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}()
		testDial(t, addr, nil)
	})
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after the test, Accept: %v; want the listener closed", err)
	}
}

// A reserved address takes a server that listens on it, again after it
// stopped, and nothing else: not a bind to port 0, nor a bind without
// SO_REUSEADDR.
func TestReservedAddrTakesARestartedServerOnly(t *testing.T) {
	addr := ReservedAddr(t)
	testDial(t, addr, errors.New("refused"))
	for range 2 {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("a server cannot listen on the reserved %s: %v", addr, err)
		}
		testDial(t, addr, nil)
		l.Close()
	}
	for range 2000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := l.Addr().String()
		l.Close()
		if got == addr {
			t.Fatalf("a bind to port 0 got the reserved %s", addr)
		}
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	port := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr)).Port
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err == nil {
		t.Fatalf("a socket without SO_REUSEADDR could bind the reserved %s", addr)
	}
}

func TestRefusingAddrRefusesAndStaysReserved(t *testing.T) {
	addr := RefusingAddr(t)
	testDial(t, addr, errors.New("refused"))
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("another listener could bind %s", addr)
	}
}

// testDial dials addr and fails t unless the outcome is the one wanted: a
// connection (want nil) or an error containing want's text.
func testDial(t *testing.T, addr string, want error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	switch {
	case want == nil && err != nil:
		t.Fatalf("dial %s: %v", addr, err)
	case want != nil && (err == nil || !strings.Contains(err.Error(), want.Error())):
		t.Fatalf("dial %s: %v, want an error saying %q", addr, err, want)
	}
}

func TestLogsRecordLinesByLevel(t *testing.T) {
	log, logs := NewLogs()
	log.Info("one", "k", 1)
	log.With("svc", "x").WithGroup("g").Warn("two", "k", 2)
	done := make(chan struct{})
	go func() { log.Error("three"); close(done) }()
	<-done
	if got := logs.Lines(slog.LevelWarn); len(got) != 2 || !strings.Contains(got[0], `level=WARN msg=two svc=x g.k=2`) ||
		!strings.Contains(got[1], "level=ERROR msg=three") {
		t.Fatalf("warnings and errors: %q", got)
	}
	if got := logs.String(); strings.Count(got, "\n") != 3 || !strings.Contains(got, "level=INFO msg=one k=1\n") {
		t.Fatalf("all: %q", got)
	}
}

// WriteCalls counts this process's write system calls: ten writes to a
// file add at least ten (other goroutines of the test binary may write
// too).
func TestWriteCallsCountsWrites(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := WriteCalls()
	for range 10 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if got := WriteCalls() - before; got < 10 {
		t.Fatalf("WriteCalls grew by %d over 10 writes", got)
	}
}
