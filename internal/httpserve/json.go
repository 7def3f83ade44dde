package httpserve

import (
	"encoding/json"
	"net/http"
)

// WriteJSON answers v as JSON with status code, HTML left unescaped (as
// Buildbot's API does).
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
