package droplog

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/buildmaster/buildmaster/internal/addrbucket"
)

// Defaults of Options.
const (
	DefaultRate        = 10 // lines a second, all sources together
	DefaultBurst       = 50
	DefaultSourceEvery = 10 * time.Second // one more line per source each
	DefaultSourceBurst = 10
	DefaultMaxSources  = 4096
)

// Options configures a Log; zero fields take the defaults.
type Options struct {
	// Rate lines a second are logged for all sources together, after a
	// burst of Burst.
	Rate  rate.Limit
	Burst int
	// SourceBurst lines are logged for one source at once, then one more
	// each SourceEvery.
	SourceEvery time.Duration
	SourceBurst int
	// MaxSources bounds the sources remembered.
	MaxSources int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Summarize keeps, for each source, the last line its budgets
	// dropped. Once the source's budget allows a line again, if none has
	// been logged for it since, that line is logged then, with
	// not_logged_before (the lines dropped before it) and dropped_at (when
	// it happened): the last state of a source that went quiet (a
	// flapping worker's final "worker detached") always reaches the log.
	// It keeps one line per source until then: for sources that are few
	// (worker names), never for strangers' addresses.
	Summarize bool
	// AfterFunc runs f once, after d (Summarize's timer); tests drive it
	// with their clock. nil means time.AfterFunc.
	AfterFunc func(d time.Duration, f func())
}

// Log logs refusals within its budgets. It is safe for concurrent use.
type Log struct {
	log *slog.Logger
	o   Options

	mu        sync.Mutex
	all       *rate.Limiter
	sources   *addrbucket.Table[int64] // payload: refusals not logged since the source's last line
	forgotten int64                    // refusals not logged, of sources since forgotten
	dropped   map[string]dropped       // with Summarize: each source's last line dropped, by key
	flushing  bool                     // with Summarize: a flush is scheduled
	stopped   bool                     // Stop was called: nothing is kept, flushes do nothing
}

// dropped is a line a budget dropped, kept to be logged later (Summarize).
type dropped struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
	at    time.Time
}

// New returns a Log that writes to log (nil discards).
func New(log *slog.Logger, o Options) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.SourceEvery <= 0 {
		o.SourceEvery = DefaultSourceEvery
	}
	if o.SourceBurst <= 0 {
		o.SourceBurst = DefaultSourceBurst
	}
	if o.MaxSources <= 0 {
		o.MaxSources = DefaultMaxSources
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AfterFunc == nil {
		o.AfterFunc = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	l := &Log{log: log, o: o, all: rate.NewLimiter(o.Rate, o.Burst), dropped: map[string]dropped{}}
	l.sources = addrbucket.New(o.SourceBurst, o.SourceEvery, o.MaxSources, func(dropped int64) { l.forgotten += dropped })
	return l
}

// Refused logs, at level Warn, msg with peer=remote and attrs for a
// refusal of a request from remote (an address, with or without a port),
// unless a budget is spent: then it only counts it. It reports whether the
// line was logged. attrs must never hold a secret (a password).
func (l *Log) Refused(remote, msg string, attrs ...slog.Attr) bool {
	return l.RefusedAt(slog.LevelWarn, remote, msg, attrs...)
}

// RefusedAt is Refused at level: Info for what an honest client also
// causes (a load balancer's TCP check that closes before it logs in).
func (l *Log) RefusedAt(level slog.Level, remote, msg string, attrs ...slog.Attr) bool {
	return l.LogAt(level, remote, msg, append([]slog.Attr{slog.String("peer", remote)}, attrs...)...)
}

// LogAt logs msg with attrs at level for source (an address, or what else
// a peer is known by: a worker's name) within the budgets, as RefusedAt
// does but without the peer attribute: for what a peer who logged in can
// cause in a loop (its connects and disconnects). It reports whether the
// line was logged.
func (l *Log) LogAt(level slog.Level, source, msg string, attrs ...slog.Attr) bool {
	notLogged, forgotten, ok := l.take(source, dropped{level: level, msg: msg, attrs: attrs})
	if !ok {
		return false
	}
	if notLogged > 0 {
		attrs = append(attrs, slog.Int64("not_logged_before", notLogged))
	}
	if forgotten > 0 {
		attrs = append(attrs, slog.Int64("not_logged_forgotten", forgotten))
	}
	l.log.LogAttrs(context.Background(), level, msg, attrs...)
	return true
}

// take spends a line of remote's budget and of the shared one; when both
// allow it, it returns the refusals of remote, and of forgotten sources,
// not logged since their last line, and forgets them. Otherwise, with
// Summarize, line is kept to be logged later.
func (l *Log) take(remote string, line dropped) (notLogged, forgotten int64, ok bool) {
	key := addrbucket.Key(remote)
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sources.Get(key)
	// The source's budget is spent only on a line logged: a source
	// refused while the shared budget is spent keeps its own.
	if wait := l.sources.Wait(s, now); wait > 0 || !l.all.AllowN(now, 1) {
		s.Payload++
		l.sources.Put(key, s, now)
		if l.o.Summarize && !l.stopped {
			line.at = now
			l.dropped[key] = line
			l.schedule(wait)
		}
		return 0, 0, false
	}
	delete(l.dropped, key)
	notLogged, forgotten = l.spend(key, s, now)
	return notLogged, forgotten, true
}

// spend takes a line of the budget of key (whose bucket is s) and returns
// the refusals of key, and of forgotten sources, not logged since their
// last line, and forgets them. l.mu is held.
func (l *Log) spend(key string, s addrbucket.Bucket[int64], now time.Time) (notLogged, forgotten int64) {
	notLogged, s.Payload = s.Payload, 0
	l.sources.Put(key, l.sources.Spend(s, now), now) // may forget sources: before reading l.forgotten
	forgotten, l.forgotten = l.forgotten, 0
	return notLogged, forgotten
}

// schedule runs flush after wait (at least a line of the shared budget's
// time), unless a flush is scheduled already. l.mu is held.
func (l *Log) schedule(wait time.Duration) {
	if l.flushing {
		return
	}
	l.flushing = true
	if every := time.Duration(float64(time.Second) / float64(l.o.Rate)); l.o.Rate != rate.Inf && wait < every {
		wait = every
	}
	l.o.AfterFunc(wait, l.flush)
}

// flush logs the kept lines (Summarize) whose sources' budgets allow a
// line now, and schedules itself again for the others.
func (l *Log) flush() {
	now := l.o.Now()
	var out []late
	l.mu.Lock()
	l.flushing = false
	next := time.Duration(-1)
	for key, line := range l.dropped {
		s := l.sources.Get(key)
		wait := l.sources.Wait(s, now)
		if wait > 0 || !l.all.AllowN(now, 1) {
			if next < 0 || wait < next {
				next = wait
			}
			continue
		}
		out = append(out, l.release(key, s, line, now))
	}
	if next >= 0 && !l.stopped {
		l.schedule(next)
	}
	l.mu.Unlock()
	l.logLate(out)
}

// Stop ends Summarize: the lines kept are logged at once, whatever the
// budgets (one a source at most), no line dropped after is kept, and a
// flush scheduled does nothing when its timer fires. An owner calls it when
// it stops, before its log closes: the last state of a source reaches the
// log then, and no timer outlives the owner's work.
func (l *Log) Stop() {
	now := l.o.Now()
	var out []late
	l.mu.Lock()
	l.stopped = true
	for key, line := range l.dropped {
		out = append(out, l.release(key, l.sources.Get(key), line, now))
	}
	l.mu.Unlock()
	l.logLate(out)
}

// late is a kept line (Summarize) to log, with the counts of its source's
// lines, and of forgotten sources', not logged before it.
type late struct {
	line                 dropped
	notLogged, forgotten int64
}

// release forgets the line kept for key (whose bucket is s) and spends a
// line of its budget on it. l.mu is held.
func (l *Log) release(key string, s addrbucket.Bucket[int64], line dropped, now time.Time) late {
	delete(l.dropped, key)
	notLogged, forgotten := l.spend(key, s, now)
	return late{line, notLogged - 1, forgotten} // the line itself was counted dropped
}

// logLate logs kept lines, with when they were dropped (dropped_at).
func (l *Log) logLate(out []late) {
	for _, x := range out {
		attrs := append(slices.Clip(x.line.attrs), slog.Time("dropped_at", x.line.at))
		if x.notLogged > 0 {
			attrs = append(attrs, slog.Int64("not_logged_before", x.notLogged))
		}
		if x.forgotten > 0 {
			attrs = append(attrs, slog.Int64("not_logged_forgotten", x.forgotten))
		}
		l.log.LogAttrs(context.Background(), x.line.level, x.line.msg, attrs...)
	}
}

// Sources returns how many sources are remembered.
func (l *Log) Sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sources.Len()
}

// MaxText is how much of a text chosen by the peer (a name, a key) a line
// quotes: the peer must not choose the size of the log.
const MaxText = 128

// Text is s cut to MaxText bytes (on a rune boundary), marked when cut.
func Text(s string) string {
	if len(s) <= MaxText {
		return s
	}
	n := MaxText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
