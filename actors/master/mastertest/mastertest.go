// Package mastertest starts in-process masters for the tests of the
// services: a real master (real actors, real state), without its remote
// endpoint, on free 127.0.0.1 ports.
package mastertest

import (
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
)

// Token is the admin token of the masters Start starts.
const Token = "test-token"

// FreeAddr returns a 127.0.0.1 address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// FreeAddrs returns n distinct 127.0.0.1 addresses with ports free right
// now (each held until all are picked, so that no two are the same).
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

// Start starts a master on the config body (YAML without listen, which
// Start adds), keeping its state in dataDir ("" for ephemeral), logging to
// log (nil: nowhere). The master is stopped when the test ends.
func Start(t testing.TB, body, dataDir string, log *slog.Logger) *master.Master {
	t.Helper()
	addrs := FreeAddrs(t, 2)
	cfg, err := config.Load("test.yaml", fmt.Appendf(nil, "listen: {debug: %q, www: %q}\n%s", addrs[0], addrs[1], body))
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := master.Start(master.Options{Config: cfg, Token: Token, Log: log, NoRemote: true, DataDir: dataDir, Ephemeral: dataDir == ""})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	return m
}
