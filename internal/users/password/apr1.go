package password

import (
	"crypto/md5"
	"crypto/subtle"
	"strings"
)

// apr1 is Apache's "$apr1$" MD5-crypt (htpasswd -m, its default before
// 2.4's -B): Poul-Henning Kamp's MD5-crypt with another magic string.
// Weak (MD5, 1000 rounds); accepted so existing files keep working, and
// reported by Htpasswd.Weak.
const apr1Magic = "$apr1$"

const crypt64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// verifyAPR1 checks password against "$apr1$salt$hash".
func verifyAPR1(encoded, password string) bool {
	rest := strings.TrimPrefix(encoded, apr1Magic)
	salt, _, _ := strings.Cut(rest, "$")
	return subtle.ConstantTimeCompare([]byte(apr1(password, salt)), []byte(encoded)) == 1
}

// apr1 returns the "$apr1$salt$hash" string of password.
func apr1(password, salt string) string {
	pw, s := []byte(password), []byte(salt[:min(len(salt), 8)])
	alt := md5.New()
	alt.Write(pw)
	alt.Write(s)
	alt.Write(pw)
	altSum := alt.Sum(nil)

	d := md5.New()
	d.Write(pw)
	d.Write([]byte(apr1Magic))
	d.Write(s)
	for i := len(pw); i > 0; i -= 16 {
		d.Write(altSum[:min(i, 16)])
	}
	for i := len(pw); i > 0; i >>= 1 {
		if i&1 != 0 {
			d.Write([]byte{0})
		} else {
			d.Write(pw[:1])
		}
	}
	sum := d.Sum(nil)

	for i := range 1000 {
		r := md5.New()
		if i&1 != 0 {
			r.Write(pw)
		} else {
			r.Write(sum)
		}
		if i%3 != 0 {
			r.Write(s)
		}
		if i%7 != 0 {
			r.Write(pw)
		}
		if i&1 != 0 {
			r.Write(sum)
		} else {
			r.Write(pw)
		}
		sum = r.Sum(sum[:0])
	}

	out := []byte(apr1Magic + string(s) + "$")
	enc := func(v uint32, n int) {
		for range n {
			out = append(out, crypt64[v&0x3f])
			v >>= 6
		}
	}
	for _, g := range [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		enc(uint32(sum[g[0]])<<16|uint32(sum[g[1]])<<8|uint32(sum[g[2]]), 4)
	}
	enc(uint32(sum[11]), 2)
	return string(out)
}
