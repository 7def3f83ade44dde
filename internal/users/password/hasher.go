package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id's parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's first argon2id recommendation (m=19 MiB, t=2,
// p=1): 43 ms of CPU per hash on the development machine (BenchmarkVerify;
// bcrypt at cost 10 took 73 ms there).
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// MaxLength is the longest password accepted, in bytes.
const MaxLength = 1024

// Bounds on parameters read from a stored hash, so that a damaged or
// hostile hash costs one login at most 1 GiB and some seconds.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 16
	maxBcrypt  = 16 // bcrypt cost: about 5 s of one core; 31 would take days
	minSalt    = 8
	maxSalt    = 64
	minKey     = 16
	maxKey     = 64
	bcryptMax  = 72 // bcrypt ignores what follows: longer passwords never match
	argon2Name = "argon2id"
)

// ErrMalformed is wrapped by the errors of hashes Verify cannot read.
var ErrMalformed = errors.New("malformed password hash")

// Hasher hashes and verifies passwords. It is safe for concurrent use.
type Hasher struct {
	p     Params
	slots chan struct{}
	dummy string // a hash under p that no password matches, verified for missing users
}

// NewHasher returns a Hasher with parameters p (zero fields take
// DefaultParams' values) running at most maxConcurrent hashes at once
// (0 means defaultConcurrency()).
func NewHasher(p Params, maxConcurrent int) (*Hasher, error) {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("password parameters: %w", err)
	}
	if maxConcurrent <= 0 {
		maxConcurrent = defaultConcurrency()
	}
	// The dummy is a well-formed hash under p of no password at all: a
	// random key, which no password's argon2id matches. Verifying against
	// it costs what verifying a real hash under p does, and making it
	// costs no argon2id run (43 ms of CPU and p.Memory of fresh pages at
	// every master start).
	salt, key := make([]byte, p.SaltLen), make([]byte, p.KeyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &Hasher{p: p, slots: make(chan struct{}, maxConcurrent), dummy: p.encode(salt, key)}, nil
}

func (p Params) check() error {
	switch {
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB is outside [8×threads, %d]", p.Memory, maxMemory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d is outside [1, %d]", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.SaltLen < minSalt || p.SaltLen > maxSalt:
		return fmt.Errorf("salt length %d is outside [%d, %d]", p.SaltLen, minSalt, maxSalt)
	case p.KeyLen < minKey || p.KeyLen > maxKey:
		return fmt.Errorf("key length %d is outside [%d, %d]", p.KeyLen, minKey, maxKey)
	}
	return nil
}

// Params returns the Hasher's parameters.
func (h *Hasher) Params() Params { return h.p }

// Hash returns the PHC string of password under a new random salt. It
// waits for a free slot, or ctx.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxLength {
		return "", fmt.Errorf("password longer than %d bytes", MaxLength)
	}
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen)
	<-h.slots
	return h.p.encode(salt, key), nil
}

// encode is the PHC string of an argon2id key under p and salt.
func (p Params) encode(salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2Name, argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify says whether password matches encoded, an argon2id PHC string or a
// bcrypt hash. An empty encoded stands for a user that does not exist: the
// answer is false after the same work as a wrong password. The error is
// set when encoded cannot be read (ErrMalformed, never quoting it) or ctx
// ended while waiting for a slot.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	if encoded == "" {
		_, err := h.verify(ctx, h.dummy, password)
		return false, err
	}
	return h.verify(ctx, encoded, password)
}

func (h *Hasher) verify(ctx context.Context, encoded, password string) (bool, error) {
	if isBcrypt(encoded) {
		if err := checkBcrypt(encoded); err != nil {
			return false, err
		}
		if len(password) > bcryptMax {
			return false, nil
		}
		if err := h.acquire(ctx); err != nil {
			return false, err
		}
		defer func() { <-h.slots }()
		return bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password)) == nil, nil
	}
	p, salt, key, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > MaxLength {
		return false, nil
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	<-h.slots
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash is true when encoded is not argon2id with at least the
// Hasher's memory, time and key length (or cannot be read): the caller
// should store a new Hash of the password it has just verified.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, key, err := parsePHC(encoded)
	return err != nil || p.Memory < h.p.Memory || p.Time < h.p.Time || uint32(len(key)) < h.p.KeyLen
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to hash a password: %w", ctx.Err())
	}
}

// checkBcrypt refuses a bcrypt hash that cannot be read or would cost
// more than maxBcrypt.
func checkBcrypt(s string) error {
	cost, err := bcrypt.Cost([]byte(s))
	switch {
	case err != nil:
		return fmt.Errorf("%w: bcrypt: %v", ErrMalformed, err)
	case cost > maxBcrypt:
		return fmt.Errorf("%w: bcrypt cost %d is above %d", ErrMalformed, cost, maxBcrypt)
	}
	return nil
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// parsePHC reads $argon2id$v=19$m=M,t=T,p=P$salt$key.
func parsePHC(s string) (p Params, salt, key []byte, err error) {
	bad := func(what string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("not a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$key)")
	}
	if f[1] != argon2Name {
		return bad(fmt.Sprintf("scheme %q is not argon2id or bcrypt", shorten(f[1])))
	}
	if f[2] != "v=19" {
		return bad("argon2 version is not 19")
	}
	var seen [3]bool
	for _, kv := range strings.Split(f[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad(fmt.Sprintf("parameter %q is not a number", shorten(k)))
		}
		switch k {
		case "m":
			p.Memory, seen[0] = uint32(n), true
		case "t":
			p.Time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return bad("p is larger than 255")
			}
			p.Threads, seen[2] = uint8(n), true
		default:
			return bad(fmt.Sprintf("unknown parameter %q", shorten(k)))
		}
	}
	if seen != [3]bool{true, true, true} {
		return bad("m, t and p are all required")
	}
	b64 := base64.RawStdEncoding.Strict()
	if salt, err = b64.DecodeString(f[4]); err != nil {
		return bad("salt is not unpadded base64")
	}
	if key, err = b64.DecodeString(f[5]); err != nil {
		return bad("key is not unpadded base64")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.check(); err != nil {
		return bad(err.Error())
	}
	return p, salt, key, nil
}

func shorten(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// defaultConcurrency is how many hashes a Hasher made with maxConcurrent 0
// runs at once: min(runtime.NumCPU(), 4), at most 76 MiB of argon2 memory
// at once with DefaultParams (~90 hashes a second) on a host of any size
// (runtime.NumCPU does not follow a container's CPU limit). Not
// GOMAXPROCS: the master lowers it to 1 while it is idle
// (internal/procpolicy), which would bound a Hasher made then to one hash
// at a time for its whole life.
func defaultConcurrency() int { return concurrencyOn(runtime.NumCPU()) }

// concurrencyOn is defaultConcurrency on a host of cpus CPUs.
func concurrencyOn(cpus int) int { return min(cpus, 4) }
