package testkit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// Logs records what a logger (NewLogs) writes, one text line a record, for
// tests that look at log lines. Safe for concurrent use.
type Logs struct {
	mu     sync.Mutex
	cur    bytes.Buffer // the record being written
	lines  []string
	levels []slog.Level
}

// NewLogs returns a logger at debug level that records into the Logs it
// returns.
func NewLogs() (*slog.Logger, *Logs) {
	l := &Logs{}
	return slog.New(logsHandler{l: l, inner: slog.NewTextHandler(&l.cur, &slog.HandlerOptions{Level: slog.LevelDebug})}), l
}

// Lines returns the lines of the records at level min or above, in order.
func (l *Logs) Lines(min slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i, line := range l.lines {
		if l.levels[i] >= min {
			out = append(out, line)
		}
	}
	return out
}

// String returns every line recorded, each ending in a newline.
func (l *Logs) String() string {
	var b strings.Builder
	for _, line := range l.Lines(slog.LevelDebug) {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// logsHandler formats each record with inner (writing into l.cur) under
// l's lock and keeps the line.
type logsHandler struct {
	l     *Logs
	inner slog.Handler
}

func (h logsHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h logsHandler) Handle(ctx context.Context, r slog.Record) error {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	h.l.cur.Reset()
	err := h.inner.Handle(ctx, r)
	h.l.lines = append(h.l.lines, strings.TrimSuffix(h.l.cur.String(), "\n"))
	h.l.levels = append(h.l.levels, r.Level)
	return err
}

func (h logsHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logsHandler{l: h.l, inner: h.inner.WithAttrs(attrs)}
}

func (h logsHandler) WithGroup(name string) slog.Handler {
	return logsHandler{l: h.l, inner: h.inner.WithGroup(name)}
}
