package secrets

import (
	"bytes"
	"io"
)

// window is how much new input a Writer redacts at a time, whatever the
// size of the writes it is given.
const window = 32 << 10

// Writer redacts a stream on its way to another io.Writer, in constant
// memory: it holds back at most the longest value's length minus one
// bytes, so that a value split across writes is still found, and redacts
// at most a window (32 KiB) of input at a time, whatever the size of a
// write. When no value contains a newline, text up to the last newline
// written is never held back, so whole lines flow at once.
//
// A Writer is not safe for concurrent use. Flush at the end of the stream
// writes what is held back; a value split across a Flush is not seen.
type Writer struct {
	r     *Redactor
	w     io.Writer
	buf   []byte // held-back bytes, then the window being redacted
	out   []byte // redacted output of one window
	reach int    // how many bytes at the start of buf the last marker covers
	err   error
}

// NewWriter returns a Writer that writes to w the redacted form of what it
// is given.
func (r *Redactor) NewWriter(w io.Writer) *Writer {
	return &Writer{r: r, w: w}
}

// Write redacts p (with what was held back) and writes what can be decided.
// It returns len(p) unless the underlying writer failed; after a failure
// every call returns that error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.r.Empty() {
		return w.w.Write(p)
	}
	n := 0
	for len(p) > 0 {
		take := min(len(p), window)
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		d := len(w.buf) - (w.r.maxLen - 1)
		if w.r.newlineFree {
			if k := bytes.LastIndexByte(w.buf, '\n'); k+1 > d {
				d = k + 1
			}
		}
		if d > 0 {
			if err := w.emit(d); err != nil {
				return n, err
			}
		}
		n += take
	}
	return n, nil
}

// Flush writes everything held back, as at the end of the stream.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	return w.emit(len(w.buf)) // every occurrence ends within buf: reach becomes 0
}

// emit redacts and writes buf[:d] and keeps buf[d:].
func (w *Writer) emit(d int) error {
	var hit bool
	reach := w.reach
	w.out, w.reach, hit = w.r.redact(w.out[:0], w.buf, d, reach)
	out := w.out
	if !hit {
		out = w.buf[min(reach, d):d]
	}
	var err error
	if len(out) > 0 {
		if _, err = w.w.Write(out); err != nil {
			w.err = err
		}
	}
	w.buf = w.buf[:copy(w.buf, w.buf[d:])]
	return err
}
