package worker

import (
	"context"
	"errors"
	"sync"

	"github.com/buildmaster/buildmaster/messages"
)

// maxQueued is how many bytes of a download may wait for the disk: the
// master sends download chunks without waiting, and the actor must never
// block on a slow disk.
const maxQueued = 64 << 20

var errQueueFull = errors.New("download: the master sent data faster than it could be written (over 64 MiB waiting)")

// chunkQueue hands a download's chunks from the actor to the command's
// goroutine: push never blocks, next waits.
type chunkQueue struct {
	mu     sync.Mutex
	chunks []*messages.FileChunk
	bytes  int
	err    error
	ready  chan struct{} // a token when chunks or err may have changed
}

func newChunkQueue() *chunkQueue { return &chunkQueue{ready: make(chan struct{}, 1)} }

// push adds a chunk; over maxQueued bytes the queue fails instead.
func (q *chunkQueue) push(ch *messages.FileChunk) {
	q.mu.Lock()
	if q.err == nil {
		if q.bytes+len(ch.GetData()) > maxQueued {
			q.err, q.chunks, q.bytes = errQueueFull, nil, 0
		} else {
			q.chunks = append(q.chunks, ch)
			q.bytes += len(ch.GetData())
		}
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// next returns the next chunk, or the queue's error, or ctx's.
func (q *chunkQueue) next(ctx context.Context) (*messages.FileChunk, error) {
	for {
		q.mu.Lock()
		if q.err != nil {
			q.mu.Unlock()
			return nil, q.err
		}
		if len(q.chunks) > 0 {
			ch := q.chunks[0]
			q.chunks[0] = nil
			q.chunks = q.chunks[1:]
			q.bytes -= len(ch.GetData())
			q.mu.Unlock()
			return ch, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
