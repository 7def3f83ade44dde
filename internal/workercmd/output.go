package workercmd

import (
	"bytes"
	"fmt"
	"time"
)

// Stream names where a chunk of a command's output came from. Its String
// is Buildbot's update key: "stdout", "stderr" or "header".
type Stream int

const (
	Stdout Stream = iota // the command's standard output
	Stderr               // the command's standard error
	Header               // lines written by the worker about the command
)

func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	case Header:
		return "header"
	}
	return fmt.Sprintf("Stream(%d)", int(s))
}

// Output receives a command's output as it is produced. RunShell calls it
// only on the goroutine that called RunShell, never after RunShell
// returned. chunk is never empty and belongs to the callee (it may keep
// it). Output should not block for long: while it runs no output is read
// and no timer is handled.
type Output func(s Stream, chunk []byte)

// Defaults for Shell.FlushInterval and Shell.MaxChunk.
const (
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultMaxChunk      = 64 << 10
)

// chunker buffers stdout and stderr and hands them to an Output in chunks
// of at most max bytes, cut after a newline where possible.
//
// Rules: a buffer that reaches max bytes is cut at once (after its last
// newline within the first max bytes, else at max). On each tick every
// complete line is handed on; a partial line is held back for one tick
// only (so it is at most two ticks late). flush hands on everything.
// Header text is written only after both buffers were flushed, so it
// follows all output read before it.
type chunker struct {
	max  int
	out  Output
	buf  [2][]byte // indexed by Stdout, Stderr
	held [2]bool   // the buffer kept a partial line at the last tick
}

func newChunker(max int, out Output) *chunker {
	if out == nil {
		out = func(Stream, []byte) {}
	}
	return &chunker{max: max, out: out}
}

// add appends p (not retained) to stream s's buffer.
func (c *chunker) add(s Stream, p []byte) {
	c.buf[s] = append(c.buf[s], p...)
	for len(c.buf[s]) >= c.max {
		cut := bytes.LastIndexByte(c.buf[s][:c.max], '\n') + 1
		if cut == 0 {
			cut = c.max
		}
		c.emit(s, cut)
	}
}

// tick hands on complete lines, and partial lines held since the last tick.
func (c *chunker) tick() {
	for s := Stdout; s <= Stderr; s++ {
		b := c.buf[s]
		switch {
		case len(b) == 0:
			c.held[s] = false
		case c.held[s]:
			c.emit(s, len(b))
			c.held[s] = false
		default:
			if cut := bytes.LastIndexByte(b, '\n') + 1; cut > 0 {
				c.emit(s, cut)
			}
			c.held[s] = len(c.buf[s]) > 0
		}
	}
}

// flush hands on everything buffered.
func (c *chunker) flush() {
	for s := Stdout; s <= Stderr; s++ {
		if len(c.buf[s]) > 0 {
			c.emit(s, len(c.buf[s]))
		}
		c.held[s] = false
	}
}

// header flushes both streams, then hands on text as Header chunks.
func (c *chunker) header(text string) {
	c.flush()
	for len(text) > 0 {
		n := min(len(text), c.max)
		c.out(Header, []byte(text[:n]))
		text = text[n:]
	}
}

// emit hands on the first n bytes of stream s's buffer.
func (c *chunker) emit(s Stream, n int) {
	b := c.buf[s]
	chunk := bytes.Clone(b[:n])
	rest := copy(b, b[n:])
	c.buf[s] = b[:rest]
	c.out(s, chunk)
}
