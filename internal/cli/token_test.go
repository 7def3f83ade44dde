package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMasterTokenIsGeneratedPrivateAndReused(t *testing.T) {
	t.Setenv(TokenEnv, "")
	dir := t.TempDir()
	tok, from, err := masterToken(dir)
	if err != nil || len(tok) != 64 || from != filepath.Join(dir, TokenFile) {
		t.Fatalf("token %q from %q: %v", tok, from, err)
	}
	st, _ := os.Stat(from)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	again, _, err := masterToken(dir)
	if err != nil || again != tok {
		t.Fatalf("restart made a new token: %v", err)
	}
	// A client on the same host finds it; --token and the environment win.
	if c, err := clientToken("", dir); err != nil || c != tok {
		t.Fatalf("client token %q: %v", c, err)
	}
	if c, _ := clientToken("flag", dir); c != "flag" {
		t.Fatalf("--token ignored: %q", c)
	}
	t.Setenv(TokenEnv, "env")
	if c, _ := clientToken("", dir); c != "env" {
		t.Fatalf("$%s ignored: %q", TokenEnv, c)
	}
	if m, from, _ := masterToken(dir); m != "env" || from != "$"+TokenEnv {
		t.Fatalf("master ignored $%s: %q %q", TokenEnv, m, from)
	}
}

func TestTokenFileReadableByOthersIsRefused(t *testing.T) {
	t.Setenv(TokenEnv, "")
	dir := t.TempDir()
	path := filepath.Join(dir, TokenFile)
	if err := os.WriteFile(path, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := masterToken(dir)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v", err)
	}
	if _, err := clientToken("", t.TempDir()); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Fatalf("missing token: %v", err)
	}
}
