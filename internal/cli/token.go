package cli

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenEnv names the environment variable holding the admin token.
const TokenEnv = "BUILDMASTER_TOKEN"

// TokenFile is the admin token's file name inside the data directory.
const TokenFile = "admin.token"

// masterToken returns the admin token a master uses: $BUILDMASTER_TOKEN, or
// the one in DATA/admin.token, generated (mode 0600) when there is none.
func masterToken(dataDir string) (string, string, error) {
	if t := os.Getenv(TokenEnv); t != "" {
		return t, "$" + TokenEnv, nil
	}
	path := filepath.Join(dataDir, TokenFile)
	if t, err := readToken(path); err == nil {
		return t, path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", "", fmt.Errorf("generate admin token: %w", err)
	}
	t := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("write admin token: %w", err)
	}
	return t, path, nil
}

// clientToken returns the token a client sends: --token, $BUILDMASTER_TOKEN,
// or DATA/admin.token.
func clientToken(flag, dataDir string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if t := os.Getenv(TokenEnv); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, TokenFile)
	t, err := readToken(path)
	if err != nil {
		return "", fmt.Errorf("no admin token: give --token, set $%s, or run on the master's host (%w)", TokenEnv, err)
	}
	return t, nil
}

func readToken(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: admin token file is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s: empty admin token file", path)
	}
	return t, nil
}
