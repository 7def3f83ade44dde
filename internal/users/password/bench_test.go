package password

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

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
	start := testkit.CPUTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(testkit.CPUTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
