package secrets

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchOutput is build output without secrets: compiler-ish lines.
func benchOutput(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("go build ./... compiling package github.com/buildmaster internal secrets ok PASS FAIL --- RUN TestSomething 0.013s warning: unused variable error: cannot find module")
	var b strings.Builder
	for b.Len() < size {
		n := 4 + rng.IntN(12)
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[rng.IntN(len(words))])
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()[:size])
}

// benchSecrets returns n random 24-character tokens.
func benchSecrets(n int) map[string]string {
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	m := map[string]string{}
	for i := range n {
		b := make([]byte, 24)
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		m[fmt.Sprintf("secret%d", i)] = string(b)
	}
	return m
}

// BenchmarkWriter measures a Writer on build output written in 4 KiB
// pieces (a worker's update size), with 0, 1 and 20 secrets in use, with no
// secret in the text and with one every 64 KiB.
func BenchmarkWriter(b *testing.B) {
	const size, piece = 4 << 20, 4 << 10
	for _, n := range []int{0, 1, 20} {
		for _, hits := range []bool{false, true} {
			secrets := benchSecrets(n)
			out := benchOutput(size)
			if hits && n > 0 {
				for off := 1000; off+24 < size; off += 64 << 10 {
					copy(out[off:], secrets[fmt.Sprintf("secret%d", off%n)])
				}
			}
			r := NewRedactor(secrets)
			b.Run(fmt.Sprintf("secrets=%d/hits=%v", n, hits), func(b *testing.B) {
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					w := r.NewWriter(io.Discard)
					for off := 0; off < size; off += piece {
						w.Write(out[off : off+piece])
					}
					w.Flush()
				}
			})
		}
	}
}

// BenchmarkRedact measures the string form on a 200-byte log line.
func BenchmarkRedact(b *testing.B) {
	line := string(benchOutput(200))
	for _, n := range []int{0, 1, 20} {
		r := NewRedactor(benchSecrets(n))
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Redact(line)
			}
		})
	}
}

// BenchmarkNewRedactor measures building a Redactor for 20 values, as
// done once per build.
func BenchmarkNewRedactor(b *testing.B) {
	secrets := benchSecrets(20)
	b.ReportAllocs()
	for b.Loop() {
		NewRedactor(secrets)
	}
}

// BenchmarkLogHandler: a record through a logger with bound attributes, as
// a build's runner logs each build, with and without values to redact.
func BenchmarkLogHandler(b *testing.B) {
	for _, values := range []map[string]string{nil, {"a": "s3cret-value-1", "b": "another-secret"}} {
		b.Run(fmt.Sprintf("values=%d", len(values)), func(b *testing.B) {
			h := NewLogHandler(slog.NewJSONHandler(io.Discard, nil))
			if values != nil {
				h.SetRedactor(NewRedactor(values))
			}
			log := slog.New(h).With("builder", "runtests")
			b.ReportAllocs()
			for b.Loop() {
				log.Info("build finished", "buildid", 42, "worker", "linux-1", "results", "build successful")
			}
		})
	}
}
