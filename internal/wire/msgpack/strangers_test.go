package msgpack

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/testkit"
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

// TestRefusedHTTP2RequestsDoNotHoldAPlace: over TLS with HTTP/2 (which
// knows no keep-alive header), a refused request ends its connection too
// (GOAWAY), and gives its place back.
func TestRefusedHTTP2RequestsDoNotHoldAPlace(t *testing.T) {
	ca := newTestCA(t)
	cert, err := tls.X509KeyPair(ca.issue(t, 2, x509.ExtKeyUsageServerAuth))
	if err != nil {
		t.Fatal(err)
	}
	m := startMaster(t, ServerOptions{})
	l, err := httpserve.Bind("listen.workers", "127.0.0.1:0", httpserve.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.LimitStrangers(1, func(string) {})
	s := httpserve.ServeTLS(l, m.srv, slog.New(slog.DiscardHandler), &tls.Config{Certificates: []tls.Certificate{cert}}, nil)
	t.Cleanup(s.Close)
	ended := make(chan struct{})
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(&endWatch{Conn: c, ended: ended}, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		return tc, tc.HandshakeContext(ctx)
	}
	client := &http.Client{Transport: &http.Transport{DialTLSContext: dial, ForceAttemptHTTP2: true}}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("https://" + l.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("%s %s, want HTTP/2 401", resp.Proto, resp.Status)
	}
	testkit.Recv(t, "the end of the refused request's connection", ended)
	// TLS says close_notify before the socket closes: the place may be
	// given back just after.
	testkit.Eventually(t, "no strangers after the connection ended", func() bool { return l.Strangers() == 0 })
}

// endWatch closes ended when a read from the connection fails (the peer
// closed it).
type endWatch struct {
	net.Conn
	ended chan struct{}
	once  sync.Once
}

func (c *endWatch) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.once.Do(func() { close(c.ended) })
	}
	return n, err
}
