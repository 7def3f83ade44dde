package ui

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/klauspost/compress/gzhttp"

	"github.com/buildmaster/buildmaster/messages"
)

// Reader gives immutable read transactions of the state (*state.Store).
type Reader interface {
	Read() *memdb.Txn
}

// TreeSource gives the live supervision tree for /master (the master passes
// its service.Tree's Snapshot of "master").
type TreeSource interface {
	Tree() *messages.TreeNode
}

// Options is what the UI reads from and acts through. State is required;
// everything else has a default.
type Options struct {
	State Reader
	// Logs reads log lines (the master's log files); nil shows none.
	Logs LogReader
	// Control carries out actions; nil answers them 501 and hides the buttons.
	Control Control
	// Tree is shown on /master; nil shows none.
	Tree TreeSource
	// Reporters returns the reporters' states for /master (the master
	// passes actors/reporters.States); nil shows none.
	Reporters func() []*messages.ReporterState
	// Config returns the configuration in force (force schedulers, title,
	// summary on /master); nil means an empty one. Secrets in it are never shown.
	Config func() *messages.MasterConfig
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Version and Started are shown on /master.
	Version string
	Started time.Time
	// DebugURL, when set, is linked from /master.
	DebugURL string
	// Can says whether the request's user may do action on target; nil
	// allows everything. Buttons it refuses are not shown, and their POSTs
	// answer 403. Targets are "builders/NAME/builds/N" (stop, rebuild),
	// "builders/NAME/buildrequests/ID" (cancel), "workers/NAME",
	// "schedulers/NAME" and "forceschedulers/SCHEDULER/builders/NAME".
	Can func(r *http.Request, action Action, target string) bool
	// User, when set, says who sent r and what the header offers: their
	// name and a "Log out" link, or a "Log in" link; nil shows neither.
	User func(r *http.Request) User
	// Scripted, when set, says whether r proves who sends it with a
	// credential a browser never attaches by itself (a bearer token): such
	// a request cannot be a cross-site forgery, and needs neither Origin
	// nor the form token (curl with a token). Can still decides.
	Scripted func(r *http.Request) bool
	// TrustedOrigins are origins besides the page's own whose POSTs are
	// accepted (e.g. "https://ci.example.com" behind a TLS proxy).
	TrustedOrigins []string
	// FormKey keys the form token (see guard.go); nil means a random key,
	// so tokens last as long as the process.
	FormKey []byte
	Log     *slog.Logger
}

// User is what the header shows of who is logged in.
type User struct {
	Name      string // "" for anonymous
	CanLogOut bool   // the user logged in with a session: /auth/logout ends it
	CanLogIn  bool   // a login page exists (/auth/login)
}

// UI serves the pages, their assets and the actions. Mount it at "/" and
// at "POST /api/v2/" of the www listener (it answers 404 for the rest of
// /api/v2, which the data API serves).
type UI struct {
	opts   Options
	pages  map[string]*page
	assets *assets
	guard  *guard
	mux    *http.ServeMux
	gz     http.Handler
	errors *errorFinder
	recent *watchCache[uint64, recentBuilds]   // by builder id, for the grid
	shown  *watchCache[string, *shownBuilders] // by tag filter (filterBuilders)
}

// New returns a UI reading and acting through opts.
func New(opts Options) (*UI, error) {
	if opts.State == nil {
		return nil, fmt.Errorf("ui: Options.State is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Config == nil {
		opts.Config = func() *messages.MasterConfig { return &messages.MasterConfig{} }
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.FormKey == nil {
		opts.FormKey = make([]byte, 32)
		if _, err := rand.Read(opts.FormKey); err != nil {
			return nil, fmt.Errorf("ui: form key: %w", err)
		}
	}
	g, err := newGuard(opts.FormKey, opts.TrustedOrigins)
	if err != nil {
		return nil, err
	}
	g.scripted = opts.Scripted
	as, err := loadAssets()
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	recent, err := newWatchCache[uint64, recentBuilds](gridBuilders)
	if err != nil {
		return nil, err
	}
	shown, err := newWatchCache[string, *shownBuilders](filters)
	if err != nil {
		return nil, err
	}
	u := &UI{opts: opts, pages: pages, assets: as, guard: g, mux: http.NewServeMux(), errors: newErrorFinder(opts.Logs), recent: recent, shown: shown}
	u.routes()
	gz, err := gzhttp.NewWrapper(gzhttp.MinSize(1024))
	if err != nil {
		return nil, fmt.Errorf("ui: gzip: %w", err)
	}
	u.gz = gz(u.mux)
	return u, nil
}

// ServeHTTP implements http.Handler. Responses are gzip-compressed for
// clients that accept it.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.gz.ServeHTTP(w, r)
}

func (u *UI) routes() {
	m := u.mux
	m.HandleFunc("GET /{$}", u.page("home", u.home))
	m.HandleFunc("GET /builders/{name}", u.page("builder", u.builder))
	m.HandleFunc("GET /builders/{name}/builds/{number}", u.buildPage)
	m.HandleFunc("GET /builds/{id}", u.buildByID)
	m.HandleFunc("GET /console", u.page("console", u.console))
	m.HandleFunc("GET /grid", u.page("grid", u.grid))
	m.HandleFunc("GET /workers", u.page("workers", u.workers))
	m.HandleFunc("GET /changes", u.page("changes", u.changes))
	m.HandleFunc("GET /schedulers", u.page("schedulers", u.schedulers))
	m.HandleFunc("GET /requests", u.page("requests", u.requests))
	m.HandleFunc("GET /master", u.page("master", u.master))
	m.Handle("GET /ui/static/{file}", u.assets)

	// Plain form posts (no JavaScript), redirected back.
	m.HandleFunc("POST /builders/{name}/builds/{number}/{action}", u.formBuild)
	m.HandleFunc("POST /builders/{name}/force", u.formForce)
	m.HandleFunc("POST /requests/{id}/cancel", u.formCancel)
	m.HandleFunc("POST /workers/{name}/{action}", u.formWorker)
	m.HandleFunc("POST /schedulers/{name}/{action}", u.formScheduler)

	// Buildbot's JSON-RPC 2.0 control.
	m.HandleFunc("POST /api/v2/{resource}/{id}", u.rpc)
}
