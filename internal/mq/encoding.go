package mq

import "sync"

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
	once sync.Once
	b    []byte
	next *encoded
}

// Encoded returns enc's bytes for e, computed once, by the first caller,
// and shared with every other; nobody may modify them. It is safe for
// concurrent use: callers that come while the first computes wait for it.
func (e *Event) Encoded(enc *Encoding) []byte {
	for {
		head := e.encodings.Load()
		x := head
		for x != nil && x.enc != enc {
			x = x.next
		}
		if x == nil {
			x = &encoded{enc: enc, next: head}
			if !e.encodings.CompareAndSwap(head, x) {
				continue // another encoding came meanwhile, maybe this one
			}
		}
		x.once.Do(func() { x.b = enc.encode(e) })
		return x.b
	}
}
