package password

import "testing"

// TestAPR1 checks against hashes made by `openssl passwd -apr1` and
// Apache's `htpasswd -m`.
func TestAPR1(t *testing.T) {
	for _, tc := range []struct{ pw, salt, want string }{
		{"", "Xy12./ab", "$apr1$Xy12./ab$GWg1Uxh/IRJHGTsqbq4N80"},
		{"a", "Xy12./ab", "$apr1$Xy12./ab$bT4l3LCutw2VeYV.TkH5h/"},
		{"correct horse battery staple", "Xy12./ab", "$apr1$Xy12./ab$zIxhhakLixiZgyqNCqdD0/"},
		{"pässwörd", "Xy12./ab", "$apr1$Xy12./ab$93cqY44kOAxDGPPI8GA.w."},
		{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "Xy12./ab", "$apr1$Xy12./ab$.RJ1iLCv9arKe91EMCGSj."},
		{"short salt", "ab", "$apr1$ab$0iE1Uw5jyIcuhGRkN3tEJ."},
		{"bob pw with spaces", "EH98QVIl", "$apr1$EH98QVIl$dcpz2QOLRWsYg5TSkNC9o0"},
	} {
		if got := apr1(tc.pw, tc.salt); got != tc.want {
			t.Errorf("apr1(%q, %q) = %s, want %s", tc.pw, tc.salt, got, tc.want)
		}
		if !verifyAPR1(tc.want, tc.pw) || verifyAPR1(tc.want, tc.pw+"x") {
			t.Errorf("verifyAPR1(%s) wrong", tc.want)
		}
	}
}
