package httpserve

import "sync/atomic"

// strangers bounds the connections of a listener that have not logged in
// (LimitStrangers). Its counts are the listener's Strangers and
// StrangersRefused.
type strangers struct {
	max     int64
	refused func(remote string) // logs a refusal within its budget
	open    atomic.Int64
	dropped atomic.Int64
}

// LimitStrangers makes l hold at most max connections that have not logged
// in (whose server has not called wire.LoggedIn on them) at once: a new one past
// that is closed as soon as it is accepted, counted (StrangersRefused) and
// given to refused (which logs it within a budget). It keeps strangers from
// taking every place (Limits.MaxConns) from the workers that log in, and
// bounds what they cost together. Call it once, before anything serves on l.
func (l *Listener) LimitStrangers(max int, refused func(remote string)) {
	l.strangers = &strangers{max: int64(max), refused: refused}
}

// Strangers is how many of the listener's connections have not logged in
// (0 without LimitStrangers).
func (l *Listener) Strangers() int64 {
	if l.strangers == nil {
		return 0
	}
	return l.strangers.open.Load()
}

// StrangersRefused is how many connections LimitStrangers closed at once.
func (l *Listener) StrangersRefused() int64 {
	if l.strangers == nil {
		return 0
	}
	return l.strangers.dropped.Load()
}

// admit takes a place for the new connection c, or closes it when there is
// none.
func (s *strangers) admit(c *countedConn) bool {
	if s.open.Add(1) > s.max {
		s.open.Add(-1)
		s.dropped.Add(1)
		s.refused(c.RemoteAddr().String())
		_ = c.Close()
		return false
	}
	c.stranger = &s.open
	return true
}
