package password

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// cheap are parameters that keep tests fast; the format is the same.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func newHasher(t testing.TB, p Params) *Hasher {
	t.Helper()
	h, err := NewHasher(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") || len(strings.Split(enc, "$")) != 6 {
		t.Errorf("Hash = %q, not the PHC form", enc)
	}
	again, _ := h.Hash(ctx, "correct horse")
	if again == enc {
		t.Error("two hashes of one password are equal: no salt")
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	for _, tc := range []struct {
		enc, pw string
		want    bool
	}{
		{enc, "correct horse", true},
		{enc, "correct horsf", false},
		{enc, "", false},
		{string(bc), "correct horse", true},
		{string(bc), "Correct horse", false},
		{"", "correct horse", false}, // no such user
		// $2y$ from Apache's htpasswd -B.
		{"$2y$05$seI0HxsAJiA8WHW4zb1rsuN.JwOa722W9ylm2OzelAyIf2HcmTz9G", "alice-pw", true},
	} {
		got, err := h.Verify(ctx, tc.enc, tc.pw)
		if err != nil || got != tc.want {
			t.Errorf("Verify(%q, %q) = %v, %v; want %v", tc.enc, tc.pw, got, err, tc.want)
		}
	}
	// A password that bcrypt would cut at 72 bytes never matches.
	long := strings.Repeat("p", 72)
	bl, _ := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if ok, _ := h.Verify(ctx, string(bl), long+"extra"); ok {
		t.Error("bcrypt matched a password longer than 72 bytes by its prefix")
	}
	if _, err := h.Hash(ctx, strings.Repeat("x", MaxLength+1)); err == nil {
		t.Error("Hash accepted a password longer than MaxLength")
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newHasher(t, cheap)
	valid, _ := h.Hash(context.Background(), "pw")
	f := strings.Split(valid, "$")
	with := func(i int, v string) string {
		g := append([]string(nil), f...)
		g[i] = v
		return strings.Join(g, "$")
	}
	for _, tc := range []struct{ enc, want string }{
		{"plaintext", "not a PHC string"},
		{"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", `scheme "argon2i" is not argon2id or bcrypt`},
		{with(2, "v=16"), "version is not 19"},
		{with(3, "m=64,t=1"), "m, t and p are all required"},
		{with(3, "m=64,t=1,p=1,x=2"), `unknown parameter "x"`},
		{with(3, "m=sixty,t=1,p=1"), `parameter "m" is not a number`},
		{with(3, "m=99999999,t=1,p=1"), "memory 99999999 KiB is outside"},
		{with(3, "m=64,t=17,p=1"), "time 17 is outside"},
		{with(3, "m=64,t=1,p=300"), "p is larger than 255"},
		{with(4, "c2FsdA"), "salt length 4 is outside"},
		{with(4, "!!"), "salt is not unpadded base64"},
		{with(5, "a2V5"), "key length 3 is outside"},
		{"$2y$05$short", "bcrypt"},
		{"$2y$31$seI0HxsAJiA8WHW4zb1rsuN.JwOa722W9ylm2OzelAyIf2HcmTz9G", "bcrypt cost 31 is above 16"},
	} {
		ok, err := h.Verify(context.Background(), tc.enc, "pw")
		if ok || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformed with %q", tc.enc, ok, err, tc.want)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	low := newHasher(t, cheap)
	high := newHasher(t, Params{Memory: 128, Time: 2, Threads: 1})
	encLow, _ := low.Hash(ctx, "pw")
	encHigh, _ := high.Hash(ctx, "pw")
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, tc := range []struct {
		h    *Hasher
		enc  string
		want bool
	}{
		{low, encLow, false},
		{low, encHigh, false}, // stronger than asked: kept
		{high, encLow, true},
		{high, encHigh, false},
		{low, string(bc), true},
		{low, "garbage", true},
	} {
		if got := tc.h.NeedsRehash(tc.enc); got != tc.want {
			t.Errorf("%+v NeedsRehash(%q) = %v, want %v", tc.h.Params(), tc.enc, got, tc.want)
		}
	}
	// A hash with old parameters still verifies under new ones.
	if ok, err := high.Verify(ctx, encLow, "pw"); !ok || err != nil {
		t.Errorf("Verify of an older hash = %v, %v", ok, err)
	}
}

func TestNewHasherParams(t *testing.T) {
	if p := newHasher(t, Params{Memory: 64, Time: 1}).Params(); p.Threads != 1 || p.SaltLen != 16 || p.KeyLen != 32 {
		t.Errorf("zero fields not defaulted: %+v", p)
	}
	for _, p := range []Params{{Memory: 4, Time: 1}, {Memory: 64, Time: 100}, {Memory: 64, Time: 1, SaltLen: 4}, {Memory: 64, Time: 1, KeyLen: 8}, {Memory: 2 << 20, Time: 1}} {
		if _, err := NewHasher(p, 1); err == nil {
			t.Errorf("NewHasher(%+v) succeeded", p)
		}
	}
}

// TestConcurrencyBound: with every slot taken, a hash waits, and gives up
// with its context.
func TestConcurrencyBound(t *testing.T) {
	h, err := NewHasher(cheap, 1)
	if err != nil {
		t.Fatal(err)
	}
	h.slots <- struct{}{} // the one slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Verify(ctx, "", "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with no free slot = %v, want context.Canceled", err)
	}
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with no free slot = %v, want context.Canceled", err)
	}
	<-h.slots
	if ok, err := h.Verify(context.Background(), "", "pw"); ok || err != nil {
		t.Errorf("Verify with a free slot = %v, %v", ok, err)
	}
}
