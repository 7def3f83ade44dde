package remoting

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/time/rate"
)

func TestDropLinesAreRateLimitedAndCounted(t *testing.T) {
	var b bytes.Buffer
	p := &Policy{Log: slog.New(slog.NewTextHandler(&b, nil)),
		logs: rate.NewLimiter(0, 3), suppressed: &atomic.Int64{}}
	for range 10 {
		p.logDrop("127.0.0.1:1", "master/botmaster", "buildmaster.v1.InjectFailure", "not accepted")
	}
	if n := strings.Count(b.String(), "dropped a message"); n != 3 {
		t.Fatalf("%d lines logged for 10 drops with a burst of 3:\n%s", n, b.String())
	}
	if p.suppressed.Load() != 7 {
		t.Fatalf("suppressed = %d, want 7", p.suppressed.Load())
	}
	p.logs.SetLimit(rate.Inf)
	p.logDrop("127.0.0.1:1", "master", "x", "y")
	if !strings.Contains(b.String(), "not_logged_before=7") {
		t.Fatalf("the next line does not count the suppressed ones:\n%s", b.String())
	}
}
