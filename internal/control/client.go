package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Errors of Client.Call, beside a *Refused and ctx's own.
var (
	// ErrUnreachable: no connection to the endpoint could be made; the
	// request was not sent.
	ErrUnreachable = errors.New("cannot reach")
	// ErrLost: the connection broke after the request went out and before
	// the reply came; the request may or may not have been carried out.
	ErrLost = errors.New("lost the connection")
)

// Refused is the endpoint's own refusal of a request (any status but 200):
// nothing was asked of any actor.
type Refused struct {
	Status  int
	Message string
}

func (e *Refused) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// maxReply bounds what one reply may cost the client.
const maxReply = 64 << 20

// Client asks the actors of one master through its control endpoint. It
// keeps its connection open for the next call (Close closes it): a process
// that asks many times (a script's sendchange loop, a benchmark) pays for a
// connection once. Calls may run at once.
type Client struct {
	addr string
	http *http.Client
	tr   *http.Transport
}

// NewClient returns a Client of the control endpoint at addr (host:port).
func NewClient(addr string) *Client {
	// No proxy: the endpoint is the master itself. An idle connection is
	// closed well before the master would close it (http.idle_timeout):
	// a request sent on one the master has just closed would fail as lost.
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64, IdleConnTimeout: IdleTimeout}
	return &Client{addr: addr, http: &http.Client{Transport: tr}, tr: tr}
}

// IdleTimeout is how long a Client keeps an idle connection.
const IdleTimeout = 5 * time.Second

// Close closes the connections c keeps.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Call asks the actor at target (e.g. paths.Master) and returns its reply:
// the answer, or the actor's messages.ControlError (read both with
// ask.Reply). It waits until ctx ends or timeout passes, and tells the
// endpoint to wait as long.
func (c *Client) Call(ctx context.Context, target string, msg proto.Message, timeout time.Duration) (proto.Message, error) {
	body, err := marshalEnvelope(msg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+PathPrefix+target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(TimeoutHeader, timeout.String())
	res, err := c.http.Do(req)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case isDial(err):
		return nil, fmt.Errorf("%w %s: %w", ErrUnreachable, c.addr, err)
	default:
		return nil, fmt.Errorf("%w to %s: %w", ErrLost, c.addr, err)
	}
	defer res.Body.Close()
	data, err := readReply(res.Body, res.ContentLength)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("%w to %s: %w", ErrLost, c.addr, err)
	}
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusGatewayTimeout: // the endpoint waited as long as told to
		return nil, fmt.Errorf("%w: %s", context.DeadlineExceeded, strings.TrimSpace(string(data)))
	default:
		return nil, &Refused{Status: res.StatusCode, Message: strings.TrimSpace(string(data))}
	}
	url, value, err := openEnvelope(data)
	if err != nil {
		return nil, fmt.Errorf("a reply that is %w", err)
	}
	name, _ := messageName(url)
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, fmt.Errorf("a reply of unknown type %q: %w", url, err)
	}
	out := mt.New().Interface()
	if err := proto.Unmarshal(value, out); err != nil {
		return nil, fmt.Errorf("a reply that does not decode (%s): %w", url, err)
	}
	return out, nil
}

// isDial reports whether err is a failure to connect.
func isDial(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}

// readReply reads a reply of length n (-1 when unknown) into one buffer of
// that size (growing a buffer from 512 bytes to a tree's 150 KB copies and
// touches twice that), at most maxReply bytes.
func readReply(body io.Reader, n int64) ([]byte, error) {
	if n < 0 || n > maxReply {
		return io.ReadAll(io.LimitReader(body, maxReply))
	}
	data := make([]byte, n)
	_, err := io.ReadFull(body, data)
	return data, err
}
