// Package loginlimit slows down password guessing: it counts failed logins
// per (user, address) and per address, and refuses further attempts once
// either has failed too often, until time has paid the failures back. It is
// pure (no actors, no I/O, an injected clock) and shared by the web login
// and the worker protocols.
//
// # Use
//
//	l := loginlimit.New(loginlimit.Options{})
//	if ok, wait := l.Attempt(user, remote); !ok { … 429, Retry-After: wait }
//	if verify(user, password) { l.Succeeded(user, remote) }
//
// An attempt counts as a failure from the moment it is allowed, so that a
// thousand parallel attempts cannot all pass while the first passwords are
// still being hashed. For a worker protocol, the wire.Authenticator's
// Password calls Attempt (refusing with wire.ErrRateLimited) and its
// LoginResult calls Succeeded when ok; credentials too malformed to name a
// user (LoginResult with name "") can be counted with Attempt("", remote).
//
// Each key is a token bucket of failures: a burst of failures at once, then
// one more each period (Options). The (user, address) bucket stops guessing
// one account from one place; the address bucket (with a larger burst)
// stops one place from trying many accounts. A success empties the (user,
// address) count and gives the address back that one attempt only, so that
// a valid account does not buy an address more guesses against others. Addresses are keyed without their port, and IPv6
// addresses by their /64 network, which is what one host can freely
// choose from (addrbucket.Key).
//
// # Memory
//
// Only failures make entries, and an entry whose bucket has refilled is
// worth nothing and is swept. Both tables (addrbucket.Table) are bounded
// (MaxEntries each):
// when one is full, refilled entries go first, then random ones until it
// is three quarters full; a stranger cannot choose which. A stranger who
// fails once against a new user name costs about 120 bytes (one entry in
// each table; TestMemoryPerStranger measures it): 10,000 strangers cost
// about 1.2 MB, and full tables (DefaultMaxEntries) about 12 MB. An entry
// keeps at most 256 bytes of a user name, however long the name sent.
package loginlimit
