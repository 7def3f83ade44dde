package eventstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/mq"
)

var errPingTimeout = errors.New("no pong within the ping timeout")

// ServeWebSocket serves GET /ws: the Origin check, the viewer, the client
// limit, then the upgrade and Buildbot's JSON protocol until the client
// leaves, falls behind, stops answering pings or the Server closes.
func (s *Server) ServeWebSocket(w http.ResponseWriter, r *http.Request) {
	if s.origin != nil && !s.origin(r) {
		http.Error(w, fmt.Sprintf("websocket origin %q not allowed", r.Header.Get("Origin")), http.StatusForbidden)
		return
	}
	v := s.viewer(w, r)
	if v == nil {
		return
	}
	st := s.admit(w, r, false)
	if st == nil {
		return
	}
	// Accept checks the Origin itself (same host) unless CheckOrigin did.
	// No compression: the server's frames are the same bytes for every
	// client (wsframe.go).
	hw := &hijackWriter{ResponseWriter: w}
	c, err := websocket.Accept(hw, r, &websocket.AcceptOptions{InsecureSkipVerify: s.origin != nil, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.release(st, r, fmt.Errorf("websocket upgrade: %w", err))
		return
	}
	c.SetReadLimit(s.limits.MaxFrameBytes)
	s.release(st, r, s.serveWS(st, c, hw.conn, v))
}

// serveWS runs one connection: a reader goroutine hands client frames to
// the writer (this goroutine), which alone writes data frames to the
// client and reads the subscription, so that answers and events keep
// their order; a pinger checks the client answers. It returns why the
// connection ended.
func (s *Server) serveWS(st *stream, c *websocket.Conn, conn *frameConn, v Viewer) error {
	sub, b := s.subscribe(st, v, s.wsEvents)
	defer sub.Close()
	sess := newSession(sub, v, s.limits.MaxSubscriptions)
	frames := make(chan []byte, 1) // one frame at most waits for the writer
	var wg sync.WaitGroup
	wg.Go(func() { readWS(st, c, frames) })
	wg.Go(func() { s.pingWS(st, c) })

	cause := writeWS(st, c, conn, sess, b, frames)
	switch {
	case errors.Is(cause, mq.ErrSlow):
		c.Close(websocket.StatusTryAgainLater, "client fell behind: too many events queued")
	case errors.Is(cause, ErrServerClosed):
		c.Close(websocket.StatusGoingAway, "server shutting down")
	default:
		c.CloseNow()
	}
	st.cancel(cause)
	wg.Wait()
	return cause
}

// readWS reads client frames until the connection fails or closes, and
// hands each to the writer: it puts it on frames, where one waits at
// most, and wakes the writer. It reads without st's context: cancelling
// st must not cut the connection before the writer has sent its close
// frame.
func readWS(st *stream, c *websocket.Conn, frames chan<- []byte) {
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			st.cancel(fmt.Errorf("read: %w", err))
			return
		}
		select {
		case frames <- data:
			st.wakeUp()
		case <-st.ctx.Done():
			return
		}
	}
}

// pingWS pings the client every PingInterval and ends the stream when a
// pong does not come within PingTimeout.
func (s *Server) pingWS(st *stream, c *websocket.Conn) {
	t := time.NewTicker(s.limits.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-st.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(st.ctx, s.limits.PingTimeout)
		err := c.Ping(ctx)
		cancel()
		if err != nil {
			st.cancel(fmt.Errorf("%w: %v", errPingTimeout, err))
			return
		}
	}
}

// writeWS writes events and answers until the stream ends, and returns
// why. It sleeps on st.wake alone, woken by the flush clock, by the
// reader with a client frame, and by the stream's end. Events are sent in batches (batch.go): the first waits
// FlushInterval (longer with many clients) for those behind it, and all
// go out in one write of their frames, encoded once for every client. A
// command's answer goes at once, in one write with the events published
// before it. A client dropped by the bus while a write to it is stuck is
// cut at once: one watcher per connection closes it if a write is in
// flight when the subscription ends (a write itself takes no context,
// which would cost a registration per write), and wakes the writer
// otherwise.
func writeWS(st *stream, c *websocket.Conn, conn *frameConn, sess *session, b *batch, frames <-chan []byte) error {
	sub := sess.sub
	var writing atomic.Bool
	stop := context.AfterFunc(sub.Context(), func() {
		if writing.Load() {
			c.CloseNow()
		}
		st.wakeUp()
	})
	defer stop()
	write := func(frames [][]byte) error {
		writing.Store(true) // before the check: the watcher sees one or the other
		defer writing.Store(false)
		if cause := context.Cause(sub.Context()); cause != nil {
			return cause // ended meanwhile: leave the connection whole for the close frame
		}
		if _, err := conn.writeFrames(frames); err != nil {
			if cause := context.Cause(sub.Context()); cause != nil {
				return cause
			}
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	for {
		<-st.wake // the batch is due, a client frame came, or the stream ends
		if cause := ended(st, sub); cause != nil {
			return cause
		}
		b.take() // what was published before a command goes before its answer
		select {
		case frame := <-frames: // its wake-up came after it
			b.frames = append(b.frames, appendTextFrame(nil, sess.handle(frame)))
		default:
		}
		if len(b.frames) == 0 {
			continue
		}
		if err := b.send(write); err != nil {
			return err
		}
	}
}

// ended returns why st ends, or nil.
func ended(st *stream, sub *mq.Subscription) error {
	select {
	case <-st.stop:
		return ErrServerClosed
	default:
	}
	return context.Cause(sub.Context()) // st.ctx's end too: sub lives in it
}
