package loginlimit

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultUserBurst  = 5
	DefaultUserEvery  = time.Minute
	DefaultAddrBurst  = 30
	DefaultAddrEvery  = 10 * time.Second
	DefaultMaxEntries = 100_000
)

// Options configures a Limiter; zero fields take the defaults.
type Options struct {
	// UserBurst failures of one user from one address are allowed at
	// once; then one more each UserEvery.
	UserBurst int
	UserEvery time.Duration
	// AddrBurst failures from one address (any users); then one more each
	// AddrEvery.
	AddrBurst int
	AddrEvery time.Duration
	// MaxEntries bounds each of the two tables.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limiter is safe for concurrent use.
type Limiter struct {
	o     Options
	mu    sync.Mutex
	users table // key: user + "\x00" + address key
	addrs table // key: address key
}

// New returns a Limiter.
func New(o Options) *Limiter {
	if o.UserBurst <= 0 {
		o.UserBurst = DefaultUserBurst
	}
	if o.UserEvery <= 0 {
		o.UserEvery = DefaultUserEvery
	}
	if o.AddrBurst <= 0 {
		o.AddrBurst = DefaultAddrBurst
	}
	if o.AddrEvery <= 0 {
		o.AddrEvery = DefaultAddrEvery
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter{
		o:     o,
		users: table{burst: o.UserBurst, every: o.UserEvery, max: o.MaxEntries, m: map[string]bucket{}},
		addrs: table{burst: o.AddrBurst, every: o.AddrEvery, max: o.MaxEntries, m: map[string]bucket{}},
	}
}

// Attempt says whether user may try a password from remote (an address,
// with or without a port) now, and if so counts the try as a failure at
// once, so that attempts racing in parallel cannot exceed the limit while
// their passwords are being checked. When refused, wait is how long until
// one more attempt is allowed (for Retry-After). Call Succeeded when the
// password was right.
func (l *Limiter) Attempt(user, remote string) (ok bool, wait time.Duration) {
	a := AddrKey(remote)
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	uk := user + "\x00" + a
	if wait = max(l.users.wait(uk, now), l.addrs.wait(a, now)); wait > 0 {
		return false, wait
	}
	l.users.fail(uk, now)
	l.addrs.fail(a, now)
	return true, 0
}

// Succeeded says that the attempt of user from remote succeeded: the
// failures of (user, remote) are forgotten, and the address gets back the
// one its attempt cost (not its earlier failures: a valid account must not
// buy an address more guesses against others).
func (l *Limiter) Succeeded(user, remote string) {
	a := AddrKey(remote)
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.users.m, user+"\x00"+a)
	l.addrs.refund(a, now)
}

// Len returns how many (user, address) and address entries are held.
func (l *Limiter) Len() (users, addrs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.users.m), len(l.addrs.m)
}

// AddrKey is the part of remote that keys the address table: the IP
// without its port (IPv4-mapped IPv6 as IPv4), an IPv6 address's /64, or
// remote itself when it is not an IP address.
func AddrKey(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return remote
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// table is one kind of bucket, by key. A bucket stores when it will be
// full again rather than a count, so an idle one needs no update.
type table struct {
	burst int
	every time.Duration
	max   int
	m     map[string]bucket
}

// bucket: the bucket is full (Burst failures allowed) from full on; each
// failure moves full one period later, starting from now at the latest.
type bucket struct{ full time.Time }

// wait returns how long until key may fail once more.
func (t *table) wait(key string, now time.Time) time.Duration {
	b, ok := t.m[key]
	if !ok {
		return 0
	}
	// Failures owed: (full - now) / every. One more is allowed while at
	// most burst-1 are owed, that is from full - (burst-1)×every on.
	from := b.full.Add(-time.Duration(t.burst-1) * t.every)
	if !now.Before(from) {
		return 0
	}
	return from.Sub(now)
}

func (t *table) fail(key string, now time.Time) {
	b, ok := t.m[key]
	if !ok || b.full.Before(now) {
		b.full = now
		if !ok && len(t.m) >= t.max {
			t.shrink(now)
		}
	}
	b.full = b.full.Add(t.every)
	t.m[key] = b
}

// refund takes back one failure of key.
func (t *table) refund(key string, now time.Time) {
	b, ok := t.m[key]
	if !ok {
		return
	}
	if b.full = b.full.Add(-t.every); !b.full.After(now) {
		delete(t.m, key)
		return
	}
	t.m[key] = b
}

// shrink drops refilled entries, then random ones until the table is three
// quarters full.
func (t *table) shrink(now time.Time) {
	for k, b := range t.m {
		if !b.full.After(now) {
			delete(t.m, k)
		}
	}
	for k := range t.m { // map order is random
		if len(t.m) <= t.max*3/4 {
			break
		}
		delete(t.m, k)
	}
}
