package msgpack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/buildmaster/buildmaster/internal/httpserve"
)

// TestRefusedRequestsDoNotHoldAPlace: a request that is not a worker's
// upgrade (no Authorization, a wrong password, a right one without the
// upgrade) is answered and its connection closed, so that a stranger
// cannot keep one of the listener's places for strangers with a request
// every idle timeout; each gives its place back, and a worker then logs in.
func TestRefusedRequestsDoNotHoldAPlace(t *testing.T) {
	var l *httpserve.Listener
	m := serveMaster(t, ServerOptions{}, func(s net.Listener) net.Listener {
		l = httpserve.Adopt("listen.workers", s, httpserve.Limits{})
		t.Cleanup(func() { l.Close() })
		l.LimitStrangers(1, func(string) {})
		return l.Accepting()
	})
	for _, auth := range []string{"", basic("w1", "wrong"), basic("w1", "pa:ss")} {
		c, err := net.Dial("tcp", m.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req := "GET / HTTP/1.1\r\nHost: master\r\n"
		if auth != "" {
			req += "Authorization: " + auth + "\r\n"
		}
		if _, err := fmt.Fprint(c, req+"\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		// A second request on the connection is not answered: it is closed.
		_, _ = fmt.Fprint(c, req+"\r\n")
		if resp, err := http.ReadResponse(br, nil); err == nil {
			t.Fatalf("Authorization %q: the connection answered a second request (%s), want it closed", auth, resp.Status)
		}
		// The place is given back before the socket closes.
		if n := l.Strangers(); n != 0 {
			t.Fatalf("Authorization %q: %d strangers after the connection closed", auth, n)
		}
	}
	dialRaw(t, m.url, basic("w1", "pa:ss")).login()
	recv(t, m.conns, "the worker's connection")
}
