package msgpack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// ErrUnauthorized is wrapped by Dial's error when the master refused the
// name or password (401).
var ErrUnauthorized = errors.New("master refused the worker name or password")

// Handler answers the master's requests on a worker connection. Its
// methods are called one at a time on the connection's read goroutine, in
// the order the master sent them, so each must return promptly; an error
// is sent back as the answer. ctx ends with the connection.
type Handler interface {
	Print(ctx context.Context, message string) error
	Keepalive(ctx context.Context) error
	// WorkerInfo answers get_worker_info: admin, host, access_uri,
	// version, numcpus, system, basedir, environ, worker_commands,
	// delete_leftover_dirs, os_* (see Buildbot's worker).
	WorkerInfo(ctx context.Context) (map[string]any, error)
	SetWorkerSettings(ctx context.Context, s Settings) error
	// StartCommand starts cmd and returns once it runs: the command runs
	// on a goroutine of the handler's, reports through cmd's methods and
	// ends with cmd.Complete. Those methods wait for the master's answer,
	// which this goroutine reads: StartCommand itself must not call them.
	StartCommand(ctx context.Context, cmd *Command) error
	// InterruptCommand asks command id to stop (an id that is not
	// running is not an error in Buildbot's worker).
	InterruptCommand(ctx context.Context, id, why string) error
	// Shutdown is the master asking the worker to stop.
	Shutdown(ctx context.Context) error
}

// DialOptions tune Dial; the zero value takes the defaults.
type DialOptions struct {
	// CAFile holds PEM certificates to trust for a wss:// master instead
	// of the system's; CertFile and KeyFile a client certificate to show
	// it. They are refused with ws://.
	CAFile, CertFile, KeyFile string
	Logger                    *slog.Logger  // default slog.Default()
	MaxFrame                  int64         // largest frame read; default DefaultMaxFrame
	WriteTimeout              time.Duration // bound on writing one frame; default one minute
	// netDial dials the master's address (default a net.Dialer's); tests
	// count the writes of the connection it makes.
	netDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is a worker's connection to a master. It does not reconnect:
// when Done is closed, the caller dials again (with its own back-off).
type Client struct {
	p   *peer
	h   Handler
	log *slog.Logger

	mu       sync.Mutex
	commands map[string]*Command
}

// Dial connects to the master at rawURL (ws:// or wss://) as worker name
// and serves h until the connection ends. The password goes in the
// Authorization header only; it is never logged. A refused login's error
// wraps ErrUnauthorized; a rate-limited one's wire.ErrRateLimited, and
// wire.RetryAfter reads the wait the master asked for, if it said.
func Dial(ctx context.Context, rawURL, name, password string, h Handler, opts DialOptions) (*Client, error) {
	if strings.Contains(name, ":") {
		return nil, fmt.Errorf("dial %s: a worker name may not hold a colon", rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("dial: master URL: %w", err)
	}
	var conn *heldConn
	hc, err := httpClient(u.Scheme, opts, func(c net.Conn) net.Conn {
		conn = newHeldConn(c)
		return conn
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u.Redacted(), err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password))
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:      hc,
		HTTPHeader:      http.Header{"Authorization": {auth}},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				err = ErrUnauthorized
			case http.StatusTooManyRequests:
				err = rateLimited(resp.Header)
			}
		}
		return nil, fmt.Errorf("dial %s as %s: %w", u.Redacted(), name, err)
	}
	log := opts.Logger.With("master", u.Redacted())
	c := &Client{p: newPeer(ws, log, nil, opts.MaxFrame, opts.WriteTimeout), h: h, log: log,
		commands: map[string]*Command{}}
	c.p.dispatch = c.dispatch
	c.p.holdOn(conn)
	go func() {
		err := c.p.run()
		log.Info("connection to the master ended", "err", err)
	}()
	return c, nil
}

// rateLimited is the error of a 429: wire.ErrRateLimited, with the wait of
// its Retry-After (wire.RetryAfter) when that is a whole number of seconds
// (the form the master sends); the caller bounds it.
func rateLimited(h http.Header) error {
	secs, err := strconv.ParseUint(h.Get("Retry-After"), 10, 32) // 32 bits: no time.Duration overflows
	if err != nil {
		return wire.ErrRateLimited
	}
	return wire.RateLimited(time.Duration(secs) * time.Second)
}

// httpClient is the client of one dial: its connection, once dialed, goes
// through wrap (under TLS for wss://).
func httpClient(scheme string, opts DialOptions, wrap func(net.Conn) net.Conn) (*http.Client, error) {
	dial := opts.netDial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	// Without keep-alives a refused login's connection is closed, not
	// kept idle by a transport nobody uses again.
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	}}
	tlsWanted := opts.CAFile != "" || opts.CertFile != "" || opts.KeyFile != ""
	switch scheme {
	case "ws":
		if tlsWanted {
			return nil, errors.New("CA or certificate files given for a ws:// URL; use wss://")
		}
		return &http.Client{Transport: tr}, nil
	case "wss":
	default:
		return nil, fmt.Errorf("scheme %q, want ws or wss", scheme)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", opts.CAFile)
		}
	}
	if opts.CertFile != "" || opts.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr}, nil
}

// Close ends the connection; reason goes to the master.
func (c *Client) Close(reason string) {
	c.p.close(websocket.StatusNormalClosure, reason)
}

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.p.Done() }
func (c *Client) Err() error            { return c.p.Err() }

func (c *Client) dispatch(ctx context.Context, op string, f frame) (any, error) {
	switch op {
	case "print":
		msg, ok := f.str("message")
		if !ok {
			return nil, answer(`message did not contain obligatory "message" key`)
		}
		return nil, c.h.Print(ctx, msg)
	case "keepalive":
		return nil, c.h.Keepalive(ctx)
	case "get_worker_info":
		return c.h.WorkerInfo(ctx)
	case "set_worker_settings":
		s, err := settingsFrom(f["args"])
		if err != nil {
			return nil, err
		}
		return nil, c.h.SetWorkerSettings(ctx, s)
	case "start_command":
		return nil, c.start(ctx, f)
	case "interrupt_command":
		id, ok1 := f.str("command_id")
		why, ok2 := f.str("why")
		if !ok1 || !ok2 {
			return nil, answer(`message did not contain obligatory "command_id" and "why" keys`)
		}
		return nil, c.h.InterruptCommand(ctx, id, why)
	case "shutdown":
		return nil, c.h.Shutdown(ctx)
	}
	return nil, answer(fmt.Sprintf("Command %s does not exist.", op))
}

func (c *Client) start(ctx context.Context, f frame) error {
	id, ok1 := f.str("command_id")
	name, ok2 := f.str("command_name")
	args, ok3 := f["args"].(map[string]any)
	if !ok1 || !ok2 || !ok3 {
		return answer(`message did not contain obligatory "command_id", "command_name" and "args" keys`)
	}
	builder, _ := f.str("builder_name")
	cmd := &Command{ID: id, Builder: builder, Name: name, Args: args, c: c}
	c.mu.Lock()
	_, dup := c.commands[id]
	if !dup {
		c.commands[id] = cmd
	}
	c.mu.Unlock()
	if dup {
		return fmt.Errorf("command %q is already running", id)
	}
	if name == "download_file" {
		if block, ok := asInt(args["blocksize"]); ok {
			c.p.allowFrames(id, block)
		}
	}
	if err := c.h.StartCommand(ctx, cmd); err != nil {
		c.forget(id)
		return err
	}
	return nil
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.commands, id)
	c.mu.Unlock()
	c.p.allowFrames(id, 0)
}
