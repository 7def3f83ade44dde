package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
)

// Defaults of VaultOptions.
const (
	DefaultVaultMount   = "secret"
	DefaultVaultKey     = "value"
	DefaultVaultTimeout = 10 * time.Second
	DefaultVaultMaxBody = 1 << 20
)

// VaultOptions configures a Vault provider.
type VaultOptions struct {
	// Addr is Vault's base URL, http or https ("https://vault:8200").
	Addr string
	// Mount is the KV v2 secrets engine's mount path; "" means "secret".
	Mount string
	// Namespace, when set, is sent as X-Vault-Namespace (Vault Enterprise).
	Namespace string
	// The token is read on every request (so a rotated token is picked up)
	// from TokenFile (surrounding white space removed, as Vault Agent's
	// sink writes it) or else from the environment variable TokenEnv.
	TokenFile string
	TokenEnv  string
	// DefaultKey is the key read within a secret when its name has no
	// "|key" part; "" means "value".
	DefaultKey string
	// Timeout bounds one request; 0 means DefaultVaultTimeout.
	Timeout time.Duration
	// MaxBody bounds the response read; 0 means DefaultVaultMaxBody.
	MaxBody int64
	// Client sends the requests (TLS settings); nil means a new client
	// with its own transport. Redirects are never followed, so the token
	// is never sent anywhere but Addr.
	Client *http.Client
	// LookupEnv reads TokenEnv; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Vault reads secrets from HashiCorp Vault's KV version 2 engine over its
// HTTP API: GET {Addr}/v1/{Mount}/data/{path} with X-Vault-Token.
//
// A secret's name is "path|key" as in Buildbot's HashiCorpVaultKvSecretProvider
// ("ci/deploy|token" reads key "token" of secret ci/deploy; a "|" or "\" in
// either part is written "\|" or "\\"), or just "path" for the key
// DefaultKey. Path segments must not be empty, "." or "..".
//
// 404, a deleted latest version or a missing key are ErrNotFound; 403
// (token refused), 503 (sealed, standby) and anything else are errors.
type Vault struct {
	o    VaultOptions
	base *url.URL
	http *http.Client
}

// NewVault checks the options and returns the provider. It does not
// contact Vault.
func NewVault(o VaultOptions) (*Vault, error) {
	base, err := url.Parse(o.Addr)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		return nil, fmt.Errorf("secrets vault: addr %q is not an http(s) URL such as https://vault:8200", o.Addr)
	}
	base.Path = strings.TrimRight(base.Path, "/")
	if o.Mount == "" {
		o.Mount = DefaultVaultMount
	}
	o.Mount = strings.Trim(o.Mount, "/")
	if _, err := splitVaultPath(o.Mount); err != nil {
		return nil, fmt.Errorf("secrets vault: mount %q: %w", o.Mount, err)
	}
	if (o.TokenFile == "") == (o.TokenEnv == "") {
		return nil, errors.New("secrets vault: set exactly one of token_file and token_env")
	}
	if strings.ContainsFunc(o.Namespace, unicode.IsControl) {
		return nil, errors.New("secrets vault: namespace contains control characters")
	}
	if o.DefaultKey == "" {
		o.DefaultKey = DefaultVaultKey
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultVaultTimeout
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultVaultMaxBody
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if o.Client != nil {
		cc := *o.Client
		c = &cc
	}
	c.Timeout = o.Timeout
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Vault{o: o, base: base, http: c}, nil
}

// String names the provider in errors.
func (v *Vault) String() string { return fmt.Sprintf("vault %s mount %s", v.base, v.o.Mount) }

// Get reads key of the latest version of the secret at path.
func (v *Vault) Get(ctx context.Context, name string) (string, error) {
	path, key, err := v.parseName(name)
	if err != nil {
		return "", &NotFoundError{Name: name, Where: v.String(), Reason: err.Error()}
	}
	token, err := v.token()
	if err != nil {
		return "", err
	}
	segs, _ := splitVaultPath(path)
	u := v.base.String() + "/v1/" + escapeSegments(strings.Split(v.o.Mount, "/")) + "/data/" + escapeSegments(segs)
	ctx, cancel := context.WithTimeout(ctx, v.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("secret %q in %s: %w", name, v, err)
	}
	req.Header.Set("X-Vault-Token", token)
	req.Header.Set("X-Vault-Request", "true")
	if v.o.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", v.o.Namespace)
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("secret %q in %s: %w", name, v, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.o.MaxBody+1))
	if err != nil {
		return "", fmt.Errorf("secret %q in %s: reading the answer: %w", name, v, err)
	}
	if int64(len(body)) > v.o.MaxBody {
		return "", fmt.Errorf("secret %q in %s: answer larger than %d bytes", name, v, v.o.MaxBody)
	}
	var doc struct {
		Errors []string `json:"errors"`
		Data   *struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
	}
	jsonErr := json.Unmarshal(body, &doc)
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusNotFound:
		return "", &NotFoundError{Name: name, Where: v.String()}
	case code == http.StatusForbidden:
		return "", fmt.Errorf("secret %q in %s: permission denied (HTTP 403%s): check the token and its policy", name, v, v.vaultErrors(doc.Errors, token))
	case code == http.StatusServiceUnavailable:
		return "", fmt.Errorf("secret %q in %s: vault is sealed or unavailable (HTTP 503%s)", name, v, v.vaultErrors(doc.Errors, token))
	case code >= 300 && code < 400:
		return "", fmt.Errorf("secret %q in %s: vault redirected (HTTP %d) to %q, which is not followed: point addr at the active node", name, v, code, resp.Header.Get("Location"))
	default:
		return "", fmt.Errorf("secret %q in %s: HTTP %d%s", name, v, code, v.vaultErrors(doc.Errors, token))
	}
	if jsonErr != nil {
		return "", fmt.Errorf("secret %q in %s: the answer is not KV v2 JSON: %w", name, v, jsonErr)
	}
	if doc.Data == nil || doc.Data.Data == nil {
		return "", &NotFoundError{Name: name, Where: v.String(), Reason: "its latest version is deleted"}
	}
	val, ok := doc.Data.Data[key]
	if !ok {
		return "", &NotFoundError{Name: name, Where: v.String(), Reason: fmt.Sprintf("the secret has no key %q", key)}
	}
	s, ok := val.(string)
	if !ok {
		return "", fmt.Errorf("secret %q in %s: key %q holds a JSON %s, not a string", name, v, key, jsonKind(val))
	}
	return s, nil
}

// token reads the Vault token. Its value never appears in an error.
func (v *Vault) token() (string, error) {
	var t string
	if v.o.TokenFile != "" {
		b, err := os.ReadFile(v.o.TokenFile)
		if err != nil {
			return "", fmt.Errorf("secrets %s: reading the token: %w", v, err)
		}
		t = strings.TrimSpace(string(b))
	} else {
		var ok bool
		if t, ok = v.o.LookupEnv(v.o.TokenEnv); !ok {
			return "", fmt.Errorf("secrets %s: environment variable %s (the token) is not set", v, v.o.TokenEnv)
		}
		t = strings.TrimSpace(t)
	}
	if t == "" {
		return "", fmt.Errorf("secrets %s: the token is empty", v)
	}
	if strings.ContainsFunc(t, unicode.IsControl) {
		return "", fmt.Errorf("secrets %s: the token contains control characters", v)
	}
	return t, nil
}

// parseName splits "path|key" (with "\" escaping "|" and "\").
func (v *Vault) parseName(name string) (path, key string, err error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '\\' && i+1 < len(name):
			i++
			cur.WriteByte(name[i])
		case c == '|':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	switch len(parts) {
	case 1:
		path, key = parts[0], v.o.DefaultKey
	case 2:
		path, key = parts[0], parts[1]
	default:
		return "", "", errors.New(`more than one "|" (write "\|" for a literal one)`)
	}
	if key == "" {
		return "", "", errors.New("empty key")
	}
	if _, err := splitVaultPath(path); err != nil {
		return "", "", err
	}
	return path, key, nil
}

// splitVaultPath splits a path into segments, refusing empty, "." and ".."
// ones (which would reach other Vault endpoints).
func splitVaultPath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty path")
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return nil, fmt.Errorf("path segment %q is not allowed", s)
		}
		if strings.ContainsFunc(s, unicode.IsControl) {
			return nil, errors.New("path contains control characters")
		}
	}
	return segs, nil
}

func escapeSegments(segs []string) string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = url.PathEscape(s)
	}
	return strings.Join(out, "/")
}

// vaultErrors quotes at most three of Vault's error strings, shortened, with
// control characters dropped and the token redacted (a proxy in the way
// could echo the request).
func (v *Vault) vaultErrors(errs []string, token string) string {
	if len(errs) == 0 {
		return ""
	}
	red := NewRedactor(map[string]string{"vault-token": token})
	var out []string
	for _, e := range errs[:min(len(errs), 3)] {
		e = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, red.Redact(e))
		if len(e) > 200 {
			e = strings.ToValidUTF8(e[:200], "") + "…"
		}
		out = append(out, e)
	}
	return ": " + strings.Join(out, "; ")
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "value"
}
