package httpserve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLimitBody: a body over the bound is refused before the handler runs
// when its length is said, and fails the handler's read (TooLarge) when not;
// one at the bound passes whole.
func TestLimitBody(t *testing.T) {
	var read string
	var readErr error
	h := LimitBody(func() int64 { return 5 }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		read, readErr = string(b), err
		if limit, ok := TooLarge(err); ok {
			WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": TooLargeMessage(limit)})
		}
	}))
	for _, c := range []struct {
		name, body string
		length     bool
		code       int
		handled    bool
	}{
		{"at the bound", "12345", true, http.StatusOK, true},
		{"over, length said", "123456", true, http.StatusRequestEntityTooLarge, false},
		{"over, length unsaid", "123456", false, http.StatusRequestEntityTooLarge, true},
		{"at the bound, length unsaid", "12345", false, http.StatusOK, true},
	} {
		read, readErr = "", nil
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
		if !c.length {
			r.ContentLength = -1
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.code {
			t.Errorf("%s: %d %s", c.name, w.Code, w.Body)
		}
		if c.code == http.StatusRequestEntityTooLarge && !strings.Contains(w.Body.String(), "the body is larger than 5 bytes") {
			t.Errorf("%s: %s", c.name, w.Body)
		}
		if handled := read != "" || readErr != nil; handled != c.handled || (c.code == http.StatusOK && read != c.body) {
			t.Errorf("%s: handler read %q, %v", c.name, read, readErr)
		}
	}
}
