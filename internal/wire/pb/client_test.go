package pb

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// goWorker is a PB worker written in Go, for the tests that send what
// buildbot-worker never sends and for the benchmark. It speaks the same
// wire protocol through the package's broker, as the worker's side.
type goWorker struct {
	t   testing.TB
	nc  net.Conn
	b   *broker
	bot *goBot
}

// dialGo connects and negotiates the dialect as a Twisted client does.
func dialGo(t testing.TB, addr string) *goWorker {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := newBroker(nc, testLogger(t), 0)
	offer, err := b.dec.Decode()
	if err != nil {
		t.Fatalf("reading the dialect offer: %v", err)
	}
	if got := string(appendSexp(nil, offer, 1000, 0)); got != `["pb" "none"]` {
		t.Fatalf("dialect offer %s", got)
	}
	if err := b.write(func(buf []byte, _ bool) ([]byte, error) { return AppendExpr(buf, "pb", false) }); err != nil {
		t.Fatal(err)
	}
	b.vocab, b.dec.Vocab = true, true
	if err := b.write(func(buf []byte, vocab bool) ([]byte, error) {
		return AppendExpr(buf, []any{"version", protocolVersion}, vocab)
	}); err != nil {
		t.Fatal(err)
	}
	w := &goWorker{t: t, nc: nc, b: b, bot: &goBot{builders: map[string]int64{}}}
	w.bot.w = w
	go b.serve()
	t.Cleanup(func() {
		b.close(fmt.Errorf("test over"))
		<-b.done
	})
	return w
}

// login logs in; it returns the perspective or the server's failure.
func (w *goWorker) login(name, password string) (RemoteRef, error) {
	ctx := context.Background()
	v, err := w.b.callRemote(ctx, "root", "login", Tuple{[]byte(name)}, nil)
	if err != nil {
		return 0, err
	}
	pair := v.(Tuple)
	challenge, challenger := pair[0].([]byte), pair[1].(RemoteRef)
	luid, err := w.b.register(w.bot)
	if err != nil {
		return 0, err
	}
	v, err = w.b.callRemote(ctx, challenger, "respond", Tuple{respond(challenge, password), w.b.export(luid)}, nil)
	w.b.sendDecref(challenger)
	if err != nil {
		return 0, err
	}
	return v.(RemoteRef), nil
}

// goBot is the worker's bot: what the master calls on the mind.
type goBot struct {
	w      *goWorker
	noInfo bool // answer getWorkerInfo with NoSuchMethod, as a buildslave
	// closeOnShutdown drops the connection on shutdown, not answering.
	closeOnShutdown bool
	// start runs a command; by default it reports rc 0 and completes,
	// before startCommand is answered, as a fast command on a real
	// worker does.
	start func(cmd RemoteRef, id, name string, args map[string]any)

	mu       sync.Mutex
	builders map[string]int64 // name → luid
	printed  []string
}

func (bot *goBot) remote(c *call) (any, error) {
	switch c.method {
	case "print":
		msg, _ := c.arg(0, "message")
		bot.mu.Lock()
		bot.printed = append(bot.printed, text(msg))
		bot.mu.Unlock()
		return nil, nil
	case "getWorkerInfo":
		if bot.noInfo {
			return nil, noSuchMethod(c.method)
		}
		return map[string]any{"admin": "go", "numcpus": 2, "version": "go-test"}, nil
	case "getCommands":
		return map[string]any{"shell": "3.1"}, nil
	case "getVersion":
		return "0.8.x", nil
	case "setBuilderList":
		v, _ := c.arg(0, "wanted")
		answer := map[string]any{}
		for _, e := range asList(v) {
			name := text(asList(e)[0])
			bot.mu.Lock()
			luid, ok := bot.builders[name]
			bot.mu.Unlock()
			if !ok {
				var err error
				if luid, err = bot.w.b.register(&goBuilder{bot: bot}); err != nil {
					return nil, err
				}
				bot.mu.Lock()
				bot.builders[name] = luid
				bot.mu.Unlock()
			}
			answer[name] = bot.w.b.export(luid)
		}
		return answer, nil
	case "shutdown":
		if bot.closeOnShutdown {
			bot.w.b.close(fmt.Errorf("shut down"))
			return nil, errAsync
		}
		return nil, nil
	}
	return nil, noSuchMethod(c.method)
}

type goBuilder struct{ bot *goBot }

func (gb *goBuilder) remote(c *call) (any, error) {
	switch c.method {
	case "startCommand":
		cmd, _ := c.args[0].(RemoteRef)
		id, _ := c.args[1].(string)
		name, _ := c.args[2].(string)
		args, _ := c.args[3].(map[string]any)
		if gb.bot.start != nil {
			gb.bot.start(cmd, id, name, args)
			return nil, nil
		}
		b := gb.bot.w.b
		_, _ = b.send(cmd, "update", Tuple{[]any{[]any{map[string]any{"rc": 0}, 0}}}, nil, func(result) {})
		_, _ = b.send(cmd, "complete", Tuple{nil}, nil, func(result) {})
		return nil, nil
	case "interruptCommand":
		return nil, nil
	}
	return nil, noSuchMethod(c.method)
}

// logBuffer collects a Server's log.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at each write
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return l.buf.Write(p)
}

// waitFor waits until the log holds n lines containing s.
func (l *logBuffer) waitFor(t testing.TB, s string, n int) {
	t.Helper()
	deadline := time.After(wait)
	for {
		l.mu.Lock()
		if strings.Count(l.buf.String(), s) >= n {
			l.mu.Unlock()
			return
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the log never said %q %d times:\n%s", s, n, l)
		}
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
