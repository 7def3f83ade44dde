package httpserve

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// selfSigned is a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestBadHTTP2PrefacesDoNotFloodTheLog: a stranger who completes the TLS
// handshake, asks for h2 and sends a bogus preface makes net/http log a
// line ("http2: server: error reading preface"); 50 such connections
// log exactly the source's burst (on a clock that stands still: the budget
// does not refill however slow the handshakes are).
func TestBadHTTP2PrefacesDoNotFloodTheLog(t *testing.T) {
	log, logs := testkit.NewLogs()
	now := time.Unix(1e9, 0)
	refusals := droplog.New(log, droplog.Options{Now: func() time.Time { return now }})
	l := bound(t, Limits{})
	s := ServeTLS(l, text("hi"), log, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}, refusals)
	t.Cleanup(s.Close)
	for range 50 {
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("negotiated %q, want h2", p)
		}
		if _, err := c.Write([]byte(strings.Repeat("x", 24))); err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, c) // the server logs, then closes
		c.Close()
	}
	if n := strings.Count(logs.String(), "http2: server: error reading preface"); n != droplog.DefaultSourceBurst {
		t.Fatalf("50 bogus HTTP/2 prefaces logged %d lines, want the source's burst %d", n, droplog.DefaultSourceBurst)
	}
}
