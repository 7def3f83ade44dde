package eventstream

import (
	"net/http"

	"github.com/buildmaster/buildmaster/internal/mq"
)

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

// classes keeps one stream's MayReceive answers: by the bus's number of
// the class (mq.Event.ClassID, up to mq.MaxClassIDs), an index into a
// slice, for each event and client; in a map for the classes the bus did
// not number.
type classes struct {
	viewer Viewer
	byID   []int8 // by ClassID: 0 not asked, 1 allowed, -1 withheld
	known  map[string]bool
}

func (c *classes) allowed(ev *mq.Event) bool {
	id := int(ev.ClassID)
	if id > 0 && id <= mq.MaxClassIDs {
		if id < len(c.byID) && c.byID[id] != 0 {
			return c.byID[id] > 0
		}
		ok := c.viewer.MayReceive(ev.Class)
		if id >= len(c.byID) {
			c.byID = append(c.byID, make([]int8, id+1-len(c.byID))...)
		}
		c.byID[id] = -1
		if ok {
			c.byID[id] = 1
		}
		return ok
	}
	ok, found := c.known[ev.Class]
	if !found {
		ok = c.viewer.MayReceive(ev.Class)
		if c.known == nil {
			c.known = make(map[string]bool)
		}
		if len(c.known) < maxCachedClasses {
			c.known[ev.Class] = ok
		}
	}
	return ok
}
