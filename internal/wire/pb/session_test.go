package pb

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// The golden replay: a fake worker plays the worker's side of a captured
// Buildbot 3.7 session against the Server, and the test drives the
// Server's wire.Conn through the calls Buildbot's master made, at the
// points where it made them. Every expression the Server sends must equal
// what Buildbot's master sent, except for what legitimately differs:
//
//   - startBuild is not sent (it is a no-op on the worker and not part of
//     wire.Conn), so the master's later request ids are one lower per
//     startBuild left out;
//   - dictionaries are compared regardless of their order (Go maps are
//     sent sorted by key, Python's in insertion order), and so is the
//     builder list of setBuilderList (sent sorted by name);
//   - a failure's count, traceback and unsafeTracebacks (Buildbot sends
//     its master's traceback).
//
// The challenge is injected: the captured one.

// replay is one run of a captured session against a Server.
type replay struct {
	t     *testing.T
	exprs []expr
	nc    net.Conn
	dec   *Decoder

	conns      chan wire.Conn
	conn       wire.Conn
	acceptDone chan struct{}

	ids     map[int64]int64  // captured master request id → ours
	skipped map[int64]bool   // captured master request ids not sent
	worker  map[int64][]any  // captured worker request id → the message
	builder map[int64]string // the worker's builder references
	content map[int64][]byte // what each reader (by luid) served
	nextID  int64
	sent    int // expressions the Server sent
	exact   int // of which identical to Buildbot's bytes

	mu    sync.Mutex
	calls sync.WaitGroup
	// listed is done when the setBuilderList call has returned: a command
	// names a builder the Server knows only from that call's answer, as a
	// worker's builds start only once its builder list is set.
	listed sync.WaitGroup
	errs   []error
	sinks  map[string]wire.Sink // by command id
	info   map[string]any
}

func TestSessionReplay(t *testing.T) {
	r := newReplay(t, "testdata/session.pb")
	r.run()
	r.wait()
	for _, err := range r.errs {
		t.Error(err)
	}
	if got := r.info["admin"]; got != "Ada <ada@example.com>\n" {
		t.Errorf("Info admin = %q", got)
	}
	shell := r.sinks["0"].(*sink)
	if shell.text("stdout") != "hello\n" || shell.rc(t) != 0 || shell.err != nil {
		t.Errorf("echo hello: stdout %q rc %d err %v", shell.text("stdout"), shell.rc(t), shell.err)
	}
	if fail := r.sinks["1"].(*sink); fail.text("stderr") != "oops\n" || fail.rc(t) != 3 {
		t.Errorf("the failing shell: stderr %q rc %d", fail.text("stderr"), fail.rc(t))
	}
	up := r.sinks["4"].(*uploader)
	if up.data.String() != "hello string\n" || !up.closed || up.mtime == 0 {
		t.Errorf("uploadFile: %q closed %v mtime %v", up.data.String(), up.closed, up.mtime)
	}
	if dir := r.sinks["7"].(*uploader); !dir.unpacked || dir.data.Len() == 0 {
		t.Errorf("uploadDirectory: unpacked %v, %d bytes", dir.unpacked, dir.data.Len())
	}
	if files, _ := r.sinks["11"].(*sink).last("files"); fmt.Sprint(files.Value) != "[sub down.txt blob.bin]" {
		t.Errorf("listdir files %v", files.Value)
	}
	if stat, _ := r.sinks["10"].(*sink).last("stat"); len(stat.Value.([]any)) != 10 {
		t.Errorf("stat %v", stat.Value)
	}
	if rc := r.sinks["14"].(*sink).rc(t); rc != -1 {
		t.Errorf("the interrupted command's rc %d", rc)
	}
}

// TestBadPasswordReplay replays a login with a wrong password: the worker
// must get the UnauthorizedLogin failure Buildbot sends.
func TestBadPasswordReplay(t *testing.T) {
	r := newReplay(t, "testdata/badpass.pb")
	r.run()
}

// wait waits for the calls the replay made to return.
func (r *replay) wait() {
	done := make(chan struct{})
	go func() {
		r.calls.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		r.t.Fatal("calls on the Server's Conn did not return")
	}
}

func newReplay(t *testing.T, path string) *replay {
	r := &replay{
		t:          t,
		exprs:      decodeCapture(t, readCapture(t, path)),
		conns:      make(chan wire.Conn, 1),
		acceptDone: make(chan struct{}),
		ids:        map[int64]int64{},
		skipped:    map[int64]bool{},
		worker:     map[int64][]any{},
		builder:    map[int64]string{},
		content:    map[int64][]byte{},
		sinks:      map[string]wire.Sink{},
		nextID:     1,
	}
	r.analyse()
	var challenge []byte
	for _, e := range r.exprs {
		if e.dir == '>' && atom(e.sexp, 0) == "answer" {
			challenge = list(list(e.sexp)[2])[1].([]byte)
			break
		}
	}
	ts := startServer(t, Config{
		Challenge: func() []byte { return challenge },
		Accept: func(_ context.Context, c wire.Conn) error {
			r.conns <- c
			<-r.acceptDone
			return nil
		},
	})
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(wait))
	r.nc, r.dec = nc, NewDecoder(nc)
	return r
}

// analyse learns from the capture what the test must feed the Server:
// the builder references and what each reader served.
func (r *replay) analyse() {
	masterCalls := map[int64][]any{}
	for _, e := range r.exprs {
		l, ok := e.sexp.([]any)
		if !ok || len(l) < 3 {
			continue
		}
		id, _ := l[1].(int64)
		switch {
		case e.dir == '<' && atom(l, 0) == "message":
			r.worker[id] = l
		case e.dir == '>' && atom(l, 0) == "message":
			masterCalls[id] = l
		case e.dir == '<' && atom(l, 0) == "answer" && atom(masterCalls[id], 3) == "setBuilderList":
			for _, kv := range list(l[2])[1:] {
				name := string(list(list(kv)[0])[1].([]byte))
				r.builder[list(list(kv)[1])[1].(int64)] = name
			}
		case e.dir == '>' && atom(l, 0) == "answer" && atom(r.worker[id], 3) == "read":
			luid := r.worker[id][2].(int64)
			r.content[luid] = append(r.content[luid], l[2].([]byte)...)
		}
	}
}

func (r *replay) run() {
	t := r.t
	defer func() {
		t.Logf("%d of the %d expressions the Server sent are byte for byte Buildbot's", r.exact, r.sent)
	}()
	for i, e := range r.exprs {
		switch e.dir {
		case '<':
			r.send(i, e.sexp)
		case '>':
			want := e.sexp
			switch {
			case atom(want, 0) == "message":
				capID := list(want)[1].(int64)
				if atom(want, 3) == "startBuild" {
					r.skipped[capID] = true
					continue
				}
				r.ids[capID] = r.nextID
				r.nextID++
				want = withID(want, r.ids[capID])
				r.call(want)
			case atom(want, 0) == "answer" && atom(r.worker[list(want)[1].(int64)], 3) == "respond":
				close(r.acceptDone)
			}
			r.dec.Vocab = i > 0
			got, err := r.dec.Decode()
			if err != nil {
				t.Fatalf("expression %d: reading what the Server sent instead of %s: %v", i, appendSexp(nil, want, 120, 0), err)
			}
			if g, w := canonical(got), canonical(want); !equalSexp(g, w) {
				t.Fatalf("expression %d differs from Buildbot's:\nwant %s\ngot  %s", i, appendSexp(nil, w, 120, 0), appendSexp(nil, g, 120, 0))
			}
			r.sent++
			if raw, _ := AppendExpr(nil, got, i > 0); bytes.Equal(raw, e.raw) {
				r.exact++
			}
		}
	}
}

// send writes the worker's expression i, its answer id mapped to ours.
func (r *replay) send(i int, sexp any) {
	if k := atom(sexp, 0); k == "answer" || k == "error" {
		capID := list(sexp)[1].(int64)
		if r.skipped[capID] {
			return
		}
		sexp = withID(sexp, r.ids[capID])
	}
	b, err := AppendExpr(nil, sexp, i > 1)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("expression %d: %v", i, err)
	}
}

// call makes on the Server's Conn the call that sends message m.
func (r *replay) call(m any) {
	t := r.t
	if r.conn == nil {
		select {
		case r.conn = <-r.conns:
		case <-time.After(wait):
			t.Fatal("the Server never accepted the login")
		}
	}
	c, ctx := r.conn, context.Background()
	method := atom(m, 3)
	args, err := unjelly(list(m)[5])
	if err != nil {
		t.Fatal(err)
	}
	kw, err := unjelly(list(m)[6])
	if err != nil {
		t.Fatal(err)
	}
	a, k := args.(Tuple), kw.(map[string]any)
	do := func(f func() error) {
		r.calls.Add(1)
		go func() {
			defer r.calls.Done()
			if err := f(); err != nil {
				r.mu.Lock()
				r.errs = append(r.errs, fmt.Errorf("%s: %w", method, err))
				r.mu.Unlock()
			}
		}()
	}
	switch method {
	case "print":
		do(func() error { return c.Print(ctx, k["message"].(string)) })
	case "getWorkerInfo":
		do(func() error {
			info, err := c.Info(ctx)
			r.mu.Lock()
			r.info = info
			r.mu.Unlock()
			return err
		})
	case "setBuilderList":
		builders := map[string]string{}
		for _, e := range a[0].([]any) {
			builders[e.(Tuple)[0].(string)] = e.(Tuple)[1].(string)
		}
		r.listed.Add(1)
		do(func() error {
			defer r.listed.Done()
			return c.SetBuilderList(ctx, builders)
		})
	case "startCommand":
		id, name, cmdArgs := a[1].(string), a[2].(string), a[3].(map[string]any)
		s := newSink()
		var sk wire.Sink = s
		if ref, ok := cmdArgs["writer"]; ok {
			_ = ref
			sk = &uploader{sink: s}
			delete(cmdArgs, "writer")
		}
		if ref, ok := cmdArgs["reader"]; ok {
			sk = &downloader{sink: s, r: bytes.NewReader(r.content[int64(ref.(RemoteRef))])}
			delete(cmdArgs, "reader")
		}
		r.sinks[id] = sk
		builder := r.builder[list(m)[2].(int64)]
		do(func() error {
			r.listed.Wait()
			if err := c.StartCommand(ctx, wire.Command{ID: id, Builder: builder, Name: name, Args: cmdArgs, Sink: sk}); err != nil {
				return err
			}
			return s.wait(t)
		})
	case "interruptCommand":
		builder := r.builder[list(m)[2].(int64)]
		do(func() error {
			answered := make(chan error, 1)
			if err := c.Interrupt(builder, a[0].(string), a[1].(string), func(err error) { answered <- err }); err != nil {
				return err
			}
			select {
			case err := <-answered:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	case "shutdown":
		do(func() error { return c.Shutdown(ctx) })
	default:
		t.Fatalf("the replay does not know how to make the Server call %s", method)
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// atom returns element i of a list if it is a string.
func atom(v any, i int) string {
	l := list(v)
	if i >= len(l) {
		return ""
	}
	b, _ := l[i].([]byte)
	return string(b)
}

func withID(sexp any, id int64) any {
	l := slices.Clone(list(sexp))
	l[1] = id
	return l
}

// canonical sorts dictionaries and the builder list of setBuilderList,
// and drops a failure's count, traceback and unsafeTracebacks.
func canonical(sexp any) any {
	l, ok := sexp.([]any)
	if !ok {
		return sexp
	}
	out := make([]any, len(l))
	for i, e := range l {
		out[i] = canonical(e)
	}
	switch {
	case atom(out, 0) == "dictionary":
		entries := out[1:]
		entries = slices.DeleteFunc(entries, func(kv any) bool { return isFailureKey(list(kv)) })
		slices.SortFunc(entries, func(a, b any) int { return bytes.Compare(encoded(a), encoded(b)) })
		out = append(out[:1], entries...)
	case atom(out, 0) == "message" && atom(out, 3) == "setBuilderList":
		builders := slices.Clone(list(list(out[5])[1]))
		slices.SortFunc(builders[1:], func(a, b any) int { return bytes.Compare(encoded(a), encoded(b)) })
		out[5] = []any{list(out[5])[0], builders}
	}
	return out
}

// isFailureKey is true for the failure state keys that legitimately
// differ: count (an int), traceback (unicode), unsafeTracebacks (boolean).
func isFailureKey(kv []any) bool {
	switch atom(list(kv[0]), 1) {
	case "count":
		_, ok := kv[1].(int64)
		return ok
	case "traceback":
		return atom(kv[1], 0) == "unicode"
	case "unsafeTracebacks":
		return atom(kv[1], 0) == "boolean"
	}
	return false
}

func encoded(sexp any) []byte {
	b, _ := AppendExpr(nil, sexp, false)
	return b
}

func equalSexp(a, b any) bool {
	return bytes.Equal(encoded(a), encoded(b))
}
