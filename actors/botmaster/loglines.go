package botmaster

import (
	"bytes"
	"unicode/utf8"

	"github.com/buildmaster/buildmaster/messages"
)

// MaxLineBytes is where a longer line of output is cut into several, as
// Buildbot's max_line_length.
const MaxLineBytes = 4096

// logLines turns a command's output streams into the lines of a stdio log
// in Buildbot's form: each line prefixed by its stream, o (stdout), e
// (stderr) or h (header). A line is written once complete (or once it
// reaches MaxLineBytes); flush ends the lines left open.
type logLines struct {
	partial [4][]byte // by stream
	out     bytes.Buffer
}

var streamPrefix = [4]byte{'h', 'o', 'e', 'h'} // by messages.OutputStream

// add takes data of stream. Only a line left open at its end is copied
// aside (into partial): the lines it completes are written out from data
// itself, or from partial with the first piece of data that ends them.
func (l *logLines) add(stream messages.OutputStream, data []byte) {
	s := int(stream)
	if s < 0 || s >= len(l.partial) {
		s = 0
	}
	for len(l.partial[s]) > 0 && len(data) > 0 {
		// Enough of data to end the open line, or to fill it to MaxLineBytes.
		n := len(data)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			n = i + 1
		}
		n = min(n, MaxLineBytes)
		l.partial[s] = append(l.partial[s], data[:n]...)
		l.partial[s] = l.keep(s, l.lines(s, l.partial[s]))
		data = data[n:]
	}
	if len(data) > 0 {
		l.partial[s] = l.keep(s, l.lines(s, data))
	}
}

// lines writes out the lines p completes (and those of MaxLineBytes) and
// returns what is left: less than a line.
func (l *logLines) lines(stream int, p []byte) []byte {
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 && len(p) < MaxLineBytes {
			return p
		}
		n := i + 1
		if i < 0 || i >= MaxLineBytes {
			n = completeUTF8(p[:MaxLineBytes])
		}
		l.line(stream, p[:n])
		p = p[n:]
	}
}

// keep makes rest (which may share partial's storage) stream's open line.
func (l *logLines) keep(stream int, rest []byte) []byte {
	return append(l.partial[stream][:0], rest...)
}

func (l *logLines) line(stream int, text []byte) {
	l.out.WriteByte(streamPrefix[stream])
	l.out.Write(bytes.TrimSuffix(text, []byte("\n")))
	l.out.WriteByte('\n')
}

func (l *logLines) flush() {
	for s, p := range l.partial {
		if len(p) > 0 {
			l.line(s, p)
			l.partial[s] = l.partial[s][:0]
		}
	}
}

// completeUTF8 is the length of b without a last character cut short.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}
