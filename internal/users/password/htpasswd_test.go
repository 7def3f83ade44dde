package password

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestHtpasswdApache reads a file written by Apache's htpasswd (-B, -m,
// -s) and checks each user's password.
func TestHtpasswdApache(t *testing.T) {
	f, err := LoadHtpasswd("testdata/apache.htpasswd")
	if err != nil {
		t.Fatal(err)
	}
	h := newHasher(t, cheap)
	ctx := context.Background()
	for _, tc := range []struct {
		user, pw string
		want     bool
		scheme   Scheme
	}{
		{"alice", "alice-pw", true, Bcrypt},
		{"alice", "alice-pw ", false, Bcrypt},
		{"bob", "bob pw with spaces", true, APR1},
		{"bob", "bob", false, APR1},
		{"carol", "carol-pw", true, SHA1},
		{"carol", "carol-px", false, SHA1},
		{"dave", "dävë-ünïcode", true, Bcrypt},
		{"nobody", "alice-pw", false, ""},
		{"", "", false, ""},
	} {
		ok, err := f.Verify(ctx, h, tc.user, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(%q, %q) = %v, %v; want %v", tc.user, tc.pw, ok, err, tc.want)
		}
		if got := f.Users()[tc.user]; got != tc.scheme {
			t.Errorf("scheme of %q = %q, want %q", tc.user, got, tc.scheme)
		}
	}
	if !APR1.Weak() || !SHA1.Weak() || Bcrypt.Weak() || Argon2id.Weak() {
		t.Error("Weak is wrong")
	}
}

// TestHtpasswdArgon2id: a hash the Hasher wrote may stand in the file.
func TestHtpasswdArgon2id(t *testing.T) {
	h := newHasher(t, cheap)
	enc, _ := h.Hash(context.Background(), "s3cret")
	f, err := ParseHtpasswd(strings.NewReader("zed:"+enc+"\n"), "mem")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Verify(context.Background(), h, "zed", "s3cret"); !ok || err != nil {
		t.Errorf("Verify = %v, %v", ok, err)
	}
}

// TestHtpasswdErrors: every bad line of a file is reported at once, by
// file and line, and no hash or password is quoted.
func TestHtpasswdErrors(t *testing.T) {
	_, err := LoadHtpasswd("testdata/bad.htpasswd")
	if err == nil {
		t.Fatal("bad file accepted")
	}
	got := err.Error() + "\n"
	golden(t, "testdata/bad.golden", got)
	for _, leak := range []string{"erin-pw", "mTK4yrniBc9hM", "seI0Hx", "35mC/", "toolongsalt"} {
		if strings.Contains(got, leak) {
			t.Errorf("errors quote %q", leak)
		}
	}
}

func TestHtpasswdLimits(t *testing.T) {
	if _, err := ParseHtpasswd(strings.NewReader("a:"+strings.Repeat("x", maxLine)+"\n"), "f"); err == nil || !strings.Contains(err.Error(), "f:1: line longer than 4096 bytes") {
		t.Errorf("long line: %v", err)
	}
	line := "u:{SHA}hsAaMBat8aKiQgxhKhAqvbXOPbw=\n"
	var big strings.Builder
	for i := 0; big.Len() <= MaxHtpasswdSize; i++ {
		big.WriteString("# " + strings.Repeat("c", 1000) + "\n")
	}
	big.WriteString(line)
	if _, err := ParseHtpasswd(strings.NewReader(big.String()), "f"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
	if _, err := LoadHtpasswd(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file accepted")
	}
	if f, err := ParseHtpasswd(strings.NewReader(""), "empty"); err != nil || len(f.Users()) != 0 {
		t.Errorf("empty file: %v", err)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	testkit.Golden(t, path, []byte(got))
}

// TestHtpasswdMissingUser: a user not in the file is checked against the
// first user's hash (here {SHA}, which needs no Hasher slot), not the
// Hasher's argon2id dummy, so its answer takes as long as a file user's.
func TestHtpasswdMissingUser(t *testing.T) {
	f, err := ParseHtpasswd(strings.NewReader("carol:{SHA}hsAaMBat8aKiQgxhKhAqvbXOPbw=\n"), "mem")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewHasher(cheap, 1)
	h.slots <- struct{}{} // the Hasher is busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := f.Verify(ctx, h, "nobody", "carol-pw"); ok || err != nil {
		t.Errorf("Verify(nobody) = %v, %v; want false after a {SHA} check", ok, err)
	}
	empty, _ := ParseHtpasswd(strings.NewReader(""), "empty")
	if _, err := empty.Verify(ctx, h, "nobody", "x"); err == nil {
		t.Error("an empty file did not fall back to the Hasher's dummy")
	}
}
