package workercmd

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// expandEnv replaces every "${NAME}" in s, NAME made of ASCII letters,
// digits and '_' (possibly empty), with lookup(NAME). Anything else,
// "$NAME", "${a-b}" or an unterminated "${", stays as it is. Replacements
// are not expanded again. This is Buildbot's substitution of the regular
// expression \${([0-9a-zA-Z_]*)} in env values.
func expandEnv(s string, lookup func(string) string) string {
	i := strings.Index(s, "${")
	if i < 0 {
		return s
	}
	var b strings.Builder
	for i >= 0 {
		j := i + 2
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '}' {
			b.WriteString(s[:i])
			b.WriteString(lookup(s[i+2 : j]))
			s = s[j+1:]
		} else {
			// Not a reference. Names hold no '$', so the next "${"
			// cannot start before j; searching on after "${" is enough.
			b.WriteString(s[:i+2])
			s = s[i+2:]
		}
		i = strings.Index(s, "${")
	}
	b.WriteString(s)
	return b.String()
}

func isNameByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// buildEnv returns the environment of a command: base ("KEY=value"
// entries, a later entry wins over an earlier one with the same key)
// without the keys in unset, then set, whose values have ${NAME}
// expanded from base (all of it: a variable in unset still expands, as in
// Buildbot). The result is sorted by key. A variable of the result that
// holds a NUL byte is an error (os/exec rejected it too).
func buildEnv(base []string, set map[string]string, unset []string) ([]string, error) {
	env := make(map[string]string, len(base)+len(set))
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		env[k] = v
	}
	lookup := func(k string) string { return env[k] }
	expanded := make(map[string]string, len(set))
	for k, v := range set {
		if err := checkEnvName(k); err != nil {
			return nil, err
		}
		expanded[k] = expandEnv(v, lookup)
	}
	for _, k := range unset {
		if err := checkEnvName(k); err != nil {
			return nil, err
		}
		delete(env, k)
	}
	for k, v := range expanded {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		// execve takes no NUL (StartProcess would fail with EINVAL).
		if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("env: variable %q contains a NUL byte", k)
		}
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out, nil
}

func checkEnvName(k string) error {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		return fmt.Errorf("env: invalid variable name %q", k)
	}
	return nil
}

// envValue returns the value of key in env ("KEY=value" entries).
func envValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// baseEnv is the worker's environment, unless the caller gave one.
func baseEnv(given []string) []string {
	if given != nil {
		return given
	}
	return os.Environ()
}
