package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
)

//go:embed templates
var templateFS embed.FS

// page is one page's template set: the layout, the shared partials and the
// page's own file, which defines "main" and its live regions as
// "frag:NAME" templates.
type page struct {
	t *template.Template
}

// pageNames are the pages, one templates/NAME.html each.
var pageNames = []string{"home", "builder", "build", "console", "grid", "workers", "changes", "schedulers", "requests", "master", "error"}

func parsePages() (map[string]*page, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("ui: templates: %w", err)
	}
	out := map[string]*page{}
	for _, n := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: templates: %w", err)
		}
		out[n] = &page{t: t}
	}
	return out, nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// httpError is an error with the status it answers.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// statusOf is the HTTP status err answers.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// loader fills a page's data from v's read transaction.
type loader func(r *http.Request, v *view) (any, error)

// page returns the handler of the page name: one read transaction, the
// loader, then the whole page or, with ?fragment=F, its "frag:F" template.
func (u *UI) page(name string, load loader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := u.newView(r, name)
		defer v.txn.Abort()
		data, err := load(r, v)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		u.render(w, r, name, data)
	}
}

// render executes page name (or the fragment the query names) with data.
func (u *UI) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	t := u.pages[name].t
	tmpl := "layout"
	if f := r.URL.Query().Get("fragment"); f != "" {
		tmpl = "frag:" + f
		if t.Lookup(tmpl) == nil {
			u.fail(w, r, badRequest("page %s has no fragment %q", name, f))
			return
		}
	}
	u.execute(w, t, tmpl, http.StatusOK, data)
}

func (u *UI) execute(w http.ResponseWriter, t *template.Template, tmpl string, code int, data any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.ExecuteTemplate(buf, tmpl, data); err != nil {
		u.opts.Log.Error("ui: rendering", "template", t.Name(), "fragment", tmpl, "error", err)
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	securityHeaders(h)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// securityHeaders forbid what the pages never need: scripts, styles and
// connections elsewhere, inline scripts and styles, framing.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// errorPage is the data of templates/error.html.
type errorPage struct {
	*view
	Code    int
	Message string
	Back    string
}

// fail answers err as a page saying what went wrong.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	v := u.newView(r, "error")
	defer v.txn.Abort()
	p := &errorPage{view: v, Code: code, Message: err.Error(), Back: safeReturn(r.FormValue("return"), "")}
	if r.URL.Query().Get("fragment") != "" {
		http.Error(w, err.Error(), code)
		return
	}
	u.execute(w, u.pages["error"].t, "layout", code, p)
}

// safeReturn is path if it is a path of this site ("/…", not "//…"), else def.
func safeReturn(path, def string) string {
	if strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "//") && !strings.HasPrefix(path, "/\\") && !strings.ContainsAny(path, "\r\n") {
		return path
	}
	return def
}
