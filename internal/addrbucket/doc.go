// Package addrbucket keeps a token bucket for each source of requests from
// the network, bounded in memory because strangers choose their addresses.
// It is pure (no I/O, the caller's clock and lock) and shared by the login
// limiter (loginlimit) and the refusal log (droplog).
//
// A source is its address without the port, an IPv6 address's /64 (Key),
// or a key a caller makes from one (loginlimit's user and address).
//
// # Memory
//
// A Table holds at most its bound of keys. When a new key finds it full,
// it forgets the keys whose buckets have refilled, then random ones until
// it is three quarters full (a stranger cannot choose which), and tells
// its owner the payloads it forgot. A key with a full bucket and a zero
// payload is worth nothing and is not kept.
package addrbucket
