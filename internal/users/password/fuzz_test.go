package password

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseHtpasswd: any input gives a file or errors that name the file
// and a line, never a panic; every user of a parsed file has a known
// scheme.
func FuzzParseHtpasswd(f *testing.F) {
	for _, p := range []string{"testdata/apache.htpasswd", "testdata/bad.htpasswd"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("a:$apr1$$\n")
	f.Add("a:{SHA}\r\n#\n")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHtpasswd(strings.NewReader(s), "f")
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f:") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		for u, sc := range h.Users() {
			if u == "" || (sc != Bcrypt && sc != Argon2id && sc != APR1 && sc != SHA1) {
				t.Fatalf("user %q with scheme %q", u, sc)
			}
		}
	})
}

// FuzzParsePHC: any string is either refused as malformed or read into
// parameters within the bounds.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$p=1,m=64,t=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.check() != nil || len(salt) < minSalt || len(key) < minKey {
			t.Fatalf("accepted %q with %+v", s, p)
		}
	})
}
