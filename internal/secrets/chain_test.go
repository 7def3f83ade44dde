package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counting counts the Gets that reach a real provider.
type counting struct {
	Provider
	n atomic.Int32
}

func (c *counting) Get(ctx context.Context, name string) (string, error) {
	c.n.Add(1)
	return c.Provider.Get(ctx, name)
}

// failing is an injected fault: a provider that cannot answer.
type failing struct{}

func (failing) Get(context.Context, string) (string, error) {
	return "", errors.New("vault is sealed")
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestChainOrder(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	writeSecret(t, first, "both", "from-first", 0o600)
	writeSecret(t, second, "both", "from-second", 0o600)
	writeSecret(t, second, "only2", "second-only", 0o600)
	d1, _ := NewDir(DirOptions{Path: first})
	d2, _ := NewDir(DirOptions{Path: second})
	c := NewChain([]Provider{d1, d2}, ChainOptions{})
	for name, want := range map[string]string{"both": "from-first", "only2": "second-only"} {
		if got, err := c.Get(context.Background(), name); got != want || err != nil {
			t.Errorf("Get(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	_, err := c.Get(context.Background(), "none")
	if want := fmt.Sprintf(`secret "none" not found in dir %s, dir %s`, first, second); err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(none) = %v, want %q", err, want)
	}
	_, err = c.Get(context.Background(), "ci/deploy")
	if want := fmt.Sprintf(`secret "ci/deploy" not found in dir %s (name contains a path separator), dir %s (name contains a path separator)`, first, second); err == nil || err.Error() != want {
		t.Errorf("Get(ci/deploy) = %v, want %q", err, want)
	}

	// A provider that fails stops the chain: a later one never answers
	// for it.
	c = NewChain([]Provider{failing{}, d2}, ChainOptions{})
	if got, err := c.Get(context.Background(), "only2"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("after a failing provider: Get = %q, %v; want its error", got, err)
	}
}

func TestChainCache(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "pw", "old-value", 0o600)
	d, _ := NewDir(DirOptions{Path: dir})
	cp := &counting{Provider: d}
	clk := &clock{t: time.Unix(1e9, 0)}
	c := NewChain([]Provider{cp}, ChainOptions{TTL: time.Minute, Now: clk.now})
	get := func(want string, calls int32) {
		t.Helper()
		if got, err := c.Get(context.Background(), "pw"); got != want || err != nil {
			t.Errorf("Get = %q, %v; want %q", got, err, want)
		}
		if n := cp.n.Load(); n != calls {
			t.Errorf("provider asked %d times, want %d", n, calls)
		}
	}
	get("old-value", 1)
	writeSecret(t, dir, "pw", "new-value", 0o600)
	clk.t = clk.t.Add(59 * time.Second)
	get("old-value", 1) // cached
	clk.t = clk.t.Add(time.Second)
	get("new-value", 2) // expired

	// Absence is not cached.
	if _, err := c.Get(context.Background(), "later"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	writeSecret(t, dir, "later", "now-here", 0o600)
	if got, err := c.Get(context.Background(), "later"); got != "now-here" || err != nil {
		t.Errorf("after the file appeared: Get = %q, %v", got, err)
	}

	// TTL < 0: no cache.
	cp.n.Store(0)
	nc := NewChain([]Provider{cp}, ChainOptions{TTL: -1})
	for range 3 {
		nc.Get(context.Background(), "pw")
	}
	if n := cp.n.Load(); n != 3 {
		t.Errorf("without a cache: provider asked %d times, want 3", n)
	}
}

func TestChainCacheBound(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		writeSecret(t, dir, n, "value-"+n, 0o600)
	}
	d, _ := NewDir(DirOptions{Path: dir})
	cp := &counting{Provider: d}
	clk := &clock{t: time.Unix(1e9, 0)}
	c := NewChain([]Provider{cp}, ChainOptions{TTL: time.Minute, MaxEntries: 2, Now: clk.now})
	for _, n := range []string{"a", "b", "c"} { // a expires soonest: evicted for c
		c.Get(context.Background(), n)
		clk.t = clk.t.Add(time.Second)
	}
	if len(c.cache) != 2 {
		t.Errorf("cache holds %d entries, want 2", len(c.cache))
	}
	for _, n := range []string{"b", "c", "a"} {
		c.Get(context.Background(), n)
	}
	if n := cp.n.Load(); n != 4 {
		t.Errorf("provider asked %d times, want 4 (a again)", n)
	}
}

// blocking is an injected fault: a provider that answers when released.
type blocking struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blocking) Get(context.Context, string) (string, error) {
	b.entered <- struct{}{}
	<-b.release
	return "slow-value", nil
}

// TestChainCancel: a caller that gives up gets its context's error; the
// lookup goes on and serves the next caller.
func TestChainCancel(t *testing.T) {
	b := &blocking{entered: make(chan struct{}, 1), release: make(chan struct{})}
	c := NewChain([]Provider{b}, ChainOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "pw")
		errc <- err
	}()
	<-b.entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Get = %v, want context.Canceled", err)
	}
	close(b.release)
	if got, err := c.Get(context.Background(), "pw"); got != "slow-value" || err != nil {
		t.Errorf("Get = %q, %v", got, err)
	}
}

// TestNoValueWhenPrinted: Chain and Values print names and providers,
// never values, through fmt and slog.
func TestNoValueWhenPrinted(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "pw", "hunter2-value", 0o600)
	d, _ := NewDir(DirOptions{Path: dir})
	c := NewChain([]Provider{d, &Env{Prefix: "X_"}}, ChainOptions{})
	_, vals, err := Render(context.Background(), c, "login %(secret:pw)s", RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("rendered", "secrets", vals, "chain", c, "ptr", &vals)
	}
	printed := fmt.Sprintf("%v %+v %#v %d %x %q %s %v %+v %#v", vals, vals, vals, vals, vals, vals, c, c, &vals, c) + logs.String()
	if strings.Contains(printed, "hunter2") {
		t.Errorf("printed a value: %s", printed)
	}
	if !strings.Contains(printed, "secrets[pw]") || !strings.Contains(printed, "dir "+dir+", env X_*") {
		t.Errorf("printed %s: names or providers missing", printed)
	}
}

// TestChainRefusesShortValues: a value shorter than MinSecretLen (white
// space around it not counted; an empty one too) is refused with an error
// naming the secret and its provider, never the value, and a later
// provider does not answer for it; a value of MinSecretLen bytes is given.
// Rendered into a step, the refusal says which step.
func TestChainRefusesShortValues(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	writeSecret(t, first, "pin", "4711\n", 0o600)
	writeSecret(t, first, "blank", "  \n", 0o600)
	writeSecret(t, first, "six", "123456", 0o600)
	writeSecret(t, second, "pin", "a-long-enough-pin", 0o600)
	d1, _ := NewDir(DirOptions{Path: first})
	d2, _ := NewDir(DirOptions{Path: second})
	c := NewChain([]Provider{d1, d2}, ChainOptions{})
	for name, n := range map[string]int{"pin": 4, "blank": 0} {
		v, err := c.Get(context.Background(), name)
		want := fmt.Sprintf(`secret %q in dir %s holds %d bytes: too short to be kept out of logs and output; a secret needs at least 6`, name, first, n)
		if _, ok := errors.AsType[*TooShortError](err); !ok || v != "" || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Get(%s) = %q, %v; want %q", name, v, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "4711") {
			t.Errorf("the error shows the value: %v", err)
		}
	}
	if v, err := c.Get(context.Background(), "six"); v != "123456" || err != nil {
		t.Errorf("Get(six) = %q, %v", v, err)
	}
	_, _, err := Render(context.Background(), c, "login %(secret:pin)s", RenderOptions{Where: `step "s" of builder "b"`})
	if want := `secret "pin" (step "s" of builder "b") in dir ` + first + ` holds 4 bytes`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Render = %v, want %q", err, want)
	}
}

// perName counts the Gets that reach it, by name.
type perName struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *perName) Get(_ context.Context, name string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n[name]++
	return "value-of-" + name, nil
}

// TestChainOneLookupPerName: callers of one name that miss the cache at
// once make one provider call between them, also when a caller's miss comes
// just before another's lookup stores the value and ends (the second
// lookup finds it stored).
func TestChainOneLookupPerName(t *testing.T) {
	p := &perName{n: map[string]int{}}
	c := NewChain([]Provider{p}, ChainOptions{TTL: time.Hour})
	const names, callers = 2000, 4
	for i := range names {
		name := fmt.Sprint("pw", i)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				<-start
				if v, err := c.Get(context.Background(), name); v != "value-of-"+name || err != nil {
					t.Errorf("Get(%s) = %q, %v", name, v, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	dup := 0
	for name, n := range p.n {
		if n != 1 {
			dup++
			t.Logf("%s: %d provider calls", name, n)
		}
	}
	if dup > 0 {
		t.Errorf("%d of %d names asked of the provider more than once", dup, names)
	}
}
