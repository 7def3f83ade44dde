package pb

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestWrongLoginsDoNotFloodTheLog: a stranger's 1,000 wrong logins (the
// md5 challenge answered with a wrong password, three a connection) over
// real sockets log the source's burst, then one line that counts the rest
// once its budget has refilled.
func TestWrongLoginsDoNotFloodTheLog(t *testing.T) {
	logs := &logBuffer{}
	var now atomic.Int64 // the refusal log's clock, in seconds
	now.Store(1e9)
	ts := startServer(t, Config{Log: logs.logger(),
		Refusals: droplog.New(logs.logger(), droplog.Options{Now: func() time.Time { return time.Unix(now.Load(), 0) }})})
	login := func(w *goWorker) {
		if _, err := w.login("w1", "wrong-secret"); !errors.Is(err, ErrUnauthorizedLogin) {
			t.Fatalf("login: %v, want UnauthorizedLogin", err)
		}
	}
	for i := 0; i < 1000; {
		w := dialGo(t, ts.addr)
		for j := 0; j < maxLoginAttempts && i < 1000; j++ {
			login(w)
			i++
		}
		w.b.close(errors.New("next connection"))
		<-w.b.done
	}
	// Once the server has seen every connection end, the next line is
	// the login's.
	testkit.Eventually(t, "the server saw the connections end", func() bool {
		ts.Server.mu.Lock()
		defer ts.Server.mu.Unlock()
		return len(ts.Server.conns) == 0
	})
	// The lines of the connections' ends share the budget.
	if n := strings.Count(logs.String(), "\n"); n != droplog.DefaultSourceBurst {
		t.Fatalf("1000 wrong logins logged %d lines, want the source's burst %d:\n%s", n, droplog.DefaultSourceBurst, logs)
	}
	now.Add(int64(droplog.DefaultSourceEvery / time.Second))
	login(dialGo(t, ts.addr))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"worker login refused", "worker=w1", `reason="wrong password"`, "peer=127.0.0.1:"} {
		if !strings.Contains(last, want) {
			t.Errorf("line after the budget refilled = %q, want %q in it", last, want)
		}
	}
	// 1,000 logins and the ends of 334 connections, less the 10 logged.
	m := regexp.MustCompile(`not_logged_before=(\d+)`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("line after the budget refilled = %q, want a not_logged_before count", last)
	}
	if n, _ := strconv.Atoi(m[1]); n != 1000+334-10 {
		t.Errorf("line after the budget refilled = %q, want not_logged_before=%d", last, 1000+334-10)
	}
	if strings.Contains(logs.String(), "wrong-secret") {
		t.Error("the password is in the log")
	}
}

// TestIgnoredMessagesDoNotFloodTheLog: a logged-in worker's 1,000
// didNotUnderstand messages log the source's burst.
func TestIgnoredMessagesDoNotFloodTheLog(t *testing.T) {
	logs := &logBuffer{}
	_, w, _, persp := loggedIn(t, Config{Log: logs.logger()})
	for range 1000 {
		if err := w.b.write(func(buf []byte, vocab bool) ([]byte, error) {
			return AppendExpr(buf, []any{"didNotUnderstand", "frob"}, vocab)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Messages are handled in order: once this call is answered, the
	// others have been read.
	if _, err := w.b.callRemote(context.Background(), persp, "keepalive", nil, nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "did not understand"); n != droplog.DefaultSourceBurst {
		t.Fatalf("1000 ignored messages logged %d lines, want the source's burst %d:\n%s", n, droplog.DefaultSourceBurst, logs)
	}
	if !strings.Contains(logs.String(), "worker=w1") {
		t.Errorf("the lines do not name the worker:\n%s", logs)
	}
}
