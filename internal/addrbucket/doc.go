// Package addrbucket keeps a token bucket for each source of requests from
// the network (Key: its address without the port, an IPv6 address's /64),
// bounded in memory because strangers choose their addresses (Table). It
// is pure (the caller's clock and lock) and shared by loginlimit and
// droplog.
package addrbucket
