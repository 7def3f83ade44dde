// Package wiretest holds what the tests of the worker protocols
// (internal/wire/msgpack, internal/wire/pb) share.
package wiretest

import (
	"fmt"
	"sync"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// FinishSink is a wire.Finisher that records its calls in order, each as a
// line: "update [KEYS]", "complete ERR" or "finish [KEYS] ERR".
type FinishSink struct {
	mu    sync.Mutex
	calls []string
	// Seen gets each call as it is made (buffered: 8 calls).
	Seen chan string
}

// NewFinishSink returns an empty FinishSink.
func NewFinishSink() *FinishSink { return &FinishSink{Seen: make(chan string, 8)} }

func (s *FinishSink) record(call string) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	s.Seen <- call
}

// Update implements wire.Sink.
func (s *FinishSink) Update(us []wire.Update) { s.record(fmt.Sprintf("update %v", keys(us))) }

// Complete implements wire.Sink.
func (s *FinishSink) Complete(err error) { s.record(fmt.Sprintf("complete %v", err)) }

// Finish implements wire.Finisher.
func (s *FinishSink) Finish(us []wire.Update, err error) {
	s.record(fmt.Sprintf("finish %v %v", keys(us), err))
}

// Calls returns the calls so far.
func (s *FinishSink) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func keys(us []wire.Update) []string {
	ks := make([]string, len(us))
	for i, u := range us {
		ks[i] = u.Key
	}
	return ks
}
