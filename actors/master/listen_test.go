package master_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// load loads a config whose listeners are debug and www.
func load(t *testing.T, debug, www string) *messages.MasterConfig {
	t.Helper()
	cfg, err := config.Load("test.yaml", fmt.Appendf(nil, "listen: {debug: %q, www: %q, workers: 127.0.0.1:0, workers_pb: 127.0.0.1:0}\n", debug, www))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRestartedHTTPServicesServeTheSameListener: the status and debug
// services, crashed and restarted by their supervisor, serve again on the
// listeners the master was handed at start (they never bind).
func TestRestartedHTTPServicesServeTheSameListener(t *testing.T) {
	www, debug := testkit.Listen(t), testkit.Listen(t)
	cfg := load(t, debug.Addr().String(), www.Addr().String())
	m, err := master.Start(master.Options{Config: cfg, Token: mastertest.Token, Log: slog.New(slog.DiscardHandler), NoRemote: true, Ephemeral: true,
		Listeners: master.Listeners{WWW: www, Debug: debug}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	if m.WWWAddr != www.Addr().String() || m.DebugAddr != debug.Addr().String() {
		t.Fatalf("addresses %s %s; want the listeners'", m.WWWAddr, m.DebugAddr)
	}
	urls := map[string]string{"master/status": "http://" + m.WWWAddr + "/api/v2/masters", "master/debug": "http://" + m.DebugAddr + "/healthz"}
	for path, url := range urls {
		m.RT.System.Root.Send(m.RT.System.NewLocalPID(path), &messages.InjectFailure{Reason: "test"})
		deadline := time.Now().Add(20 * time.Second)
		for n := m.RT.Tree.Lookup(path); n == nil || n.Restarts() < 1 || n.Status() != "running"; n = m.RT.Tree.Lookup(path) {
			if time.Now().After(deadline) {
				t.Fatalf("%s was not restarted", path)
			}
			time.Sleep(time.Millisecond)
		}
		res, err := http.Get(url)
		if err != nil {
			t.Fatalf("%s after a restart: %v", url, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s after a restart: %s", url, res.Status)
		}
	}
}

// TestStartFailsOnABusyPort: a listener that cannot be bound fails the
// start, naming the key and the address, and leaves nothing bound.
func TestStartFailsOnABusyPort(t *testing.T) {
	busy := testkit.Listen(t)
	cfg := load(t, "127.0.0.1:0", busy.Addr().String())
	_, err := master.Start(master.Options{Config: cfg, Token: mastertest.Token, Log: slog.New(slog.DiscardHandler), NoRemote: true, Ephemeral: true})
	if err == nil || !strings.HasPrefix(err.Error(), "listen.www "+busy.Addr().String()+": ") || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start: %v", err)
	}
	// A listener handed over is closed when the start fails.
	given := testkit.Listen(t)
	_, err = master.Start(master.Options{Config: cfg, Token: mastertest.Token, Log: slog.New(slog.DiscardHandler), NoRemote: true, Ephemeral: true,
		Listeners: master.Listeners{Debug: given}})
	if err == nil {
		t.Fatal("Start on a busy www port succeeded")
	}
	if _, err := given.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the debug listener handed over is still open: %v", err)
	}
}

// TestSlowHeadersAreCutOff: a client trickling its request's headers a byte
// at a time is disconnected once http.read_header_timeout has passed
// (every other bound is far away).
func TestSlowHeadersAreCutOff(t *testing.T) {
	m := mastertest.Start(t, "http: {read_header_timeout: 500ms, read_timeout: 1h, write_timeout: 1h, idle_timeout: 1h}\n", "", nil)
	c, err := net.Dial("tcp", m.WWWAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /api/v2/masters HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	// Wait for the master to close the connection; the deadline only keeps
	// a broken master from hanging the test.
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadAll(c); isTimeout(err) {
		t.Fatal("the master kept a connection whose headers never ended")
	}
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// TestConnectionLimitPerListener: past http.max_connections a listener
// accepts no more connections (they wait in the system's queue) while the
// other listener still serves; the waiting one is served once a held one
// closes.
func TestConnectionLimitPerListener(t *testing.T) {
	m := mastertest.Start(t, "http: {max_connections: 2, read_header_timeout: 1h, read_timeout: 1h, write_timeout: 1h, idle_timeout: 1h}\n", "", nil)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", m.WWWAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for openConnections(t, m.DebugAddr, "www") != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the www listener never held the two connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
	third, err := net.Dial("tcp", m.WWWAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, err := io.WriteString(third, "GET /api/v2/masters HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The debug endpoint answers meanwhile, and the third www connection is
	// not taken.
	if n := openConnections(t, m.DebugAddr, "www"); n != 2 {
		t.Fatalf("www holds %d connections; its limit is 2", n)
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(time.Minute))
	res, err := io.ReadAll(third)
	if err != nil || !strings.HasPrefix(string(res), "HTTP/1.0 200 OK") {
		t.Fatalf("the waiting connection, once one closed: %v %q", err, res)
	}
}

var openConnectionsLine = regexp.MustCompile(`(?m)^buildmaster_http_open_connections\{listener="(\w+)"\} (\d+)$`)

// openConnections reads, on the debug endpoint at debug, how many
// connections listener holds open.
func openConnections(t *testing.T, debug, listener string) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get("http://" + debug + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %s", err, res.Status)
	}
	for _, m := range openConnectionsLine.FindAllStringSubmatch(string(body), -1) {
		if m[1] == listener {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	t.Fatalf("/metrics has no open connections of %s:\n%s", listener, body)
	return 0
}

// TestStartLogNamesTheControlEndpoint: the start log calls the control
// endpoint (config key listen.remote) control=, as the banner does.
func TestStartLogNamesTheControlEndpoint(t *testing.T) {
	remote := testkit.Listen(t)
	log, logs := testkit.NewLogs()
	m, err := master.Start(master.Options{Config: load(t, "127.0.0.1:0", "127.0.0.1:0"), Token: mastertest.Token, Log: log, Ephemeral: true,
		Listeners: master.Listeners{Remote: remote}})
	if err != nil {
		t.Fatal(err)
	}
	m.Stop(10 * time.Second)
	var bound string
	for _, line := range logs.Lines(slog.LevelInfo) {
		if strings.Contains(line, `msg="listeners bound"`) {
			bound = line
		}
	}
	if !strings.Contains(bound, " control="+remote.Addr().String()+" ") || strings.Contains(bound, " remote=") {
		t.Fatalf("start log line %q: want control=%s and no remote=", bound, remote.Addr())
	}
}
