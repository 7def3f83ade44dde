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
