package botmaster

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// TestLogFlushCopiesOnce: a command's lines reach the db service's log
// writer in one copy of them (the message's: the buffer they were
// gathered in is used again), not one more to a string and back.
func TestLogFlushCopiesOnce(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	var got atomic.Int64 // bytes the fake db got
	if _, err := system.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*messages.LogWrite); ok {
			got.Add(int64(len(m.GetContent())))
			c.Respond(&messages.LogWritten{Logid: m.GetLogid()})
		}
	}), paths.DB); err != nil {
		t.Fatal(err)
	}
	defer system.Shutdown()
	log := &stepLog{r: &runner{build: &build{ctx: context.Background()}, system: system}, id: 7}
	f := newLogFlusher(log)
	defer f.timer.Stop()
	data := []byte(strings.Repeat("a line of a compiler's output, quite ordinary\n", LogFlushBytes/46+1))
	o := &commandOutput{id: "1.1"}
	const writes = 20
	flush := func() {
		o.add(stdout, data)
		if err := f.after(o); err != nil {
			t.Fatal(err)
		}
		if o.lines.out.Len() != 0 {
			t.Fatal("the lines were not written")
		}
	}
	flush() // the buffers are made
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range writes {
		flush()
	}
	runtime.ReadMemStats(&after)
	perByte := float64(after.TotalAlloc-before.TotalAlloc) / float64(writes*len(data))
	if perByte >= 1.5 {
		t.Errorf("%.2f bytes allocated per byte of lines written, want < 1.5", perByte)
	}
	if want := (writes + 1) * (len(data) + len(data)/46); got.Load() != int64(want) {
		t.Errorf("the log writer got %d bytes, want %d", got.Load(), want)
	}
}

// TestStepFinishCopiesOutputOnce: a short command's lines, kept for its
// step's finish, are copied once more on their way there (into the
// AppendLog's string), not once to a string and again into what the step
// keeps.
func TestStepFinishCopiesOutputOnce(t *testing.T) {
	data := []byte(strings.Repeat("  HOME=/home/worker\n", 100)) // a header with the environment
	want := strings.Repeat("h  HOME=/home/worker\n", 100)
	const runs = 50
	outs := make([]*commandOutput, runs+1)
	for i := range outs {
		outs[i] = &commandOutput{id: "1.1", done: &messages.CommandComplete{}}
		outs[i].add(messages.OutputStream_OUTPUT_STREAM_HEADER, data)
	}
	log := &stepLog{id: 7}
	f := newLogFlusher(log)
	defer f.timer.Stop()
	finish := func(o *commandOutput) {
		if err := f.after(o); err != nil {
			t.Fatal(err)
		}
		a, err := log.finish()
		if err != nil || a.GetContent() != want {
			t.Fatalf("finish: %q, %v; want the lines", a.GetContent(), err)
		}
	}
	finish(outs[runs]) // the step's buffer is made
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, o := range outs[:runs] {
		finish(o)
	}
	runtime.ReadMemStats(&after)
	perByte := float64(after.TotalAlloc-before.TotalAlloc) / float64(runs*len(data))
	if perByte >= 1.5 {
		t.Errorf("%.2f bytes allocated per byte of output, want < 1.5", perByte)
	}
}

// TestStepTakesOutputIntact: two commands of one step end back to back,
// the second's output kept after the first's (whose buffer the step took)
// and an error line after both: the finish carries all three in order,
// and nothing the commands do after leaves a mark on it.
func TestStepTakesOutputIntact(t *testing.T) {
	log := &stepLog{id: 7}
	f := newLogFlusher(log)
	defer f.timer.Stop()
	outs := make([]*commandOutput, 2)
	for i, text := range []string{"first\n", "second\n"} {
		outs[i] = &commandOutput{id: "1.1", done: &messages.CommandComplete{}}
		outs[i].add(messages.OutputStream_OUTPUT_STREAM_STDOUT, []byte(text))
		if err := f.after(outs[i]); err != nil {
			t.Fatal(err)
		}
	}
	log.later("hboom\n")
	for _, o := range outs { // a command's buffers written after it ended
		o.add(messages.OutputStream_OUTPUT_STREAM_STDOUT, []byte("XXXXXXXXXXXXXXXXXXXXXXXXXX\n"))
	}
	a, err := log.finish()
	if err != nil {
		t.Fatal(err)
	}
	const want = "ofirst\nosecond\nhboom\n"
	log.later("hnext step\n") // the step's buffer used again
	if got := a.GetContent(); got != want {
		t.Errorf("step finish carries %q, want %q", got, want)
	}
}
