package testkit_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// A test serves on a listener it holds, waits for what happens with a
// deadline, and compares the output with a golden file.
func TestExample(t *testing.T) {
	// A server of the test's own, on a bound listener: its address is
	// known, and the port never free for anyone else, before it serves.
	l := testkit.Listen(t)
	var hits atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintf(w, "hello %s\n", r.URL.Path)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	resp, err := http.Get("http://" + l.Addr().String() + "/world")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, filepath.Join("testdata", "example.golden"), []byte(line))

	// Something that happens soon, but not at once: poll it.
	testkit.Eventually(t, "the server counted the request", func() bool { return hits.Load() == 1 })
	// Something announced on a channel: wait for it.
	srv.Close()
	if err := testkit.Recv(t, "the server's end", served); err != http.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}

	// A client with no server to reach: refused, and the port stays
	// reserved for the rest of the test.
	if c, err := net.Dial("tcp", testkit.RefusingAddr(t)); err == nil {
		c.Close()
		t.Fatal("a refusing address accepted a connection")
	}
}
