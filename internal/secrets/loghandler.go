package secrets

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// LogHandler is a slog.Handler that redacts secret values from every
// record before the next handler sees it: the message, and each string,
// error or Stringer attribute (in groups too). Its Redactor can be
// replaced at any time (SetRedactor), as the values in use change with
// the config; attributes bound with WithAttrs are redacted with the
// Redactor of the moment they are logged.
type LogHandler struct {
	next slog.Handler
	r    *atomic.Pointer[Redactor]
	ops  []boundOp // WithAttrs and WithGroup, in order, applied when logged
	// last is the handler ops made for the last Redactor (nil: none):
	// making it anew for every record cost as much as writing the record.
	last *atomic.Pointer[boundHandler]
}

// boundHandler is next with the ops applied, their attributes redacted by r.
type boundHandler struct {
	r *Redactor
	h slog.Handler
}

// boundOp is one WithAttrs (attrs) or WithGroup (group).
type boundOp struct {
	attrs []slog.Attr
	group string
}

// NewLogHandler returns a LogHandler in front of next, redacting nothing
// until SetRedactor.
func NewLogHandler(next slog.Handler) *LogHandler {
	return &LogHandler{next: next, r: new(atomic.Pointer[Redactor]), last: new(atomic.Pointer[boundHandler])}
}

// SetRedactor makes r redact every record from now on, for this handler
// and every handler derived from it.
func (h *LogHandler) SetRedactor(r *Redactor) { h.r.Store(r) }

// Share returns a LogHandler in front of next that redacts with h's
// Redactor, now and after each SetRedactor of h: for a second log (a
// library's) that must hide the same values.
func (h *LogHandler) Share(next slog.Handler) *LogHandler { return &LogHandler{next: next, r: h.r} }

// Enabled implements slog.Handler.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *LogHandler) Handle(ctx context.Context, rec slog.Record) error {
	r := h.r.Load()
	if r == nil || r.Empty() {
		return h.bound(nil).Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(r, a))
		return true
	})
	return h.bound(r).Handle(ctx, out)
}

// bound returns next with the bound attributes (redacted by r, when not
// nil) and groups.
func (h *LogHandler) bound(r *Redactor) slog.Handler {
	if b := h.last.Load(); b != nil && b.r == r {
		return b.h
	}
	next := h.next
	for _, op := range h.ops {
		if op.attrs == nil {
			next = next.WithGroup(op.group)
			continue
		}
		attrs := op.attrs
		if r != nil {
			attrs = make([]slog.Attr, len(op.attrs))
			for i, a := range op.attrs {
				attrs[i] = redactAttr(r, a)
			}
		}
		next = next.WithAttrs(attrs)
	}
	h.last.Store(&boundHandler{r: r, h: next})
	return next
}

func (h *LogHandler) with(op boundOp) *LogHandler {
	c := *h
	c.ops = append(h.ops[:len(h.ops):len(h.ops)], op)
	c.last = new(atomic.Pointer[boundHandler])
	return &c
}

// WithAttrs implements slog.Handler.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(boundOp{attrs: append([]slog.Attr{}, attrs...)})
}

// WithGroup implements slog.Handler.
func (h *LogHandler) WithGroup(name string) slog.Handler { return h.with(boundOp{group: name}) }

func redactAttr(r *Redactor, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = redactAttr(r, ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, r.Redact(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, r.Redact(x.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
