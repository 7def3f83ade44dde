package msgpack

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// signalSink is a sink that tells, on seen, each update's text.
type signalSink struct {
	*sink
	seen chan string
}

func (s signalSink) Update(us []wire.Update) {
	s.sink.Update(us)
	for _, u := range us {
		s.seen <- u.Text
	}
}

// TestReaderKeepsReadingWhileAWriteIsUnderWay: the reader answers each
// request without waiting for another goroutine's write (the test holds
// p.wmu, as a write blocked on a full socket does): its answers queue, and
// it goes on reading. When respond waited for p.wmu the reader stopped
// after the first request and the worker's second update was never read;
// with both sides' writers blocked on full sockets, each reader waited for
// its side's writer, which waited for the other side's reader, until the
// write timeout ended the connection.
func TestReaderKeepsReadingWhileAWriteIsUnderWay(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m := serveMaster(t, ServerOptions{Logger: log}, nil)
	conns := m.conns

	started := make(chan *Command, 1)
	w := newGoWorker()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	w.run = func(cmd *Command) {
		started <- cmd
		select {
		case <-cmd.Done():
		case <-release:
		}
	}
	c, err := Dial(testCtx(t), m.url, "w1", "pa:ss", w, DialOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	conn := recv(t, conns, "accepted connection")
	s := signalSink{newSink(), make(chan string, 4)}
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "c1", Name: "shell", Args: map[string]any{}, Sink: s}); err != nil {
		t.Fatal(err)
	}
	cmd := recv(t, started, "the command's start")

	mp := conn.(*serverConn).p
	mp.wmu.Lock() // a master write under way
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			_ = mp.unlockWrite()
		}
	}
	t.Cleanup(unlock)
	for _, text := range []string{"one", "two"} {
		go func() { _ = cmd.Update(context.Background(), wire.Update{Key: "stdout", Text: text}) }()
		// Each update is its own frame; the reader must read both.
		if got := recv(t, s.seen, "update "+text+" while the master's write is under way"); got != text {
			t.Fatalf("update %q, want %q", got, text)
		}
	}
	unlock()
}

// TestBothSidesBatchesWithBigFramesAtOnce: each side sends, from
// a goroutine other than its read loop, a small request followed by a big
// one in one batch (callAll), over sockets whose buffers are small. Each
// reader reads the small request and answers it (respond), which waits
// for wmu, held by its own side's batch, whose big frame waits for the
// other side's reader: both sides wait until the write timeout ends the
// connection. Scheduling decides whether both readers get there first, so
// this fails often rather than always (2 runs in 5 without the queued
// answers of respond; the big frame is 128 KiB: at 64 KiB it never failed
// in 6 runs, at 256 KiB a run took 6 to 8 s under -race).
func TestBothSidesBatchesWithBigFramesAtOnce(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m := serveMaster(t, ServerOptions{Logger: log}, func(l net.Listener) net.Listener { return smallBufListener{l} })
	conns := m.conns

	big := strings.Repeat("x", 1<<17)
	go1 := make(chan struct{})
	updated := make(chan error, 1)
	w := newGoWorker()
	w.run = func(cmd *Command) {
		<-go1
		updated <- cmd.c.p.callAll(context.Background(),
			frame{"op": "update", "command_id": cmd.ID, "args": encodeUpdates([]wire.Update{{Key: "stdout", Text: "small"}}, time.Now())},
			frame{"op": "update", "command_id": cmd.ID, "args": encodeUpdates([]wire.Update{{Key: "stdout", Text: big}}, time.Now())})
	}
	c, err := Dial(testCtx(t), m.url, "w1", "pa:ss", w, DialOptions{Logger: log, netDial: dialSmallBuffers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	conn := recv(t, conns, "accepted connection")
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "c1", Name: "shell", Args: map[string]any{}, Sink: newSink()}); err != nil {
		t.Fatal(err)
	}
	mp := conn.(*serverConn).p
	printed := make(chan error, 1)
	go func() {
		<-go1
		printed <- mp.callAll(context.Background(), frame{"op": "print", "message": "small"}, frame{"op": "print", "message": big})
	}()
	close(go1)
	if err := recv(t, printed, "the master's prints"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, updated, "the worker's updates"); err != nil {
		t.Fatal(err)
	}
}
