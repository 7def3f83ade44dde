package loginlimit

import (
	"fmt"
	"testing"
)

// BenchmarkLogin is what every login pays: an attempt from an address
// that is known (it logged in before) and its success.
func BenchmarkLogin(b *testing.B) {
	l := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := l.Attempt("worker1", "192.0.2.1:40000"); !ok {
			b.Fatal("refused")
		}
		l.Succeeded("worker1", "192.0.2.1:40000")
	}
}

// BenchmarkRefused is a guesser from one address, refused.
func BenchmarkRefused(b *testing.B) {
	l := New(Options{})
	for range DefaultAddrBurst {
		l.Attempt("alice", "192.0.2.1:40000")
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := l.Attempt("alice", "192.0.2.1:40000"); ok {
			b.Fatal("allowed")
		}
	}
}

// BenchmarkStrangers is a flood of failed logins from new addresses and
// users, once the tables are full.
func BenchmarkStrangers(b *testing.B) {
	l := New(Options{MaxEntries: 4096})
	keys := make([]string, 1<<14)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d:1", i>>16, (i>>8)&255, i&255)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Attempt("u", keys[i%len(keys)])
		i++
	}
}
