package pb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// ErrConnectionLost fails the calls and commands of a connection that
// closed before they finished; Conn.Err wraps it with the reason. It wraps
// wire.ErrConnectionLost, as the wire.Conn contract asks: pbmanager tells a
// lost connection from a failed command by it.
var ErrConnectionLost = fmt.Errorf("pb: %w", wire.ErrConnectionLost)

// protocolVersion is PB's ["version", 6].
const protocolVersion = 6

// maxObjects bounds the objects one connection exposes to its peer
// (Twisted's MAX_BROKER_REFS).
const maxObjects = 1024

// errAsync is returned by a handler that answers the call itself later.
var errAsync = errors.New("answered later")

// object is something of ours the peer can call methods on.
type object interface {
	remote(c *call) (any, error)
}

// call is one incoming ["message", id, object, method, answerRequired, args, kw].
type call struct {
	b      *broker
	id     int64
	answer bool
	method string
	args   []any
	kw     map[string]any
}

// arg returns positional argument i, or keyword name.
func (c *call) arg(i int, name string) (any, bool) {
	if i < len(c.args) {
		return c.args[i], true
	}
	v, ok := c.kw[name]
	return v, ok
}

type exported struct {
	obj  object
	refs int
}

type result struct {
	v   any
	err error
}

// broker is one PB connection, either side: the Banana stream, the
// objects we expose (by local id) and the calls we wait on.
type broker struct {
	nc           net.Conn
	log          *slog.Logger
	dec          *Decoder
	writeTimeout time.Duration
	root         object // what the peer reaches as "root"

	wmu sync.Mutex // serialises writes; held while a request id is taken
	// wbuf holds the answers the read loop owes (queue), unwritten: they
	// leave with the next write, or before the read loop waits for input.
	wbuf  []byte
	vocab bool

	// held are updates of one command that came one after another,
	// handed to its Sink together (hold). Only the read loop touches it.
	held heldUpdates

	mu       sync.Mutex
	nextReq  int64
	pending  map[int64]func(result) // called once, with the answer or the loss
	nextLUID int64
	objects  map[int64]*exported
	closed   bool
	err      error
	done     chan struct{}

	// untrusted, while positive, is how many expressions may be read in
	// all before the login succeeds, which sets it to 0 (no limit); read
	// counts them. Only the read loop touches them.
	untrusted int
	read      int

	// onClose, set before serve runs, is called once when the connection
	// has ended, before done closes.
	onClose func(error)
	// ignored, set before serve runs, logs input that is ignored (the
	// peer may send it in a loop: a server's is rate-limited); default a
	// Warn on log.
	ignored func(msg string, attrs ...slog.Attr)
}

func newBroker(nc net.Conn, log *slog.Logger, writeTimeout time.Duration) *broker {
	b := &broker{
		nc:           nc,
		log:          log,
		writeTimeout: writeTimeout,
		pending:      map[int64]func(result){},
		objects:      map[int64]*exported{},
		done:         make(chan struct{}),
	}
	b.dec = newDecoder(settlingReader{b}, preLoginReadBuffer) // grown at login
	b.ignored = func(msg string, attrs ...slog.Attr) {
		log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
	}
	return b
}

// maxOwed is how many bytes of answers the read loop may owe before they
// are written at once.
const maxOwed = 16 * 1024

// settlingReader is the connection as the read loop reads it: before it
// may wait for input, the loop settles what it owes (settle).
type settlingReader struct{ b *broker }

func (r settlingReader) Read(p []byte) (int, error) {
	r.b.settle()
	return r.b.nc.Read(p)
}

// settle hands the held updates to their Sink and writes the owed
// answers. The read loop calls it before it may wait for input, so that
// what came in one read is answered in one write: a stock worker sends a
// command's updates and complete together.
func (b *broker) settle() {
	b.deliverHeld()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if len(b.wbuf) > 0 {
		_ = b.flushLocked(b.wbuf)
	}
}

// write sends one expression built by build, after the owed answers.
func (b *broker) write(build func(buf []byte, vocab bool) ([]byte, error)) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return b.writeLocked(build, false)
}

// queue is write for the read loop's answers: the expression is owed, and
// written with the next write, before the loop waits for input (settle),
// or once maxOwed bytes are owed. Only the read loop may queue: an owed
// answer waits for it.
func (b *broker) queue(build func(buf []byte, vocab bool) ([]byte, error)) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return b.writeLocked(build, true)
}

func (b *broker) writeLocked(build func(buf []byte, vocab bool) ([]byte, error), owe bool) error {
	owed := len(b.wbuf)
	buf, err := build(b.wbuf, b.vocab)
	if err != nil {
		b.wbuf = b.wbuf[:owed]
		return err
	}
	if owe && len(buf) < maxOwed {
		b.wbuf = buf
		return nil
	}
	return b.flushLocked(buf)
}

// flushLocked writes buf, which starts with the owed answers: none are
// owed then.
func (b *broker) flushLocked(buf []byte) error {
	b.wbuf = buf[:0]
	if cap(buf) > 64*1024 {
		b.wbuf = nil
	}
	if b.isClosed() {
		return b.lost()
	}
	if b.writeTimeout > 0 {
		_ = b.nc.SetWriteDeadline(time.Now().Add(b.writeTimeout))
	}
	if _, err := b.nc.Write(buf); err != nil {
		b.close(fmt.Errorf("write: %w", err))
		return b.lost()
	}
	return nil
}

// callRemote calls method on the peer's object obj (a RemoteRef, or the
// name "root") and waits for its answer.
func (b *broker) callRemote(ctx context.Context, obj any, method string, args Tuple, kw map[string]any) (any, error) {
	ch := make(chan result, 1)
	id, err := b.send(obj, method, args, kw, func(r result) { ch <- r })
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		b.dropPending(id)
		return nil, ctx.Err()
	}
}

// send sends a call; answered gets its answer, or the connection's loss,
// once, on the read loop (or on whoever closes the connection): it must
// not wait. An error means answered is never called: a write that fails
// ends the connection, which gives answered the loss, and is no error here.
func (b *broker) send(obj any, method string, args Tuple, kw map[string]any, answered func(result)) (int64, error) {
	var id int64
	err := b.write(func(buf []byte, vocab bool) ([]byte, error) {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return buf, b.lost()
		}
		b.nextReq++
		id = b.nextReq
		b.pending[id] = answered
		b.mu.Unlock()
		return appendMessage(buf, vocab, id, obj, method, args, kw)
	})
	if err != nil && (id == 0 || b.dropPending(id)) {
		return 0, err
	}
	return id, nil
}

func appendMessage(buf []byte, vocab bool, id int64, obj any, method string, args Tuple, kw map[string]any) ([]byte, error) {
	j := jellier{vocab: vocab}
	buf = j.head(buf, 7, "message")
	buf = appendInt(buf, id)
	switch obj := obj.(type) {
	case RemoteRef:
		buf = appendInt(buf, int64(obj))
	case string:
		buf = j.atom(buf, obj)
	default:
		return buf, fmt.Errorf("pb: cannot call %s on a %T", method, obj)
	}
	buf = j.atom(buf, method)
	buf = appendInt(buf, 1)
	buf, err := j.append(buf, args, 0)
	if err != nil {
		return buf, fmt.Errorf("pb: arguments of %s: %w", method, err)
	}
	if kw == nil {
		return j.head(buf, 1, "dictionary"), nil
	}
	buf, err = j.append(buf, kw, 0)
	if err != nil {
		return buf, fmt.Errorf("pb: arguments of %s: %w", method, err)
	}
	return buf, nil
}

// dropPending forgets call id; false when it was no longer pending
// (answered, or failed by the connection's end).
func (b *broker) dropPending(id int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.pending[id]
	delete(b.pending, id)
	return ok
}

// answer sends the answer to call id. Calls answered later, from other
// goroutines, use it.
func (b *broker) answer(id int64, v any) { b.sendAnswer(b.write, id, v) }

// owe queues the answer to call id (queue): the read loop answers the
// calls it handles so.
func (b *broker) owe(id int64, v any) { b.sendAnswer(b.queue, id, v) }

func (b *broker) sendAnswer(send func(func([]byte, bool) ([]byte, error)) error, id int64, v any) {
	err := send(func(buf []byte, vocab bool) ([]byte, error) {
		j := jellier{vocab: vocab}
		buf = appendInt(j.head(buf, 3, "answer"), id)
		return j.append(buf, v, 0)
	})
	if err != nil && !errors.Is(err, ErrConnectionLost) {
		b.log.Warn("pb: cannot send an answer", "err", err)
		b.sendFailure(send, id, err)
	}
}

// fail sends err as the failure of call id.
func (b *broker) fail(id int64, err error) { b.sendFailure(b.write, id, err) }

// oweFailure queues err as the failure of call id (queue).
func (b *broker) oweFailure(id int64, err error) { b.sendFailure(b.queue, id, err) }

func (b *broker) sendFailure(send func(func([]byte, bool) ([]byte, error)) error, id int64, err error) {
	_ = send(func(buf []byte, vocab bool) ([]byte, error) {
		j := jellier{vocab: vocab}
		buf = appendInt(j.head(buf, 3, "error"), id)
		return j.failure(buf, pbError(err)), nil
	})
}

// sendDecref tells the peer we dropped one reference to its object.
func (b *broker) sendDecref(ref RemoteRef) {
	_ = b.write(func(buf []byte, vocab bool) ([]byte, error) {
		j := jellier{vocab: vocab}
		return appendInt(j.head(buf, 2, "decref"), int64(ref)), nil
	})
}

// register exposes o to the peer under a new local id.
func (b *broker) register(o object) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.objects) >= maxObjects {
		return 0, fmt.Errorf("pb: more than %d objects on one connection", maxObjects)
	}
	b.nextLUID++
	b.objects[b.nextLUID] = &exported{obj: o}
	return b.nextLUID, nil
}

// export counts one more reference held by the peer, for sending luid.
func (b *broker) export(luid int64) localObject {
	b.mu.Lock()
	if e := b.objects[luid]; e != nil {
		e.refs++
	}
	b.mu.Unlock()
	return localObject(luid)
}

// forget drops an object the peer never received.
func (b *broker) forget(luid int64) {
	b.mu.Lock()
	delete(b.objects, luid)
	b.mu.Unlock()
}

func (b *broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func (b *broker) lost() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return fmt.Errorf("%w: %w", ErrConnectionLost, b.err)
	}
	return ErrConnectionLost
}

// close drops the connection once and fails the pending calls. The read
// loop then ends, calls onClose and closes done.
func (b *broker) close(reason error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.err = reason
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	_ = b.nc.Close()
	lost := b.lost()
	for _, answered := range pending {
		answered(result{err: lost})
	}
}

// serve reads and dispatches expressions until the connection ends, then
// calls onClose and closes done.
func (b *broker) serve() {
	for {
		sexp, err := b.dec.Decode()
		if b.read++; err == nil && b.untrusted > 0 && b.read > b.untrusted {
			err = fmt.Errorf("more than %d messages before login", b.untrusted)
		}
		if err == nil {
			err = b.dispatch(sexp)
		}
		if err != nil {
			b.close(err)
			break
		}
	}
	b.deliverHeld()
	if b.onClose != nil {
		b.onClose(b.lost())
	}
	close(b.done)
}

// dispatch handles one top-level expression. An error closes the
// connection: Twisted drops a connection whose expression it cannot
// handle.
func (b *broker) dispatch(sexp any) error {
	l, ok := sexp.([]any)
	if !ok || len(l) == 0 {
		return fmt.Errorf("pb: expected a list, got %s", sexpString(sexp))
	}
	cmd, ok := l[0].([]byte)
	if !ok {
		return fmt.Errorf("pb: expression does not start with a command: %s", sexpString(sexp))
	}
	args := l[1:]
	if string(cmd) != "message" {
		b.deliverHeld()
	}
	switch string(cmd) {
	case "version":
		if len(args) != 1 || args[0] != int64(protocolVersion) {
			return fmt.Errorf("pb: version incompatibility: we speak %d, peer sent %s", protocolVersion, sexpString(args))
		}
		return nil
	case "message":
		return b.message(args)
	case "answer", "error":
		return b.reply(string(cmd), args)
	case "decref":
		if len(args) != 1 {
			return errors.New("pb: decref needs one id")
		}
		if id, ok := args[0].(int64); ok {
			b.decref(id)
		}
		return nil
	case "decache", "uncache":
		return nil // we never send cached objects
	case "didNotUnderstand":
		b.ignored("pb: peer did not understand a command", slog.String("command", sexpString(args)))
		return nil
	case "cachemessage":
		if len(args) < 2 {
			return errors.New("pb: malformed cachemessage")
		}
		if id, ok := args[0].(int64); ok {
			b.oweFailure(id, newFailure("twisted.spread.pb.Error", "Invalid Object ID"))
		}
		return nil
	default:
		return b.queue(func(buf []byte, vocab bool) ([]byte, error) {
			j := jellier{vocab: vocab}
			return j.atom(j.head(buf, 2, "didNotUnderstand"), string(cmd)), nil
		})
	}
}

func (b *broker) decref(id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.objects[id]; e != nil {
		e.refs--
		if e.refs <= 0 {
			delete(b.objects, id)
		}
	}
}

func (b *broker) message(args []any) error {
	if len(args) != 6 {
		return fmt.Errorf("pb: message with %d fields, want 6", len(args))
	}
	id, ok1 := args[0].(int64)
	method, ok2 := args[2].([]byte)
	answer, ok3 := args[3].(int64)
	if !ok1 || !ok2 || !ok3 {
		return errors.New("pb: malformed message")
	}
	c := &call{b: b, id: id, answer: answer != 0, method: string(method)}
	obj := b.lookup(args[1])
	if k := b.held.k; k != nil && (obj != object(k) || c.method != "update" && c.method != "complete") {
		b.deliverHeld()
	}
	var v any
	var err error
	if obj == nil {
		err = newFailure("twisted.spread.pb.Error", "Invalid Object ID")
	} else if err = c.unjellyArgs(args[4], args[5]); err == nil {
		v, err = obj.remote(c)
	}
	switch {
	case errors.Is(err, errAsync):
	case !c.answer:
	case err != nil:
		b.oweFailure(id, err)
	default:
		b.owe(id, v)
	}
	return nil
}

func (c *call) unjellyArgs(netArgs, netKw any) error {
	a, err := unjelly(netArgs)
	if err != nil {
		return fmt.Errorf("arguments of %s: %w", c.method, err)
	}
	switch a := a.(type) {
	case Tuple:
		c.args = a
	case []any:
		c.args = a
	default:
		return fmt.Errorf("arguments of %s are %T, not a tuple", c.method, a)
	}
	kw, err := unjelly(netKw)
	if err != nil {
		return fmt.Errorf("keyword arguments of %s: %w", c.method, err)
	}
	m, ok := kw.(map[string]any)
	if !ok {
		return fmt.Errorf("keyword arguments of %s are %T, not a dictionary", c.method, kw)
	}
	c.kw = m
	return nil
}

func (b *broker) lookup(id any) object {
	switch id := id.(type) {
	case []byte:
		if string(id) == "root" {
			return b.root
		}
	case int64:
		b.mu.Lock()
		defer b.mu.Unlock()
		if e := b.objects[id]; e != nil {
			return e.obj
		}
	}
	return nil
}

func (b *broker) reply(kind string, args []any) error {
	if len(args) != 2 {
		return fmt.Errorf("pb: %s with %d fields, want 2", kind, len(args))
	}
	id, ok := args[0].(int64)
	if !ok {
		return fmt.Errorf("pb: %s id is not an integer", kind)
	}
	b.mu.Lock()
	answered := b.pending[id]
	delete(b.pending, id)
	b.mu.Unlock()
	if answered == nil {
		b.log.Debug("pb: reply to a call nobody waits for", "id", id)
		return nil
	}
	v, err := unjelly(args[1])
	switch {
	case err != nil:
		err = fmt.Errorf("pb: decoding the %s: %w", kind, err)
	case kind == "error":
		if re, ok := v.(*RemoteError); ok {
			err = re
		} else {
			err = fmt.Errorf("pb: remote error %v", v)
		}
		v = nil
	}
	answered(result{v: v, err: err})
	return nil
}
