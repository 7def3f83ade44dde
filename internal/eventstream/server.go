package eventstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// Limits bound what event stream clients can cost. Zero fields take the
// defaults.
type Limits struct {
	MaxClients       int           // WebSocket and SSE streams open at once (default 10,000)
	MaxSubscriptions int           // paths one stream consumes (default 100)
	MaxFrameBytes    int64         // largest WebSocket frame a client may send (default 4 KiB)
	Buffer           int           // events queued for one stream before it is dropped (default 1,024)
	PingInterval     time.Duration // WebSocket ping, SSE keep-alive comment (default 30 s)
	PingTimeout      time.Duration // wait for a WebSocket pong before closing (default 30 s)
	WriteTimeout     time.Duration // one SSE write (default 10 s)
	// WriteRate is how many batch writes a second all streams together
	// may make (default 50,000): past WriteRate×FlushInterval streams,
	// each stream's batches wait longer than FlushInterval (streams ÷
	// WriteRate), so that the writes, most of what a client costs the
	// master, stay within the budget however many clients come. Up to
	// 1,000 clients wait FlushInterval, 2,000 wait 40 ms, 10,000 200 ms.
	WriteRate int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxClients, 10_000)
	def(&l.MaxSubscriptions, 100)
	def(&l.Buffer, 1024)
	def(&l.WriteRate, 50_000)
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = 4 << 10
	}
	defDur(&l.PingInterval, 30*time.Second)
	defDur(&l.PingTimeout, 30*time.Second)
	defDur(&l.WriteTimeout, 10*time.Second)
	return l
}

// Options configure a Server.
type Options struct {
	Limits Limits
	// Authorizer decides what each stream may see; nil lets every stream
	// consume and receive everything.
	Authorizer Authorizer
	// CheckOrigin decides whether a WebSocket upgrade from r's Origin is
	// accepted (false answers 403). nil accepts only requests without an
	// Origin or from the request's own host.
	CheckOrigin func(r *http.Request) bool
	// Logger receives one line per dropped or refused stream; nil discards.
	Logger *slog.Logger
}

// Stats counts the streams of a Server.
type Stats struct {
	WebSocketClients int    // open WebSocket streams
	SSEClients       int    // open SSE streams
	Refused          uint64 // streams refused because MaxClients were open
	Dropped          uint64 // streams ended because the client fell behind
}

// ErrServerClosed ends every stream when the Server closes.
var ErrServerClosed = errors.New("event stream server closed")

// Server serves the /ws and /sse streams of one bus.
type Server struct {
	bus    *mq.Bus
	limits Limits
	authz  Authorizer
	origin func(*http.Request) bool
	log    *slog.Logger
	// What a WebSocket and an SSE stream send of an event, made once per
	// event for all streams.
	wsEvents, sseEvents *mq.Encoding

	open  atomic.Int64 // len(streams), read by every batch without mu
	clock *flushClock  // wakes the writers whose batch is due

	mu      sync.Mutex
	streams map[*stream]struct{}
	sse     map[string]*sseStream // by consumer id
	closed  bool
	stats   Stats
}

// New returns a Server of bus.
func New(bus *mq.Bus, opts Options) *Server {
	limits := opts.Limits.withDefaults()
	s := &Server{
		bus:       bus,
		limits:    limits,
		clock:     newFlushClock(max(FlushInterval, time.Duration(limits.MaxClients)*time.Second/time.Duration(limits.WriteRate))),
		authz:     opts.Authorizer,
		origin:    opts.CheckOrigin,
		log:       opts.Logger,
		wsEvents:  mq.NewEncoding(encodeWSEvent),
		sseEvents: mq.NewEncoding(encodeSSEEvent),
		streams:   make(map[*stream]struct{}),
		sse:       make(map[string]*sseStream),
	}
	if s.authz == nil {
		s.authz = allowAll{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Register mounts the streams on mux: GET /ws (ServeWebSocket) and
// GET /sse, /sse/{rest...} (ServeSSE).
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /ws", s.ServeWebSocket)
	mux.HandleFunc("GET /sse", s.ServeSSE)
	mux.HandleFunc("GET /sse/{rest...}", s.ServeSSE)
}

// Stats returns the counters as they are now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close ends every stream (WebSocket close 1001 "server shutting down")
// and refuses new ones with 503. A stream stuck writing to its client ends
// when the bus closes or its ping times out: close the Server, then the
// bus.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for st := range s.streams {
		close(st.stop)
		st.wakeUp()
	}
}

// flushInterval is how long a stream's batch waits (batch.go):
// FlushInterval, or longer when the open streams writing once each
// FlushInterval would make more than WriteRate writes a second.
func (s *Server) flushInterval() time.Duration {
	return max(FlushInterval, time.Duration(s.open.Load())*time.Second/time.Duration(s.limits.WriteRate))
}

// A stream is one open WebSocket or SSE client.
type stream struct {
	ctx    context.Context // ends with the stream; its cause says why
	cancel context.CancelCauseFunc
	// stop is closed by Server.Close. It is not ctx: cancelling ctx
	// aborts a write in flight (coder/websocket closes the connection),
	// and a stream that ends by Close sends its close frame first.
	stop chan struct{}
	// wake wakes the stream's writer (it holds one wake-up at most): its
	// batch is due (flushClock), a client frame came (readWS), or the
	// stream ends.
	wake chan struct{}
	sse  bool
}

// wakeUp wakes st's writer; it never blocks.
func (st *stream) wakeUp() {
	select {
	case st.wake <- struct{}{}:
	default: // a wake-up is waiting already
	}
}

// admit opens a stream for r, or answers 503 and returns nil.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, sse bool) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		http.Error(w, ErrServerClosed.Error(), http.StatusServiceUnavailable)
		return nil
	}
	if len(s.streams) >= s.limits.MaxClients {
		s.stats.Refused++
		s.log.Warn("event stream refused: too many clients", "peer", r.RemoteAddr, "limit", s.limits.MaxClients)
		http.Error(w, fmt.Sprintf("too many event stream clients (limit %d)", s.limits.MaxClients), http.StatusServiceUnavailable)
		return nil
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	st := &stream{ctx: ctx, cancel: cancel, stop: make(chan struct{}), wake: make(chan struct{}, 1), sse: sse}
	s.streams[st] = struct{}{}
	s.open.Add(1)
	if sse {
		s.stats.SSEClients++
	} else {
		s.stats.WebSocketClients++
	}
	return st
}

// release closes st; cause is why it ended. A stream dropped by the bus
// for falling behind is counted and logged.
func (s *Server) release(st *stream, r *http.Request, cause error) {
	st.cancel(cause)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, st)
	s.open.Add(-1)
	if st.sse {
		s.stats.SSEClients--
	} else {
		s.stats.WebSocketClients--
	}
	if errors.Is(cause, mq.ErrSlow) {
		s.stats.Dropped++
		s.log.Warn("event stream client dropped", "peer", r.RemoteAddr, "reason", cause)
	}
}

// viewer resolves r's Viewer, or answers 403 and returns nil.
func (s *Server) viewer(w http.ResponseWriter, r *http.Request) Viewer {
	v, err := s.authz.Viewer(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return nil
	}
	return v
}
