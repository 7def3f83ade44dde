package pbmanager

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/filetransfer"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/messages"
)

// sink is the wire.Sink of one command. The worker's output goes to the
// build that started the command as it comes, in CommandUpdates; rc,
// elapsed, files and stat are kept for the complete, which goes to the
// build too, once, as the Sink's last call, with the output that came
// with it (Finish). A complete for a lost
// connection goes to the connection's actor instead (lostCommand), which
// holds it until the worker's actor has let the connection go; once that
// actor has stopped, it goes to the build at once.
//
// Its methods are called one at a time (wire's contract); interrupted and
// sent are set from the connection's actor. Until it is sent (handed to
// the connection's outbox) only the connection's actor completes it; from
// then on the outbox or the connection does.
type sink struct {
	id          string
	builder     string
	build       *actor.PID
	root        *actor.RootContext
	conn        *actor.PID
	worker      string
	open        *openCommands
	interrupted atomic.Bool
	sent        atomic.Bool
	finished    atomic.Bool  // Finish ran: the command is complete, or its complete waits as lost
	lost        *lostCommand // its complete, lost, sent to the connection's actor and not yet taken (open.mu)

	rc      *int64
	elapsed float64
	files   []string
	stat    *messages.FileStat
	release func() // ends a transfer's master side
}

// lostCommand is a command's complete, lost with its connection: sent to
// the connection's actor.
type lostCommand struct {
	build  *actor.PID
	update *messages.CommandUpdate
}

// openCommands counts a connection's running commands (their sinks have
// not completed), shared by its actor and the sinks.
type openCommands struct {
	mu    sync.Mutex
	sinks map[string]*sink
	gone  bool // the connection's actor stopped: nothing takes lost completes
}

// lose notes s's lost complete l, which goes to the connection's actor;
// false when that actor has stopped: l is for the caller to send to the
// build.
func (o *openCommands) lose(s *sink, l lostCommand) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone {
		delete(o.sinks, s.id)
		return false
	}
	s.lost = &l
	return true
}

// stop is called by the connection's actor as it stops: it returns the
// lost completes sent to it and not yet taken (its mailbox is dropped),
// and from then on lose sends none to it.
func (o *openCommands) stop() []lostCommand {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gone = true
	var out []lostCommand
	for id, s := range o.sinks {
		if s.lost != nil {
			out = append(out, *s.lost)
			delete(o.sinks, id)
		}
	}
	return out
}

func (o *openCommands) add(s *sink) {
	o.mu.Lock()
	o.sinks[s.id] = s
	o.mu.Unlock()
}

func (o *openCommands) done(id string) {
	o.mu.Lock()
	delete(o.sinks, id)
	o.mu.Unlock()
}

func (o *openCommands) get(id string) *sink {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sinks[id]
}

// held is the open commands not sent to the connection whose complete
// has not started: those only the connection's actor can complete.
func (o *openCommands) held() []*sink {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*sink
	for _, s := range o.sinks {
		if !s.sent.Load() && !s.finished.Load() {
			out = append(out, s)
		}
	}
	return out
}

func (o *openCommands) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.sinks)
}

var streams = map[string]messages.OutputStream{
	"stdout": messages.OutputStream_OUTPUT_STREAM_STDOUT,
	"stderr": messages.OutputStream_OUTPUT_STREAM_STDERR,
	"header": messages.OutputStream_OUTPUT_STREAM_HEADER,
}

var _ wire.Finisher = (*sink)(nil)

// Update implements wire.Sink: output is sent on at once; rc adds
// Buildbot's "program finished with exit code N" header line.
func (s *sink) Update(us []wire.Update) {
	if out := s.take(us); len(out) > 0 {
		s.root.Send(s.build, &messages.CommandUpdate{CommandId: s.id, Outputs: out})
	}
}

// take keeps what of us goes with the complete and returns the output,
// adjacent output of one stream joined.
func (s *sink) take(us []wire.Update) []*messages.Output {
	var out []*messages.Output
	add := func(st messages.OutputStream, text string) {
		if text == "" {
			return
		}
		if n := len(out); n > 0 && out[n-1].Stream == st {
			out[n-1].Data = append(out[n-1].Data, text...)
			return
		}
		out = append(out, &messages.Output{Stream: st, Data: []byte(text)})
	}
	for _, u := range us {
		switch u.Key {
		case "stdout", "stderr", "header":
			add(streams[u.Key], u.Text)
		case "rc":
			rc := u.Int
			s.rc = &rc
			add(messages.OutputStream_OUTPUT_STREAM_HEADER, fmt.Sprintf("program finished with exit code %d\n", rc))
		case "elapsed":
			s.elapsed = u.Float
		case "files":
			s.files = stringList(u.Value)
		case "stat":
			s.stat = fileStat(u.Value)
		}
	}
	return out
}

// Complete implements wire.Sink.
func (s *sink) Complete(err error) { s.Finish(nil, err) }

// Finish implements wire.Finisher: the last output goes to the build in
// the message that completes the command, but for a lost connection,
// whose complete waits in the connection's actor (lostCommand) while the
// output goes on at once.
func (s *sink) Finish(us []wire.Update, err error) {
	s.finished.Store(true)
	out := s.take(us)
	if s.release != nil {
		s.release()
	}
	done := &messages.CommandComplete{Rc: -1, Interrupted: s.interrupted.Load(), Files: s.files, Stat: s.stat}
	if s.rc != nil {
		done.Rc = int32(max(min(*s.rc, math.MaxInt32), math.MinInt32))
	}
	if s.elapsed > 0 && s.elapsed < 1e9 {
		done.Elapsed = durationpb.New(time.Duration(s.elapsed * float64(time.Second)))
	}
	u := &messages.CommandUpdate{CommandId: s.id, Kind: &messages.CommandUpdate_Complete{Complete: done}}
	switch {
	case errors.Is(err, wire.ErrConnectionLost):
		if len(out) > 0 {
			s.root.Send(s.build, &messages.CommandUpdate{CommandId: s.id, Outputs: out})
		}
		done.LostConnection = true
		done.Error = "lost the connection to worker " + s.worker
		if l := (lostCommand{build: s.build, update: u}); s.open.lose(s, l) {
			s.root.Send(s.conn, l)
		} else {
			s.root.Send(s.build, u)
		}
		return
	case err != nil:
		done.Error = err.Error()
	}
	u.Outputs = out
	s.open.done(s.id)
	s.root.Send(s.build, u)
}

// stringList is a files update: a list of names.
func stringList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// fileStat is a stat update: Python's os.stat tuple (mode, ino, dev, nlink,
// uid, gid, size, atime, mtime, ctime); nil when it is not one.
func fileStat(v any) *messages.FileStat {
	l, _ := v.([]any)
	if len(l) < 10 {
		return nil
	}
	num := func(x any) int64 {
		switch n := x.(type) {
		case int64:
			return n
		case float64:
			if n > math.MinInt64 && n < math.MaxInt64 {
				return int64(n)
			}
		}
		return 0
	}
	mode := uint32(num(l[0]))
	return &messages.FileStat{Mode: mode, Size: num(l[6]), Mtime: num(l[8]), IsDir: mode&0o170000 == 0o040000}
}

// uploadSink is the Sink of an upload: a file (file set) or a directory's
// tar stream (dir set).
type uploadSink struct {
	*sink
	w interface {
		Write([]byte) error
		Cancel()
	}
	file *filetransfer.FileWriter
	dir  *filetransfer.DirectoryWriter
}

var _ wire.Uploader = (*uploadSink)(nil)

func (u *uploadSink) Write(p []byte) error { return u.w.Write(p) }

func (u *uploadSink) Utime(accessTime, modifiedTime float64) error {
	if u.file == nil {
		return errors.New("utime on a directory upload")
	}
	return u.file.Utime(accessTime, modifiedTime)
}

func (u *uploadSink) Unpack() error {
	if u.dir == nil {
		return errors.New("unpack on a file upload")
	}
	return u.dir.Unpack()
}

// CloseUpload puts an uploaded file in place; a directory's stream ends
// with Unpack.
func (u *uploadSink) CloseUpload() error {
	if u.file == nil {
		return nil
	}
	return u.file.Close()
}

// downloadSink is the Sink of a download.
type downloadSink struct {
	*sink
	r *filetransfer.Reader
}

var _ wire.Downloader = (*downloadSink)(nil)

func (d *downloadSink) Read(n int) ([]byte, error) { return d.r.Read(n) }
func (d *downloadSink) CloseDownload() error       { return d.r.Close() }

// describe is a one-line account of a command for logs.
func describe(c *messages.StartCommand) string {
	name := strings.TrimPrefix(fmt.Sprintf("%T", c.GetCommand()), "*messages.StartCommand_")
	return fmt.Sprintf("%s %s (builder %s)", strings.ToLower(name), c.GetCommandId(), c.GetBuilder())
}
