package report

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MaxResponseBytes bounds how much of a target's answer is read.
const MaxResponseBytes = 64 << 10

// DefaultHTTPTimeout bounds one request, answer included.
const DefaultHTTPTimeout = 30 * time.Second

// HTTPOptions configure the HTTP clients' transport.
type HTTPOptions struct {
	// Timeout bounds one request; 0 means DefaultHTTPTimeout.
	Timeout time.Duration
	// Transport; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Now is the clock Retry-After dates are read against; nil means time.Now.
	Now func() time.Time
	// UserAgent; empty means "buildmaster".
	UserAgent string
}

// HTTPPoster posts JSON bodies and turns each answer into nil or a
// *SendError. It follows no redirect and reads at most MaxResponseBytes.
type HTTPPoster struct {
	client    *http.Client
	now       func() time.Time
	userAgent string
}

// NewHTTPPoster returns a poster with the options.
func NewHTTPPoster(o HTTPOptions) *HTTPPoster {
	if o.Timeout <= 0 {
		o.Timeout = DefaultHTTPTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UserAgent == "" {
		o.UserAgent = "buildmaster"
	}
	return &HTTPPoster{
		client: &http.Client{Timeout: o.Timeout, Transport: o.Transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:       o.Now,
		userAgent: o.UserAgent,
	}
}

// PostJSON posts body to u with the headers. No error holds a header,
// u's user information or query; and should the target echo them, u's
// user information and query and the given secrets (tokens, passwords)
// are blanked out of the excerpt of its answer.
// A 2xx answer is success; 429, 5xx, and 403 with Retry-After or
// X-RateLimit-Remaining: 0 are retryable; any other answer is permanent.
func (p *HTTPPoster) PostJSON(ctx context.Context, u *url.URL, header http.Header, body []byte, secrets ...string) error {
	target := "POST " + RedactURL(u.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return &SendError{Target: target, Err: errors.New("cannot build the request")}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", p.userAgent)
	resp, err := p.client.Do(req)
	if err != nil {
		return transportError(target, err)
	}
	defer resp.Body.Close()
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	se := &SendError{Target: target, Status: resp.StatusCode, Detail: excerpt(answer, u, secrets)}
	if readErr != nil && len(answer) == 0 {
		se.Err = errors.New("answer unreadable")
	}
	after := RetryAfter(resp.Header, p.now())
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code >= 500:
		se.Retryable, se.RetryAfter = true, after
	case code == http.StatusForbidden && (resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") == "0"):
		se.Retryable, se.RetryAfter = true, after
		se.Detail = "rate limited; " + se.Detail
	case code/100 == 3:
		se.Detail = "redirect to " + RedactURL(resp.Header.Get("Location")) + " not followed"
	}
	return se
}

// transportError classifies a request that got no answer: certificate
// problems are permanent (a retry sees the same certificate), the rest
// (refused, reset, timed out, cancelled) retryable.
func transportError(target string, err error) *SendError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL, secrets and all
	}
	se := &SendError{Target: target, Err: err, Retryable: true}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		se.Retryable = false
	}
	return se
}

// RetryAfter reads how long a target asks to wait: Retry-After in seconds
// or as an HTTP date, or GitHub's X-RateLimit-Reset (Unix seconds) when
// X-RateLimit-Remaining is 0; the longer when both. 0 when none says.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			d = time.Duration(min(max(secs, 0), maxWaitSeconds)) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if secs, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64); err == nil {
			secs = min(max(secs, 0), now.Unix()+maxWaitSeconds)
			d = max(d, time.Unix(secs, 0).Sub(now))
		}
	}
	return max(d, 0)
}

// maxWaitSeconds bounds a wait read from a header (a year), so a hostile
// value cannot overflow a Duration; the retry lifetime cuts it shorter.
const maxWaitSeconds = 365 * 24 * 3600

// excerpt is up to 200 bytes of an answer on one line, with the secrets
// and u's user information and query blanked out (an echoing endpoint must
// not put a token into an error).
func excerpt(answer []byte, u *url.URL, secrets []string) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(string(answer), ""))
	secrets = append(secrets, u.RawQuery, u.User.String())
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw)
	}
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "REDACTED")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// JoinURL joins escaped path segments to a base URL ("https://host/api").
func JoinURL(base string, segments ...string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", RedactURL(base), unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http(s)://host[/path]", RedactURL(base))
	}
	raw, plain := u.EscapedPath(), u.Path
	for _, s := range segments {
		raw += "/" + url.PathEscape(s)
		plain += "/" + s
	}
	u.Path, u.RawPath = plain, raw
	return u, nil
}
