package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// Future is a submitted command: Wait returns once it is durable and applied.
type Future struct {
	f   raft.ApplyFuture
	res *messages.CommandResult
	err error
}

// Wait blocks until the command is committed to disk and applied, and
// returns Apply's result. Bad commands come back as errors wrapping
// ErrBadCommand; they are in the log but wrote nothing.
func (f *Future) Wait() (*messages.CommandResult, error) {
	if f.f == nil {
		return f.res, f.err
	}
	if err := f.f.Error(); err != nil {
		return nil, fmt.Errorf("state: raft: %w", err)
	}
	a, _ := f.f.Response().(applied)
	return a.res, a.err
}

// ErrClosed is returned for commands submitted to a closed Store.
var ErrClosed = errors.New("state: store is closed")

// Submit hands cmd to raft (or, ephemeral, applies it) and returns a Future.
// It can block briefly when raft's apply queue is full (backpressure); an
// actor should use SubmitAsync, which never blocks its caller.
func (s *Store) Submit(cmd *messages.Command) *Future {
	if s.closed.Load() {
		return &Future{err: ErrClosed}
	}
	if cmd == nil {
		return &Future{err: fmt.Errorf("%w: command: nil command", ErrBadCommand)}
	}
	if s.raft == nil {
		// Validate the encoding as raft would see it, then apply.
		data, err := proto.Marshal(cmd)
		if err != nil {
			return &Future{err: fmt.Errorf("%w: encoding command: %v", ErrBadCommand, err)}
		}
		dec := &messages.Command{}
		if err := proto.Unmarshal(data, dec); err != nil {
			return &Future{err: fmt.Errorf("%w: decoding command: %v", ErrBadCommand, err)}
		}
		res, err := s.fsm.apply(dec)
		return &Future{res: res, err: err}
	}
	if h := s.health.get(); h.Log != nil {
		return &Future{err: fmt.Errorf("%w: %s (%w); they are accepted again once a write to the raft log succeeds", ErrDegraded, h, h.Log)}
	}
	// What can be refused without the database is refused before it
	// reaches the journal.
	if ac := cmd.GetAddChange(); ac != nil {
		if err := CheckAddChange(ac); err != nil {
			return &Future{err: err}
		}
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return &Future{err: fmt.Errorf("%w: encoding command: %v", ErrBadCommand, err)}
	}
	s.policy.wrote(len(data))
	f := s.raft.Apply(data, 0)
	s.endsWithShutdown(f)
	return &Future{f: f}
}

// SubmitWait submits cmd and waits for it, or for ctx to end (the command
// may still be applied after ctx ends).
func (s *Store) SubmitWait(ctx context.Context, cmd *messages.Command) (*messages.CommandResult, error) {
	type out struct {
		res *messages.CommandResult
		err error
	}
	ch := make(chan out, 1)
	s.SubmitAsync(cmd, func(res *messages.CommandResult, err error) { ch <- out{res, err} })
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SubmitAsync submits cmd and calls done once it is durable and applied
// (or failed). It never blocks: it hands cmd to raft on the caller's
// goroutine while raft's queue has room for it, and on a goroutine of its
// own past that. The dones of the commands submitted this way are called
// one at a time, in the order they were queued (for one caller's commands
// while fewer than maxInline are in flight: the order it submitted them
// in), from a goroutine that is not the caller's (see completer): a done
// must not block, or it holds back the results queued after it. An actor
// passes a done that sends the result to itself (e.g. ctx.Send(self, …)).
func (s *Store) SubmitAsync(cmd *messages.Command, done func(*messages.CommandResult, error)) {
	if !s.completer.reserve() {
		go func() { s.completer.add(s.Submit(cmd), done) }()
		return
	}
	s.completer.add(s.Submit(cmd), done)
}
