package eventstream

import "net/http"

// An Authorizer decides what each event stream may see.
type Authorizer interface {
	// Viewer resolves who opens a stream, once per stream (the WebSocket
	// upgrade or the SSE listen request). An error refuses the stream with
	// 403 and the error's text.
	Viewer(r *http.Request) (Viewer, error)
}

// A Viewer is one stream's permissions. Its methods must be safe for
// concurrent use (an SSE stream's add requests run beside its writer).
type Viewer interface {
	// MayConsume is asked before each subscription (startConsuming, an SSE
	// listen path or add). False answers 403.
	MayConsume(path string) bool
	// MayReceive is asked once per event class per stream (the answer is
	// kept for the stream's life): false withholds every event of class.
	// Class "" is the class of events that belong to no builder.
	MayReceive(class string) bool
}

type allowAll struct{}

func (allowAll) Viewer(*http.Request) (Viewer, error) { return allowAll{}, nil }
func (allowAll) MayConsume(string) bool               { return true }
func (allowAll) MayReceive(string) bool               { return true }

// maxCachedClasses bounds the classes whose answer a stream keeps; past
// it the Viewer is asked again for each event of an uncached class.
const maxCachedClasses = 1024

// classes keeps one stream's MayReceive answers. The last cached class
// asked is kept apart: the events of one commit are often of one class,
// and a string compare costs less than a map lookup, for each event and
// client.
type classes struct {
	viewer Viewer
	known  map[string]bool
	last   string
	lastOK bool
}

func (c *classes) allowed(class string) bool {
	if c.known != nil && class == c.last {
		return c.lastOK
	}
	ok, found := c.known[class]
	if !found {
		ok = c.viewer.MayReceive(class)
		if c.known == nil {
			c.known = make(map[string]bool)
		}
		if len(c.known) >= maxCachedClasses {
			return ok
		}
		c.known[class] = ok
	}
	c.last, c.lastOK = class, ok
	return ok
}
