package secrets

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMiddleware: a body written in pieces, a value split between them,
// reaches the client redacted, without the handler's Content-Length; with
// nothing to redact the answer is untouched.
func TestMiddleware(t *testing.T) {
	const value = "hunter2-secret-value"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := `{"log": "token ` + value + `"}`
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		half := len(body) - 8
		_, _ = io.WriteString(w, body[:half])
		http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, body[half:])
	})
	for _, c := range []struct {
		secrets map[string]string
		want    string
	}{
		{map[string]string{"tok": value}, `{"log": "token <tok>"}`},
		{nil, `{"log": "token ` + value + `"}`},
	} {
		srv := httptest.NewServer(Middleware(func() *Redactor { return NewRedactor(c.secrets) })(h))
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		srv.Close()
		if string(b) != c.want {
			t.Errorf("with %d secrets: body %q, want %q", len(c.secrets), b, c.want)
		}
		if strings.Contains(c.want, "<tok>") && res.ContentLength != -1 {
			t.Errorf("Content-Length %d kept", res.ContentLength)
		}
	}
}

// BenchmarkMiddleware: what redacting an answer costs, per byte served
// (1 MiB of JSON, written in 32 KiB pieces), against no secrets in use.
func BenchmarkMiddleware(b *testing.B) {
	body := []byte(strings.Repeat(`{"buildid":12345,"state_string":"build successful","name":"compile"},`+"\n", 1<<20/70))
	for _, c := range []struct {
		name    string
		secrets map[string]string
	}{
		{"none", nil},
		{"three", map[string]string{"a": "tok-7f3a9c21e5b8d604", "b": "w1-pw-93ac17be5d", "c": "ghp_0123456789abcdefghij"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			red := NewRedactor(c.secrets)
			h := Middleware(func() *Redactor { return red })(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				for p := body; len(p) > 0; p = p[min(len(p), 32<<10):] {
					_, _ = w.Write(p[:min(len(p), 32<<10)])
				}
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				h.ServeHTTP(discard{}, req)
			}
		})
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
