package password

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cpuTime is the process's user+system CPU time: on a shared machine it
// measures a hash's cost better than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVerify measures one verification (what a login costs) at the
// default argon2id parameters, at RFC 9106's second recommendation, and
// with bcrypt for comparison. cpu-ms/op is the cost on a free core.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, p := range []Params{DefaultParams(), {Memory: 64 * 1024, Time: 3, Threads: 4}} {
		h, err := NewHasher(p, 1)
		if err != nil {
			b.Fatal(err)
		}
		enc, _ := h.Hash(ctx, "correct horse")
		b.Run(fmt.Sprintf("argon2id/m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads), func(b *testing.B) {
			measure(b, func() { h.Verify(ctx, enc, "correct horse") })
		})
	}
	for _, cost := range []int{10, 12} {
		enc, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), cost)
		b.Run(fmt.Sprintf("bcrypt/cost=%d", cost), func(b *testing.B) {
			measure(b, func() { bcrypt.CompareHashAndPassword(enc, []byte("correct horse")) })
		})
	}
}

func measure(b *testing.B, f func()) {
	start := cpuTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
