package msgpack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/droplog"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// RemoteError is what the other side answered with is_exception, or the
// failure text a worker completed a command with.
type RemoteError struct {
	Op      string // the request that failed, or "complete"
	Message string
}

func (e *RemoteError) Error() string { return e.Op + ": " + e.Message }

// answer is an error whose text is sent to the other side as is: the
// texts Buildbot's peers use ("Command x does not exist.", …).
type answer string

func (a answer) Error() string { return string(a) }

const (
	// DefaultMaxFrame is the largest frame read unless an option says
	// otherwise. A transfer command's blocksize raises it while the
	// command is open (see peer.limit).
	DefaultMaxFrame = 1 << 20
	// frameOverhead is what a transfer frame holds beside its block.
	frameOverhead = 4 << 10
	// defaultWriteTimeout bounds one frame's write.
	defaultWriteTimeout = time.Minute
)

// dispatcher answers one request from the other side; it runs on the read
// goroutine, so requests are handled one at a time in the order they came.
type dispatcher func(ctx context.Context, op string, f frame) (any, error)

// peer is one side of a connection: the frame reader, this side's request
// counter and the requests awaiting an answer. Server connections and the
// worker client both build on it.
type peer struct {
	ws           *websocket.Conn
	log          *slog.Logger
	maxFrame     int64
	writeTimeout time.Duration
	dispatch     dispatcher
	frames       *framePool              // lends the buffers frames are read into
	onFrame      func(in bool, b []byte) // tests capture frames with it
	// ignored logs a frame that is ignored (the other side may send them
	// in a loop: a server's is rate-limited); default a Warn on log.
	ignored func(msg string, attrs ...slog.Attr)

	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc
	done   chan struct{}

	// wmu serialises writes, so that one timer bounds the write under way:
	// writeTimer is armed while a frame is written and closes the
	// connection when it fires.
	wmu        sync.Mutex
	writeTimer *time.Timer
	// conn is the connection under ws, which holds frames to write them
	// with the next (see heldConn); nil: every frame is written at once.
	conn *heldConn
	// flushWanted: the reader is about to read while conn holds frames
	// and wmu was taken; whoever holds wmu writes them (unlockWrite).
	flushWanted atomic.Bool
	// answers wait for wmu, taken by a write under way, so that the
	// reader goes on reading; whoever holds wmu writes them (unlockWrite).
	answers answers

	mu      sync.Mutex
	seq     int64
	pending map[int64]func(any, error)
	allow   map[string]int64 // transfer command id → largest frame it needs
	closed  bool
	err     error         // why the connection ended
	reason  string        // why this side closed
	closing chan struct{} // closed when this side's close handshake is over
}

// newPeer returns a peer on ws; it reads frames into buffers of frames
// (nil: a pool of its own).
func newPeer(ws *websocket.Conn, log *slog.Logger, frames *framePool, maxFrame int64, writeTimeout time.Duration) *peer {
	if frames == nil {
		frames = new(framePool)
	}
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if writeTimeout <= 0 {
		writeTimeout = defaultWriteTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{
		ws: ws, log: log, frames: frames, maxFrame: maxFrame, writeTimeout: writeTimeout,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		pending: map[int64]func(any, error){},
		allow:   map[string]int64{},
	}
	p.ignored = func(msg string, attrs ...slog.Attr) {
		log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
	}
	p.writeTimer = time.AfterFunc(writeTimeout, func() { _ = ws.CloseNow() })
	p.writeTimer.Stop()
	return p
}

// holdOn has the peer write its answers, and the frames of a batch but
// the last, through c with the next write (c is the connection under ws).
// It is called before run.
func (p *peer) holdOn(c *heldConn) {
	p.conn = c
	c.beforeRead = p.flushHeld
}

// flushHeld writes what conn holds, bounded as a frame's write is; the
// reader calls it before it reads. It never waits for a write under way:
// that write's unlockWrite then writes what is held.
func (p *peer) flushHeld() error {
	p.flushWanted.Store(true)
	if !p.wmu.TryLock() {
		return nil
	}
	return p.unlockWrite()
}

// unlockWrite releases wmu, after writing the queued answers (respond)
// and what conn holds if the reader asked for it (flushHeld) while wmu was
// taken. Having released wmu, it looks again: a reader that queued or
// asked just before then found wmu taken.
func (p *peer) unlockWrite() error {
	var err error
	for {
		// Not held: the reader may already wait for the next frame.
		if aerr := p.writeAnswersLocked(false); aerr != nil && err == nil {
			err = aerr
		}
		if p.conn != nil && p.flushWanted.Swap(false) && p.conn.holding() {
			p.writeTimer.Reset(p.writeTimeout)
			if ferr := p.conn.flush(); ferr != nil && err == nil {
				err = fmt.Errorf("write: %w", ferr)
			}
			p.writeTimer.Stop()
		}
		p.wmu.Unlock()
		wanted := p.answers.queued.Load() || p.conn != nil && p.flushWanted.Load()
		if !wanted || !p.wmu.TryLock() {
			return err
		}
	}
}

// limit is the largest frame accepted next: maxFrame, or more while a
// transfer whose blocks are bigger is open.
func (p *peer) limit() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.maxFrame
	for _, a := range p.allow {
		n = max(n, a)
	}
	return n
}

// allowFrames lets frames of block bytes (plus overhead) through while
// command id is open; block <= 0 removes the allowance.
func (p *peer) allowFrames(id string, block int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if block <= 0 {
		delete(p.allow, id)
		return
	}
	p.allow[id] = block + frameOverhead
}

// run reads frames until the connection ends, then fails what awaits an
// answer. It returns the reason the connection ended.
func (p *peer) run() error {
	err := p.readLoop()
	p.finish(err)
	return p.Err()
}

func (p *peer) readLoop() error {
	for {
		f, err := p.next()
		if err != nil {
			return err
		}
		if f == nil {
			continue
		}
		seq, ok1 := f.int("seq_number")
		op, ok2 := f.str("op")
		if !ok1 || !ok2 {
			p.ignored("dropping a frame without seq_number or op", slog.Int("n_keys", len(f)), slog.Any("keys", keys(f)))
			continue
		}
		if op == "response" {
			p.resolve(seq, f)
			continue
		}
		result, err := p.dispatch(p.ctx, op, f)
		if err := p.respond(seq, result, err); err != nil {
			return err
		}
	}
}

// next reads and decodes the next frame (nil for a text frame, which is
// ignored). The frame is read into a buffer of p.frames, given back once
// decoded: what decodeRequest returns holds copies.
func (p *peer) next() (frame, error) {
	limit := p.limit()
	p.ws.SetReadLimit(limit)
	buf := p.frames.get()
	defer p.frames.put(buf)
	typ, err := p.readFrame(buf)
	if err != nil {
		if errors.Is(err, websocket.ErrMessageTooBig) {
			p.log.Warn("closing connection: frame too big", "limit", limit)
			return nil, fmt.Errorf("frame over %d bytes", limit)
		}
		return nil, err
	}
	b := buf.Bytes()
	if p.onFrame != nil {
		p.onFrame(true, b)
	}
	if typ != websocket.MessageBinary {
		p.ignored("ignoring a text frame")
		return nil, nil
	}
	f, err := decodeRequest(b)
	if err != nil {
		p.log.Warn("closing connection: malformed frame", "err", err)
		p.close(websocket.StatusUnsupportedData, "malformed frame")
		return nil, fmt.Errorf("malformed frame: %w", err)
	}
	return f, nil
}

// readFrame reads the next message into buf. It reads without a context
// (a cancellable one costs a timer per read in the WebSocket library):
// the connection's end closes the socket, which ends the read.
func (p *peer) readFrame(buf *bytes.Buffer) (websocket.MessageType, error) {
	typ, r, err := p.ws.Reader(context.Background())
	if err != nil {
		return 0, err
	}
	_, err = buf.ReadFrom(r)
	return typ, err
}

// keys returns up to 8 of f's keys, each cut for a log line.
func keys(f frame) []string {
	var ks []string
	for k := range f {
		if len(ks) == 8 {
			break
		}
		ks = append(ks, droplog.Text(k))
	}
	return ks
}

// resolve hands a response to the request awaiting it.
func (p *peer) resolve(seq int64, f frame) {
	p.mu.Lock()
	cb, ok := p.pending[seq]
	delete(p.pending, seq)
	p.mu.Unlock()
	if !ok {
		p.log.Debug("response to no pending request", "seq_number", seq)
		return
	}
	if exc, _ := f["is_exception"].(bool); exc {
		msg, ok := f["result"].(string)
		if !ok {
			msg = fmt.Sprint(f["result"])
		}
		cb(nil, &RemoteError{Message: msg})
		return
	}
	cb(f["result"], nil)
}

// respond answers request seq. It does not wait for a write under way:
// the answer is queued, and the write's unlockWrite writes it, so that
// the reader goes on reading (when each side's reader waited for its
// side's writer, blocked on a full socket, both sides' writes would wait
// for each other's readers). Answers leave in the order the requests came.
// Only when the queue is over its bounds does the reader wait for wmu.
func (p *peer) respond(seq int64, result any, err error) error {
	b, err := encodeResponse(seq, result, err)
	if err != nil {
		return err
	}
	if p.onFrame != nil {
		p.onFrame(false, b)
	}
	full := p.answers.add(b)
	if !p.wmu.TryLock() {
		if !full {
			return nil
		}
		// Backpressure: the other side sends requests faster than
		// this side writes; stop reading them until the write is over.
		p.wmu.Lock()
	}
	// Held: the next frame read may be a request that came with this
	// one, whose answer then goes in the same write.
	err = p.writeAnswersLocked(true)
	if uerr := p.unlockWrite(); err == nil {
		err = uerr
	}
	return err
}

// writeAnswersLocked writes the queued answers in order, all but the last
// held; held, the last one too (see writeLocked). A failed write ends the
// connection: an answer is never lost while the connection lives. The
// caller holds wmu.
func (p *peer) writeAnswersLocked(held bool) error {
	q := p.answers.take()
	var err error
	for i, b := range q {
		if err = p.writeLocked(b, "response", held || i < len(q)-1); err != nil {
			_ = p.ws.CloseNow()
			break
		}
	}
	p.answers.giveBack(q)
	return err
}

// write sends one frame. It does not take the caller's context: the
// WebSocket library closes the connection when a write's context ends
// mid-write, and one caller giving up must not end the connection. A
// write that takes longer than writeTimeout does end it (the peer's one
// writeTimer: a context with a deadline would cost a timer and two
// cancellation registrations per frame, here and in the library).
func (p *peer) write(f frame) error {
	b, err := p.encode(f)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	err = p.writeLocked(b, f["op"], false)
	if uerr := p.unlockWrite(); err == nil {
		err = uerr
	}
	return err
}

func (p *peer) encode(f frame) ([]byte, error) {
	b, err := encodeFrame(f)
	if err != nil {
		return nil, err
	}
	if p.onFrame != nil {
		p.onFrame(false, b)
	}
	return b, nil
}

// writeLocked writes the encoded frame b (op names it in errors); held,
// conn keeps it: it leaves with the next frame written or before the next
// read (heldConn), when the peer holds frames at all. The caller holds wmu.
func (p *peer) writeLocked(b []byte, op any, held bool) error {
	held = held && p.conn != nil
	if held {
		p.conn.setHold(true)
	}
	p.writeTimer.Reset(p.writeTimeout)
	err := p.ws.Write(context.Background(), websocket.MessageBinary, b)
	p.writeTimer.Stop()
	if held {
		p.conn.setHold(false)
	}
	if err != nil {
		return fmt.Errorf("write %v: %w", op, err)
	}
	return nil
}

// request sends f with the next seq_number. onReply gets the answer, or an
// error wrapping wire.ErrConnectionLost, exactly once, unless request
// itself fails or forget is called first: an error from request means
// onReply is never called. A write that fails after the connection's end
// has failed the pending requests is no error here: onReply has that.
func (p *peer) request(f frame, onReply func(any, error)) (int64, error) {
	seq, err := p.expect(onReply)
	if err != nil {
		return 0, err
	}
	f["seq_number"] = seq
	if err := p.write(f); err != nil && p.forget(seq) {
		return 0, err
	}
	return seq, nil
}

// expect returns the next seq_number, whose answer goes to onReply.
func (p *peer) expect(onReply func(any, error)) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, p.err
	}
	seq := p.seq
	p.seq++
	p.pending[seq] = onReply
	return seq, nil
}

// forget drops the pending request seq; false when it was no longer
// pending (answered, or failed by the connection's end).
func (p *peer) forget(seq int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.pending[seq]
	delete(p.pending, seq)
	return ok
}

type reply struct {
	v   any
	err error
}

// call sends a request and waits for its answer or ctx. An is_exception
// answer is a *RemoteError naming op.
func (p *peer) call(ctx context.Context, op string, f frame) (any, error) {
	f["op"] = op
	ch := make(chan reply, 1)
	seq, err := p.request(f, func(v any, err error) { ch <- reply{v, err} })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	select {
	case r := <-ch:
		var re *RemoteError
		if errors.As(r.err, &re) {
			re.Op = op
			return nil, re
		}
		if r.err != nil {
			return nil, fmt.Errorf("%s: %w", op, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		p.forget(seq)
		return nil, fmt.Errorf("%s: %w", op, ctx.Err())
	}
}

// callAll sends the requests fs (each with its op set) one after the
// other without waiting for an answer in between, in one write, then
// waits for every answer or ctx: one round trip for all of them. The
// other side answers requests in the order they come (dispatcher), so
// each is handled after the ones before it. It returns the first failure,
// in the order sent, as call does. When it fails to send them, none of
// them goes out: all are encoded before any is written, and a failed
// write ends the connection (conn then never writes what it holds).
func (p *peer) callAll(ctx context.Context, fs ...frame) error {
	errs := make([]error, len(fs))
	answered := make(chan struct{}, len(fs))
	seqs := make([]int64, 0, len(fs))
	forget := func() {
		for _, seq := range seqs {
			p.forget(seq)
		}
	}
	bs := make([][]byte, len(fs))
	for i, f := range fs {
		seq, err := p.expect(func(_ any, err error) {
			errs[i] = err
			answered <- struct{}{}
		})
		if err == nil {
			seqs = append(seqs, seq)
			f["seq_number"] = seq
			bs[i], err = p.encode(f)
		}
		if err != nil {
			forget()
			return fmt.Errorf("%v: %w", f["op"], err)
		}
	}
	p.wmu.Lock()
	var err error
	for i, b := range bs {
		if err = p.writeLocked(b, fs[i]["op"], i < len(bs)-1); err != nil {
			_ = p.ws.CloseNow()
			break
		}
	}
	if uerr := p.unlockWrite(); err == nil {
		err = uerr
	}
	if err != nil {
		forget()
		return err
	}
	for range seqs {
		select {
		case <-answered:
		case <-ctx.Done():
			forget()
			return fmt.Errorf("%v: %w", fs[0]["op"], ctx.Err())
		}
	}
	for i, err := range errs {
		op, _ := fs[i]["op"].(string)
		var re *RemoteError
		switch {
		case errors.As(err, &re):
			re.Op = op
			return re
		case err != nil:
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}

// close starts the close handshake with reason; the read loop then ends.
// The handshake waits for the peer (the library bounds it), so it runs
// on its own goroutine, once.
func (p *peer) close(code websocket.StatusCode, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing != nil {
		return
	}
	p.reason = reason
	p.closing = make(chan struct{})
	if len(reason) > 120 {
		reason = reason[:120]
	}
	go func() {
		defer close(p.closing)
		_ = p.ws.Close(code, reason)
	}()
}

// finish records why the connection ended and fails every pending request.
func (p *peer) finish(cause error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	switch {
	case p.reason != "":
		p.err = fmt.Errorf("%w: closed: %s", wire.ErrConnectionLost, p.reason)
	case cause != nil:
		p.err = fmt.Errorf("%w: %w", wire.ErrConnectionLost, cause)
	default:
		p.err = wire.ErrConnectionLost
	}
	pending := p.pending
	p.pending = nil
	p.allow = map[string]int64{}
	err := p.err
	closing := p.closing
	p.mu.Unlock()
	if closing != nil {
		<-closing
	}
	p.cancel()
	_ = p.ws.CloseNow()
	for _, cb := range pending {
		cb(nil, err)
	}
	close(p.done)
}

// Done is closed when the connection has ended.
func (p *peer) Done() <-chan struct{} { return p.done }

// Err says why the connection ended; nil while it lives.
func (p *peer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
