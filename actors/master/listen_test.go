package master_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/messages"
)

// load loads a config whose listeners are debug and www.
func load(t *testing.T, debug, www string) *messages.MasterConfig {
	t.Helper()
	cfg, err := config.Load("test.yaml", fmt.Appendf(nil, "listen: {debug: %q, www: %q}\n", debug, www))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRestartedHTTPServicesServeTheSameListener: the status and debug
// services, crashed and restarted by their supervisor, serve again on the
// listeners the master was handed at start (they never bind).
func TestRestartedHTTPServicesServeTheSameListener(t *testing.T) {
	www, debug := mastertest.Listen(t), mastertest.Listen(t)
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
	busy := mastertest.Listen(t)
	cfg := load(t, "127.0.0.1:0", busy.Addr().String())
	_, err := master.Start(master.Options{Config: cfg, Token: mastertest.Token, Log: slog.New(slog.DiscardHandler), NoRemote: true, Ephemeral: true})
	if err == nil || !strings.HasPrefix(err.Error(), "listen.www "+busy.Addr().String()+": ") || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start: %v", err)
	}
	// A listener handed over is closed when the start fails.
	given := mastertest.Listen(t)
	_, err = master.Start(master.Options{Config: cfg, Token: mastertest.Token, Log: slog.New(slog.DiscardHandler), NoRemote: true, Ephemeral: true,
		Listeners: master.Listeners{Debug: given}})
	if err == nil {
		t.Fatal("Start on a busy www port succeeded")
	}
	if _, err := given.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the debug listener handed over is still open: %v", err)
	}
}
