package password

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Bounds on an htpasswd file.
const (
	MaxHtpasswdSize = 4 << 20
	maxLine         = 4096
)

// Scheme is how an htpasswd entry is hashed.
type Scheme string

// The schemes an htpasswd file may use. Apache's others are refused when
// the file is read: plain text (htpasswd -p), crypt(3) DES (-d, eight
// characters at most), SHA-256/512-crypt (-2, -5), $1$ MD5-crypt and
// {SSHA}.
const (
	Bcrypt   Scheme = "bcrypt"   // $2y$ (htpasswd -B), $2a$, $2b$
	Argon2id Scheme = "argon2id" // $argon2id$, as Hasher writes
	APR1     Scheme = "apr1"     // $apr1$ MD5-crypt (htpasswd -m): weak
	SHA1     Scheme = "sha1"     // {SHA} unsalted SHA-1 (htpasswd -s): weak
)

// Weak is true for schemes an attacker with the file can brute-force
// cheaply; callers should warn about them.
func (s Scheme) Weak() bool { return s == APR1 || s == SHA1 }

// Htpasswd is a parsed htpasswd file: "user:hash" lines; blank lines and
// lines starting with '#' are skipped. It is immutable.
type Htpasswd struct {
	name  string
	users map[string]htEntry
	first string // the first user: a missing user is checked against its hash
}

type htEntry struct {
	hash   string
	scheme Scheme
	line   int
}

// LoadHtpasswd reads the htpasswd file at path.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	defer f.Close()
	return ParseHtpasswd(f, path)
}

// ParseHtpasswd reads an htpasswd file; name is its name for errors. Every
// bad line is reported, as "name:line: what", without the hash or password.
func ParseHtpasswd(r io.Reader, name string) (*Htpasswd, error) {
	h := &Htpasswd{name: name, users: map[string]htEntry{}}
	sc := bufio.NewScanner(io.LimitReader(r, MaxHtpasswdSize+1))
	sc.Buffer(make([]byte, 0, 512), maxLine)
	var errs []error
	n, size := 0, 0
	for sc.Scan() {
		n++
		size += len(sc.Bytes()) + 1
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, args...)))
		}
		switch {
		case !ok:
			bad(`no ":" between user and password hash`)
			continue
		case user == "":
			bad("empty user name")
			continue
		case strings.ContainsFunc(user, isSpaceOrControl):
			bad("user name %q holds white space or control characters", user)
			continue
		}
		if first, dup := h.users[user]; dup {
			bad("user %q again (first on line %d)", user, first.line)
			continue
		}
		scheme, err := detect(hash)
		if err != nil {
			bad("user %q: %v", user, err)
			continue
		}
		h.users[user] = htEntry{hash: hash, scheme: scheme, line: n}
		if h.first == "" {
			h.first = user
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		errs = append(errs, fmt.Errorf("%s:%d: line longer than %d bytes", name, n+1, maxLine))
	case err != nil:
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	case size > MaxHtpasswdSize:
		errs = append(errs, fmt.Errorf("%s: larger than %d bytes", name, MaxHtpasswdSize))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return h, nil
}

// detect names hash's scheme, or says why it is refused.
func detect(hash string) (Scheme, error) {
	switch {
	case isBcrypt(hash):
		if err := checkBcrypt(hash); err != nil {
			return "", err
		}
		return Bcrypt, nil
	case strings.HasPrefix(hash, "$argon2id$"):
		if _, _, _, err := parsePHC(hash); err != nil {
			return "", err
		}
		return Argon2id, nil
	case strings.HasPrefix(hash, apr1Magic):
		salt, sum, ok := strings.Cut(hash[len(apr1Magic):], "$")
		if !ok || salt == "" || len(salt) > 8 || len(sum) != 22 || !onlyCrypt64(salt+sum) {
			return "", errors.New("malformed $apr1$ hash")
		}
		return APR1, nil
	case strings.HasPrefix(hash, "{SHA}"):
		if b, err := base64.StdEncoding.Strict().DecodeString(hash[5:]); err != nil || len(b) != sha1.Size {
			return "", errors.New("malformed {SHA} hash")
		}
		return SHA1, nil
	case strings.HasPrefix(hash, "$1$"):
		return "", errors.New("MD5-crypt ($1$) is not supported: use htpasswd -B (bcrypt)")
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		return "", errors.New("SHA-crypt ($5$, $6$) is not supported: use htpasswd -B (bcrypt)")
	case strings.HasPrefix(hash, "{SSHA}"):
		return "", errors.New("{SSHA} is not supported: use htpasswd -B (bcrypt)")
	case len(hash) == 13 && onlyCrypt64(hash):
		return "", errors.New("crypt(3) DES hashes are refused (they keep 8 characters of a password): use htpasswd -B (bcrypt)")
	}
	return "", errors.New("not a password hash this server accepts (plain text is refused): use htpasswd -B (bcrypt)")
}

func onlyCrypt64(s string) bool {
	for i := range len(s) {
		if strings.IndexByte(crypt64, s[i]) < 0 {
			return false
		}
	}
	return true
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// Verify says whether user's password is password. For a user not in the
// file it checks password against the first user's hash, so that the
// answer, false, takes as long as for a user of the file (whose hashes
// often share one scheme and cost). bcrypt and argon2id go through h, so
// they share its concurrency bound.
func (f *Htpasswd) Verify(ctx context.Context, h *Hasher, user, password string) (bool, error) {
	e, ok := f.users[user]
	if !ok {
		if f.first == "" {
			return h.Verify(ctx, "", password)
		}
		_, err := f.check(ctx, h, f.users[f.first], password)
		return false, err
	}
	return f.check(ctx, h, e, password)
}

func (f *Htpasswd) check(ctx context.Context, h *Hasher, e htEntry, password string) (bool, error) {
	switch e.scheme {
	case APR1:
		return verifyAPR1(e.hash, password), nil
	case SHA1:
		sum := sha1.Sum([]byte(password))
		return subtle.ConstantTimeCompare([]byte(base64.StdEncoding.EncodeToString(sum[:])), []byte(e.hash[5:])) == 1, nil
	}
	ok, err := h.Verify(ctx, e.hash, password)
	if err != nil {
		return false, fmt.Errorf("%s:%d: %w", f.name, e.line, err)
	}
	return ok, nil
}

// Users returns the user names with the scheme of each.
func (f *Htpasswd) Users() map[string]Scheme {
	out := make(map[string]Scheme, len(f.users))
	for u, e := range f.users {
		out[u] = e.scheme
	}
	return out
}
