package testkit

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// WebSocket is a bare WebSocket client (RFC 6455) over a real
// connection: it sends masked text frames and returns the frames that each
// read of the connection completes, without copying them. A test sees
// with it what arrived together; a benchmark runs thousands of clients
// whose cost is a read per batch rather than a decode per frame. It
// answers pings; it does not handle fragmented messages or extensions.
// A WebSocket is used by one goroutine at a time.
type WebSocket struct {
	conn   net.Conn
	buf    []byte   // read buffer
	off, n int      // buf[off:n] is what Read has not returned yet
	frames [][]byte // what Read returns, reused
}

// ErrWebSocketClosed is returned by Read when the server sent a close
// frame; the error wrapping it gives the status code and reason.
var ErrWebSocketClosed = errors.New("websocket closed by the server")

// DialWebSocket opens a WebSocket to rawURL (ws://HOST:PORT/PATH).
func DialWebSocket(ctx context.Context, rawURL string) (*WebSocket, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" {
		return nil, fmt.Errorf("websocket url %q: want ws://HOST:PORT/PATH (%v)", rawURL, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("websocket dial %s: %w", u.Host, err)
	}
	ws, err := handshake(conn, u)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket %s: %w", rawURL, err)
	}
	return ws, nil
}

func handshake(conn net.Conn, u *url.URL) (*WebSocket, error) {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // never fails
	key := base64.StdEncoding.EncodeToString(nonce)
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {key},
		"Sec-Websocket-Version": {"13"},
	}}
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-Websocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("upgrade refused: %s", resp.Status)
	}
	ws := &WebSocket{conn: conn, buf: make([]byte, 8<<10)}
	// Frames that came with the response.
	ws.n, _ = br.Read(ws.buf[:min(br.Buffered(), len(ws.buf))])
	if br.Buffered() > 0 {
		return nil, errors.New("more than 8 KiB of frames came with the upgrade response")
	}
	return ws, nil
}

// Close closes the connection without a close frame.
func (ws *WebSocket) Close() error { return ws.conn.Close() }

// Send sends text as one masked text frame.
func (ws *WebSocket) Send(text []byte) error {
	return ws.send(0x1, text)
}

func (ws *WebSocket) send(opcode byte, payload []byte) error {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	_, err := ws.conn.Write(b)
	return err
}

// Read reads the connection once (unless a whole frame is already
// buffered) and returns the payloads of the text and binary frames it
// completed, in order; they are valid until the next Read. Pings are
// answered and not returned. A close frame ends with an error wrapping
// ErrWebSocketClosed.
func (ws *WebSocket) Read() ([][]byte, error) {
	ws.frames = ws.frames[:0]
	// What the last Read returned is no longer in use: move the rest to
	// the front, and make room for a frame larger than the buffer.
	ws.n = copy(ws.buf, ws.buf[ws.off:ws.n])
	ws.off = 0
	size, complete, err := frameSize(ws.buf[:ws.n])
	if err != nil {
		return nil, err
	}
	if !complete {
		if size > len(ws.buf) {
			ws.buf = append(ws.buf[:ws.n], make([]byte, size-ws.n)...)
		}
		m, err := ws.conn.Read(ws.buf[ws.n:])
		ws.n += m
		if m == 0 && err != nil {
			return nil, err
		}
	}
	for {
		b := ws.buf[ws.off:ws.n]
		size, complete, err := frameSize(b)
		if err != nil {
			return nil, err
		}
		if !complete {
			return ws.frames, nil
		}
		ws.off += size
		head, payload := b[0], b[size-payloadLen(b):size]
		switch head & 0xf {
		case 0x1, 0x2:
			if head&0x80 == 0 {
				return nil, errors.New("fragmented websocket message: not supported")
			}
			ws.frames = append(ws.frames, payload)
		case 0x9:
			if err := ws.send(0xa, payload); err != nil {
				return nil, err
			}
		case 0xa:
		case 0x8:
			code := 0
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
				payload = payload[2:]
			}
			return nil, fmt.Errorf("%w: status %d %q", ErrWebSocketClosed, code, payload)
		default:
			return nil, fmt.Errorf("websocket frame of opcode %#x: not supported", head&0xf)
		}
	}
}

// maxWebSocketFrame bounds the frames Read accepts.
const maxWebSocketFrame = 64 << 20

// frameSize reports the size of the server frame at the start of b, as
// far as its header tells (0 while the header is incomplete), and whether
// b holds it whole.
func frameSize(b []byte) (size int, complete bool, err error) {
	if len(b) < 2 {
		return 0, false, nil
	}
	if b[1]&0x80 != 0 {
		return 0, false, errors.New("masked websocket frame from the server")
	}
	hdr := 2
	switch b[1] {
	case 126:
		hdr = 4
	case 127:
		hdr = 10
	}
	if len(b) < hdr {
		return 0, false, nil
	}
	n := payloadLen(b)
	if n > maxWebSocketFrame {
		return 0, false, fmt.Errorf("websocket frame of %d bytes: more than %d", n, maxWebSocketFrame)
	}
	return hdr + n, len(b) >= hdr+n, nil
}

// payloadLen is the payload length in the whole header at the start of b.
func payloadLen(b []byte) int {
	switch n := b[1]; n {
	case 126:
		return int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		return int(min(binary.BigEndian.Uint64(b[2:]), maxWebSocketFrame+1))
	default:
		return int(n)
	}
}
