package eventstream

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// An sseStream is one open SSE consumer, reachable by its id from the
// add and remove requests.
type sseStream struct {
	sub    *mq.Subscription
	viewer Viewer

	mu    sync.Mutex
	paths map[string]mq.Filter
}

// ServeSSE serves GET /sse/{rest...}, rest being "listen[/PATH]",
// "add/ID/PATH", "remove/ID/PATH" or, as in Buildbot, a bare PATH to
// listen to. It reads rest from the request's path value "rest" (see
// Register).
func (s *Server) ServeSSE(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimSuffix(r.PathValue("rest"), "/")
	var segs []string
	if rest != "" {
		segs = strings.Split(rest, "/")
	}
	command := "listen"
	if len(segs) > 0 && (segs[0] == "listen" || segs[0] == "add" || segs[0] == "remove") {
		command, segs = segs[0], segs[1:]
	}
	if command == "listen" {
		s.listenSSE(w, r, strings.Join(segs, "/"))
		return
	}
	if len(segs) == 0 {
		sseAnswer(w, http.StatusBadRequest, "need uuid")
		return
	}
	s.mu.Lock()
	c := s.sse[segs[0]]
	s.mu.Unlock()
	if c == nil {
		sseAnswer(w, http.StatusBadRequest, "unknown uuid")
		return
	}
	path := strings.Join(segs[1:], "/")
	if command == "add" {
		code, msg := s.addSSE(c, path)
		sseAnswer(w, code, msg)
		return
	}
	c.mu.Lock()
	f, ok := c.paths[path]
	delete(c.paths, path)
	c.mu.Unlock()
	if !ok {
		sseAnswer(w, http.StatusNotFound, "consumer is not listening to this event")
		return
	}
	c.sub.Remove(f)
	sseAnswer(w, http.StatusOK, "ok")
}

func sseAnswer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, msg)
}

// addSSE subscribes c to path and returns the answer.
func (s *Server) addSSE(c *sseStream, path string) (int, string) {
	f, err := mq.ParseFilter(path)
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("invalid path format '%s': %v", path, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.paths[path]; ok {
		return http.StatusOK, "ok"
	}
	if len(c.paths) >= s.limits.MaxSubscriptions {
		return http.StatusBadRequest, fmt.Sprintf("too many paths consumed: at most %d per consumer", s.limits.MaxSubscriptions)
	}
	if !c.viewer.MayConsume(path) {
		return http.StatusForbidden, fmt.Sprintf("not allowed to consume '%s'", path)
	}
	if _, err := c.sub.Add(f); err != nil {
		return http.StatusGone, fmt.Sprintf("consumer has ended: %v", err)
	}
	c.paths[path] = f
	return http.StatusOK, "ok"
}

// listenSSE opens a consumer, subscribed to path unless it is empty, and
// streams until the client leaves, falls behind, a write does not
// complete within WriteTimeout, or the Server closes.
func (s *Server) listenSSE(w http.ResponseWriter, r *http.Request, path string) {
	v := s.viewer(w, r)
	if v == nil {
		return
	}
	st := s.admit(w, r, true)
	if st == nil {
		return
	}
	sub, b := s.subscribe(st, v, s.sseEvents)
	c := &sseStream{sub: sub, viewer: v, paths: make(map[string]mq.Filter)}
	if path != "" {
		if code, msg := s.addSSE(c, path); code != http.StatusOK {
			sub.Close()
			s.release(st, r, fmt.Errorf("listen: %s", msg))
			sseAnswer(w, code, msg)
			return
		}
	}
	id := uuid.NewString()
	s.mu.Lock()
	s.sse[id] = c
	s.mu.Unlock()
	cause := s.streamSSE(st, w, c, b, id)
	s.mu.Lock()
	delete(s.sse, id)
	s.mu.Unlock()
	sub.Close()
	s.release(st, r, cause)
}

// maxJoinedKeep is the largest buffer of joined events an SSE stream
// keeps between writes.
const maxJoinedKeep = 64 << 10

// streamSSE writes the handshake, then events and keep-alive comments,
// and returns why the stream ended. Events are sent in batches, as on a
// WebSocket (batch.go).
func (s *Server) streamSSE(st *stream, w http.ResponseWriter, c *sseStream, b *batch, id string) error {
	rc := http.NewResponseController(w)
	// A client dropped by the bus while a write to it is stuck is cut at
	// once: the pending write's deadline is moved to now.
	var mu sync.Mutex
	done := false
	stop := context.AfterFunc(c.sub.Context(), func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			_ = rc.SetWriteDeadline(time.Now())
		}
		st.wakeUp()
	})
	defer func() {
		stop()
		mu.Lock()
		done = true
		mu.Unlock()
	}()

	write := func(b []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout)); err != nil {
			return fmt.Errorf("sse: %w", err)
		}
		_, err := w.Write(b)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			if cause := context.Cause(c.sub.Context()); cause != nil {
				return cause
			}
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := write([]byte("event: handshake\ndata: " + id + "\n\n")); err != nil {
		return err
	}
	var joined []byte // a batch's events, written as one chunk of the response
	ping := time.NewTicker(s.limits.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-st.wake: // the batch is due, or the stream ends
		case <-ping.C:
			if err := write([]byte(": ping\n\n")); err != nil {
				return err
			}
			continue
		}
		if cause := ended(st, c.sub); cause != nil {
			return cause
		}
		b.take()
		if len(b.frames) == 0 {
			continue
		}
		if err := b.send(func(frames [][]byte) error {
			joined = joined[:0]
			for _, f := range frames {
				joined = append(joined, f...)
			}
			err := write(joined)
			if cap(joined) > maxJoinedKeep {
				joined = nil
			}
			return err
		}); err != nil {
			return err
		}
	}
}
