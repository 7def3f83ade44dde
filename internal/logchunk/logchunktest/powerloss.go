// Package logchunktest helps the tests of the log store's users: a file
// system for a logchunk.Store that counts fsyncs and loses, on demand, what
// no fsync made durable, as a power loss may.
package logchunktest

import (
	"fmt"
	"os"
	"sync"

	"github.com/buildmaster/buildmaster/internal/logchunk"
)

// PowerLossFS is the operating system's file system (logchunk.OS) that
// counts fsyncs and remembers, for each file it created, how much of it
// the last fsync made durable. Lose cuts the files back to that.
type PowerLossFS struct {
	logchunk.OS

	mu    sync.Mutex
	syncs int
	files []*lossyFile
}

// Create implements logchunk.FS.
func (p *PowerLossFS) Create(name string) (logchunk.File, error) {
	f, err := p.OS.Create(name)
	if err != nil {
		return nil, err
	}
	lf := &lossyFile{File: f, fs: p, name: name}
	p.mu.Lock()
	p.files = append(p.files, lf)
	p.mu.Unlock()
	return lf, nil
}

// SyncDir implements logchunk.FS, counting the fsync.
func (p *PowerLossFS) SyncDir(dir string) error {
	p.mu.Lock()
	p.syncs++
	p.mu.Unlock()
	return p.OS.SyncDir(dir)
}

// Syncs is how many fsyncs (of files and directories) were made.
func (p *PowerLossFS) Syncs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.syncs
}

// Lose cuts every file created back to its size at its last fsync, plus
// tear bytes of what was written after (a torn write), as a power loss
// may leave it. The Store that wrote them must not be used after.
func (p *PowerLossFS) Lose(tear int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.files {
		if size := min(f.size, f.synced+tear); size < f.size {
			if err := os.Truncate(f.name, size); err != nil {
				return fmt.Errorf("power loss: %w", err)
			}
		}
	}
	return nil
}

// lossyFile is a file of a PowerLossFS: its size written and synced.
type lossyFile struct {
	logchunk.File
	fs           *PowerLossFS
	name         string
	size, synced int64
}

func (f *lossyFile) WriteAt(b []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(b, off)
	f.fs.mu.Lock()
	f.size = max(f.size, off+int64(n))
	f.fs.mu.Unlock()
	return n, err
}

func (f *lossyFile) Truncate(size int64) error {
	err := f.File.Truncate(size)
	if err == nil {
		f.fs.mu.Lock()
		f.size, f.synced = size, min(f.synced, size)
		f.fs.mu.Unlock()
	}
	return err
}

func (f *lossyFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.syncs++
	size := f.size
	f.fs.mu.Unlock()
	err := f.File.Sync()
	if err == nil {
		f.fs.mu.Lock()
		f.synced = max(f.synced, size)
		f.fs.mu.Unlock()
	}
	return err
}
