package secrets

import (
	"os"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestRedactBuildLog redacts a build's output, written in pieces of every
// size from 1 to 64 bytes, and compares it with testdata/build.redacted.
func TestRedactBuildLog(t *testing.T) {
	in, err := os.ReadFile("testdata/build.log")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedactor(map[string]string{
		"github_token": "ghp_R4nd0mT0k3nV4lu3xyz",
		"bearer":       "s3cr3t-b34r3r",
		"deploy_key": "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
			"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" +
			"QyNTUxOQAAACDx9Yq3fakefakefakefakefakefakefakefakefakeAAAAJgAAAAA==\n" +
			"-----END OPENSSH PRIVATE KEY-----",
		"pin": "12345", // too short (a Chain refuses it): left alone
	})
	want := r.Redact(string(in))
	golden(t, "testdata/build.redacted", want)
	for size := 1; size <= 64; size++ {
		var chunks []string
		for s := string(in); s != ""; s = s[min(size, len(s)):] {
			chunks = append(chunks, s[:min(size, len(s))])
		}
		if got := streamed(t, r, chunks...); got != want {
			t.Fatalf("written %d bytes at a time:\n%s", size, got)
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	testkit.Golden(t, path, []byte(got))
}
