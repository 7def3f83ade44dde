package reportertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// SMTPOptions shape the fake SMTP server.
type SMTPOptions struct {
	// ImplicitTLS: TLS from the first byte; otherwise plain text with
	// STARTTLS offered (unless NoSTARTTLS).
	ImplicitTLS bool
	NoSTARTTLS  bool
	// Username and Password, when set, are required (AUTH PLAIN, only over TLS).
	Username, Password string
	// RejectData, when set, is the reply to DATA.
	RejectData *smtp.SMTPError
}

// Mail is a mail the fake accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
	// User is who logged in; TLS says whether the session was encrypted.
	User string
	TLS  bool
}

// FakeSMTP is a real SMTP server (emersion/go-smtp) on 127.0.0.1 with a
// certificate signed by a CA made for the test.
type FakeSMTP struct {
	Addr string
	// ClientTLS trusts the server's certificate.
	ClientTLS *tls.Config
	// CAPEM is the CA's certificate, PEM-encoded (for a tls_ca file).
	CAPEM    []byte
	mails    chan Mail
	sessions chan struct{}
}

// NewFakeSMTP starts a server, closed when the test ends.
func NewFakeSMTP(t testing.TB, o SMTPOptions) *FakeSMTP {
	t.Helper()
	cert, pool, caPEM := testCert(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	f := &FakeSMTP{ClientTLS: &tls.Config{RootCAs: pool}, CAPEM: caPEM, mails: make(chan Mail, 64), sessions: make(chan struct{}, 64)}
	l := testkit.Listen(t)
	if o.ImplicitTLS {
		l = tls.NewListener(l, serverTLS)
	}
	f.Addr = l.Addr().String()
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		select {
		case f.sessions <- struct{}{}:
		default:
		}
		return &session{fake: f, opts: o, tls: isTLS}, nil
	}))
	s.Domain = "localhost"
	s.MaxMessageBytes = 1 << 20
	s.MaxRecipients = 50
	if !o.ImplicitTLS && !o.NoSTARTTLS {
		s.TLSConfig = serverTLS
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return f
}

// Mails delivers each accepted mail.
func (f *FakeSMTP) Mails() <-chan Mail { return f.mails }

// Sessions signals each new SMTP session.
func (f *FakeSMTP) Sessions() <-chan struct{} { return f.sessions }

type session struct {
	fake *FakeSMTP
	opts SMTPOptions
	tls  bool
	user string
	mail Mail
}

func (s *session) AuthMechanisms() []string {
	if s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.opts.Username || password != s.opts.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.opts.Username != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.mail = Mail{From: from, User: s.user, TLS: s.tls}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mail.To = append(s.mail.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.opts.RejectData != nil {
		return s.opts.RejectData
	}
	s.mail.Data = data
	select {
	case s.fake.mails <- s.mail:
		return nil
	default:
		return errors.New("test mailbox full")
	}
}

func (s *session) Reset()        { s.mail = Mail{User: s.user, TLS: s.tls} }
func (s *session) Logout() error { return nil }

// testCert makes a CA and a certificate it signs for 127.0.0.1 and
// localhost; it returns the server's certificate (with its chain), a pool
// trusting the CA, and the CA's certificate in PEM.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool, []byte) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "reportertest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "reportertest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, pool,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}
