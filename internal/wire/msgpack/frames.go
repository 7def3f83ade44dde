package msgpack

import (
	"bytes"
	"sync"
)

// maxPooledFrame is the largest buffer a framePool keeps: output and
// ordinary frames fit, a transfer's big blocks are let go.
const maxPooledFrame = DefaultMaxFrame

// framePool lends the buffers frames are read into. A connection that
// streams output reads each frame into a buffer that already fits it,
// instead of one grown from 512 bytes again for every frame (about four
// times the frame in garbage, most of what a big log made the master
// collect), and an idle connection holds none. A Server's connections
// share one. The zero value is ready to use.
type framePool struct{ p sync.Pool }

// get returns an empty buffer.
func (fp *framePool) get() *bytes.Buffer {
	if b, ok := fp.p.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

// put takes back b, which the caller no longer uses (nor anything it
// handed b's bytes to).
func (fp *framePool) put(b *bytes.Buffer) {
	if b.Cap() > maxPooledFrame {
		return
	}
	b.Reset()
	fp.p.Put(b)
}
