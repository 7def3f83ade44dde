package mq

import "sync/atomic"

// An Encoding turns an Event into the bytes one kind of subscriber sends
// (a WebSocket frame, an SSE event). Event.Encoded makes each encoding of
// an event once, for all the subscribers that send it: with a thousand
// browsers watching, the event is framed once, not a thousand times.
// Encodings are compared by identity: make each once (NewEncoding) and
// keep it.
type Encoding struct {
	encode func(*Event) []byte
}

// NewEncoding returns the Encoding computed by encode, which must depend
// on the event alone.
func NewEncoding(encode func(*Event) []byte) *Encoding {
	return &Encoding{encode: encode}
}

// An encoded is one encoding of an event, in the event's list of them.
type encoded struct {
	enc  *Encoding
	b    []byte
	next *encoded
}

// Encoded returns enc's bytes for e, computed by the first caller and
// shared with every later one; nobody may modify them. It is safe for
// concurrent use (two first callers at once may both compute them; one
// result is kept).
func (e *Event) Encoded(enc *Encoding) []byte {
	for {
		head := e.encodings.Load()
		for x := head; x != nil; x = x.next {
			if x.enc == enc {
				return x.b
			}
		}
		x := &encoded{enc: enc, b: enc.encode(e), next: head}
		if e.encodings.CompareAndSwap(head, x) {
			return x.b
		}
	}
}

// encodings is the list of an Event's encodings made so far.
type encodings = atomic.Pointer[encoded]
