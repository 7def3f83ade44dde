package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Chain defaults.
const (
	DefaultTTL        = 30 * time.Second
	DefaultMaxEntries = 1024
)

// ChainOptions configures a Chain.
type ChainOptions struct {
	// TTL is how long a value found is reused without asking again; 0
	// means DefaultTTL, a negative TTL turns the cache off. Errors and
	// absent secrets are never cached, so a fix is seen at once.
	TTL time.Duration
	// MaxEntries bounds the cache; 0 means DefaultMaxEntries. When it is
	// full, expired entries go first, then the one that expires soonest.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Chain asks its providers in order and returns the first value found, as
// Buildbot's SecretManager does, unless it is too short to redact
// (MinSecretLen): then the error is a *TooShortError, and the Chain does
// not look further. A provider that has no such secret
// (ErrNotFound) passes to the next; any other error stops the Chain, so that
// an unreachable Vault never lets a later provider answer with another value
// for the same name. Concurrent Gets of one name make one lookup.
//
// Printing a Chain (fmt, slog) shows its providers, never a cached value.
type Chain struct {
	providers []Provider
	o         ChainOptions
	group     singleflight.Group

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	value   string
	expires time.Time
}

// NewChain returns a Chain of providers, asked in this order.
func NewChain(providers []Provider, o ChainOptions) *Chain {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Chain{providers: providers, o: o, cache: map[string]entry{}}
}

// String lists the providers.
func (c *Chain) String() string {
	names := make([]string, len(c.providers))
	for i, p := range c.providers {
		names[i] = describe(p)
	}
	return strings.Join(names, ", ")
}

// GoString lists the providers, for %#v.
func (c *Chain) GoString() string { return "secrets.Chain{" + c.String() + "}" }

// LogValue lists the providers.
func (c *Chain) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Get returns name's value from the cache or the first provider that has it.
// When none has it, the error is a *NotFoundError naming them all.
func (c *Chain) Get(ctx context.Context, name string) (string, error) {
	if v, ok := c.cached(name); ok {
		return v, nil
	}
	// The lookup is shared by concurrent callers: it must not end when the
	// first caller gives up. Providers bound their own time (Vault's timeout).
	ch := c.group.DoChan(name, func() (any, error) {
		// A lookup that stored name and ended between this caller's miss
		// and DoChan has left the value to find here.
		if v, ok := c.cached(name); ok {
			return v, nil
		}
		v, err := c.lookup(context.WithoutCancel(ctx), name)
		if err == nil {
			c.store(name, v)
		}
		return v, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("secret %q: %w", name, ctx.Err())
	}
}

func (c *Chain) lookup(ctx context.Context, name string) (string, error) {
	asked := make([]string, 0, len(c.providers))
	for _, p := range c.providers {
		v, err := p.Get(ctx, name)
		if err == nil {
			return v, checkLen(name, v, describe(p))
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
		where := describe(p)
		if nf, ok := errors.AsType[*NotFoundError](err); ok && nf.Reason != "" {
			where += " (" + nf.Reason + ")"
		}
		asked = append(asked, where)
	}
	return "", &NotFoundError{Name: name, Where: strings.Join(asked, ", ")}
}

func (c *Chain) cached(name string) (string, bool) {
	if c.o.TTL < 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[name]
	if !ok || !c.o.Now().Before(e.expires) {
		return "", false
	}
	return e.value, true
}

func (c *Chain) store(name, value string) {
	if c.o.TTL < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.o.Now()
	if _, ok := c.cache[name]; !ok && len(c.cache) >= c.o.MaxEntries {
		var soonest string
		for n, e := range c.cache {
			if !now.Before(e.expires) {
				delete(c.cache, n)
			} else if soonest == "" || e.expires.Before(c.cache[soonest].expires) {
				soonest = n
			}
		}
		if len(c.cache) >= c.o.MaxEntries {
			delete(c.cache, soonest)
		}
	}
	c.cache[name] = entry{value: value, expires: now.Add(c.o.TTL)}
}
