package secrets

import (
	"fmt"
	"strings"
)

// MinSecretLen is the shortest value (white space around it not counted)
// a secret may have. A shorter value turns up by chance in ordinary output
// so often ("pass" in "passed", "1234" in build 12345) that it cannot be
// kept out of output: left in clear, it is printed; replaced, the markers
// mangle the logs and, by where they stand, tell the value anyway. So a
// Chain refuses such a value (a *TooShortError) and nothing uses it:
// Buildbot redacts every value that is not blank, GitLab refuses to mask
// variables shorter than 8.
const MinSecretLen = 6

// TooShortError refuses a secret whose value is shorter than MinSecretLen.
// It names the secret, never a byte of its value.
type TooShortError struct {
	Name    string // the secret's name
	Context string // what asked for it, set by Render (`step "deploy" of builder "app"`)
	Where   string // the provider that gave it ("dir /etc/x")
	Len     int    // the value's length, white space around it not counted
}

func (e *TooShortError) Error() string {
	msg := fmt.Sprintf("secret %q", e.Name)
	if e.Context != "" {
		msg += " (" + e.Context + ")"
	}
	if e.Where != "" {
		msg += " in " + e.Where
	}
	return msg + fmt.Sprintf(" holds %d bytes: too short to be kept out of logs and output; a secret needs at least %d (white space around it not counted)",
		e.Len, MinSecretLen)
}

// checkLen refuses name's value v, from provider where, when it is too
// short to redact.
func checkLen(name, v, where string) error {
	if n := len(strings.TrimSpace(v)); n < MinSecretLen {
		return &TooShortError{Name: name, Where: where, Len: n}
	}
	return nil
}
