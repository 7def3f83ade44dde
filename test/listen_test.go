package test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestListenPortZeroPrintsTheBoundAddresses: a master whose listeners ask
// for port 0 gets a free port for each, prints the addresses it is bound
// to, and serves on them: the debug endpoint, the data API and the remote
// endpoint (a client command).
func TestListenPortZeroPrintsTheBoundAddresses(t *testing.T) {
	t.Parallel()
	m := newMaster(t, "") // every listener on port 0
	m.start(binary)       // reads the printed addresses
	for _, got := range []string{m.remote, m.www, m.debug} {
		if !regexp.MustCompile(`^127\.0\.0\.1:\d+$`).MatchString(got) || strings.HasSuffix(got, ":0") {
			t.Fatalf("printed %s, not the bound port", got)
		}
	}
	if code, _ := m.health(); code != http.StatusOK {
		t.Fatalf("healthz on the printed debug address: %d", code)
	}
	res, err := http.Get("http://" + m.www + "/api/v2/masters")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("data API on the printed www address: %s", res.Status)
	}
	if out, errOut, code := m.cli("tree"); code != 0 || !strings.Contains(out, "status [status] running") {
		t.Fatalf("tree through the printed remote address: exit %d\n%s%s", code, out, errOut)
	}
}

// TestBusyPortFailsTheStart: a master one of whose ports is taken says
// which, and exits 1 at once, whichever listener it is.
func TestBusyPortFailsTheStart(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	busy := held.Addr().String()
	for _, key := range []string{"www", "debug", "remote"} {
		t.Run(key, func(t *testing.T) {
			addrs := map[string]string{"remote": "127.0.0.1:0", "www": "127.0.0.1:0", "debug": "127.0.0.1:0", key: busy}
			dir := t.TempDir()
			cfg := filepath.Join(dir, "master.yaml")
			if err := os.WriteFile(cfg, []byte(masterConfig(addrs["remote"], addrs["www"], addrs["debug"], "")), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, errOut, code, err := runClient(ctx, "", "run", "--config", cfg, "--data", filepath.Join(dir, "data"))
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("listen.%s %s: address already in use", key, busy)
			if code != 1 || !strings.Contains(errOut, want) || strings.Contains(out, "is running") {
				t.Fatalf("exit %d; want 1 and %q on stderr\nstdout:\n%s\nstderr:\n%s", code, want, out, errOut)
			}
		})
	}
}
