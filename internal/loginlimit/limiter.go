package loginlimit

import (
	"sync"
	"time"

	"github.com/buildmaster/buildmaster/internal/addrbucket"
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
	users *addrbucket.Table[struct{}] // key: userKey
	addrs *addrbucket.Table[struct{}] // key: address key
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
		users: addrbucket.New[struct{}](o.UserBurst, o.UserEvery, o.MaxEntries, nil),
		addrs: addrbucket.New[struct{}](o.AddrBurst, o.AddrEvery, o.MaxEntries, nil),
	}
}

// Attempt says whether user may try a password from remote (an address,
// with or without a port) now, and if so counts the try as a failure at
// once, so that attempts racing in parallel cannot exceed the limit while
// their passwords are being checked. When refused, wait is how long until
// one more attempt is allowed (for Retry-After). Call Succeeded when the
// password was right.
func (l *Limiter) Attempt(user, remote string) (ok bool, wait time.Duration) {
	a := addrbucket.Key(remote)
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	uk := userKey(user, a)
	ub, ab := l.users.Get(uk), l.addrs.Get(a)
	if wait = max(l.users.Wait(ub, now), l.addrs.Wait(ab, now)); wait > 0 {
		return false, wait
	}
	l.users.Put(uk, l.users.Spend(ub, now), now)
	l.addrs.Put(a, l.addrs.Spend(ab, now), now)
	return true, 0
}

// Succeeded says that the attempt of user from remote succeeded: the
// failures of (user, remote) are forgotten, and the address gets back the
// one its attempt cost (not its earlier failures: a valid account must not
// buy an address more guesses against others).
func (l *Limiter) Succeeded(user, remote string) {
	a := addrbucket.Key(remote)
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users.Delete(userKey(user, a))
	l.addrs.Put(a, l.addrs.Refund(l.addrs.Get(a)), now)
}

// maxUser is how much of a user name keys its (user, address) entry: the
// stranger chooses the name (a web login's form takes 10 MB), not what an
// entry costs. No valid name is longer (a worker's is at most 50 bytes,
// and the web login refuses more than 200); longer ones share the entry
// of their first maxUser bytes, which only slows their guesses.
const maxUser = 256

// userKey keys the (user, address key) entry; it copies what it keeps of
// user.
func userKey(user, addrKey string) string {
	return user[:min(len(user), maxUser)] + "\x00" + addrKey
}

// Len returns how many (user, address) and address entries are held.
func (l *Limiter) Len() (users, addrs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.users.Len(), l.addrs.Len()
}
