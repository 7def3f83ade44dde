package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// view is what every page shares: the request's one read transaction, the
// time it is rendered at, the layout's fields, and lookups memoized for the
// request (a page reads each builder, worker and buildset once however many
// rows show it).
type view struct {
	u      *UI
	r      *http.Request
	txn    *memdb.Txn
	now    time.Time
	Active string // the page's name, for the navigation

	builders  map[uint64]*messages.Builder
	workers   map[uint64]string
	sources   map[uint64]*source // by buildset id
	requests  map[uint64]*messages.BuildRequest
	durations map[uint64]int64
	path      string
}

func (u *UI) newView(r *http.Request, active string) *view {
	return &view{u: u, r: r, txn: u.opts.State.Read(), now: u.opts.Now(), Active: active}
}

// Fields the layout and every page read.

func (v *view) Title() string {
	if t := v.u.opts.Config().GetTitle(); t != "" {
		return t
	}
	return "buildmaster"
}
func (v *view) Asset() string { return v.u.assets.version }

// User is who is logged in, for the header.
func (v *view) User() User {
	if v.u.opts.User == nil {
		return User{}
	}
	return v.u.opts.User(v.r)
}

func (v *view) Token() string { return v.u.guard.token }
func (v *view) Now() int64    { return v.now.Unix() }

// Path is the request's path and query (without ?fragment=), where a
// form post returns to.
func (v *view) Path() string {
	if v.path == "" {
		v.path = v.r.URL.Path + v.query("fragment", "")
	}
	return v.path
}

// Left renders how long until eta (epoch seconds): "~3m 05s left",
// "overdue 20s", or "" when unknown.
func (v *view) Left(eta int64) string {
	switch d := eta - v.now.Unix(); {
	case eta == 0:
		return ""
	case d >= 0:
		return "~" + duration(d) + " left"
	default:
		return "overdue " + duration(-d)
	}
}

// Can reports whether the user may do action on target, and whether there
// is a Control to do it with.
func (v *view) Can(action Action, target string) bool {
	if v.u.opts.Control == nil {
		return false
	}
	return v.u.opts.Can == nil || v.u.opts.Can(v.r, action, target)
}

// Since renders the time since epoch seconds t ("3m 05s").
func (v *view) Since(t int64) string { return duration(v.now.Unix() - t) }

// Ago renders how long ago t was ("5m ago").
func (v *view) Ago(t int64) string {
	if t == 0 {
		return ""
	}
	return duration(v.now.Unix()-t) + " ago"
}

// builder returns the builder with id (memoized), or a placeholder.
func (v *view) builder(id uint64) *messages.Builder {
	if v.builders == nil {
		v.builders = map[uint64]*messages.Builder{}
	}
	if b, ok := v.builders[id]; ok {
		return b
	}
	b, _ := state.Lookup(v.txn, state.TableBuilders, id).(*messages.Builder)
	if b == nil {
		b = &messages.Builder{Id: id, Name: "?"}
	}
	v.builders[id] = b
	return b
}

// WorkerName is the name of worker id, "" when none.
func (v *view) WorkerName(id uint64) string {
	if id == 0 {
		return ""
	}
	if v.workers == nil {
		v.workers = map[uint64]string{}
	}
	if n, ok := v.workers[id]; ok {
		return n
	}
	w, _ := state.Lookup(v.txn, state.TableWorkers, id).(*messages.Worker)
	v.workers[id] = w.GetName()
	return w.GetName()
}

// request returns build request id, memoized.
func (v *view) request(id uint64) *messages.BuildRequest {
	if v.requests == nil {
		v.requests = map[uint64]*messages.BuildRequest{}
	}
	if r, ok := v.requests[id]; ok {
		return r
	}
	r, _ := state.Lookup(v.txn, state.TableBuildRequests, id).(*messages.BuildRequest)
	v.requests[id] = r
	return r
}

// source is what a build or request was asked to build: its buildset's
// reason and owner, and its sourcestamps.
type source struct {
	Reason   string
	Owner    string
	Stamps   []*messages.SourceStamp
	stampIDs []uint64
}

// Branch and Revision are those of the first sourcestamp.
func (s *source) Branch() string {
	if len(s.Stamps) == 0 {
		return ""
	}
	return s.Stamps[0].GetBranch()
}

func (s *source) Revision() string {
	if len(s.Stamps) == 0 {
		return ""
	}
	return s.Stamps[0].GetRevision()
}

var noSource = &source{}

// sourceOf returns the source of buildset id, memoized.
func (v *view) sourceOf(bsid uint64) *source {
	if v.sources == nil {
		v.sources = map[uint64]*source{}
	}
	if s, ok := v.sources[bsid]; ok {
		return s
	}
	bs, _ := state.Lookup(v.txn, state.TableBuildsets, bsid).(*messages.Buildset)
	if bs == nil {
		v.sources[bsid] = noSource
		return noSource
	}
	s := &source{Reason: bs.GetReason(), stampIDs: bs.GetSourcestampIds()}
	for _, p := range bs.GetProperties() {
		if p.GetName() == "owner" {
			s.Owner = jsonText(p.GetValueJson())
		}
	}
	for _, id := range bs.GetSourcestampIds() {
		if ss, _ := state.Lookup(v.txn, state.TableSourceStamps, id).(*messages.SourceStamp); ss != nil {
			s.Stamps = append(s.Stamps, ss)
		}
	}
	v.sources[bsid] = s
	return s
}

// buildSource returns what build b was asked to build.
func (v *view) buildSource(b *messages.Build) *source {
	r := v.request(b.GetBuildrequestid())
	if r == nil {
		return noSource
	}
	return v.sourceOf(r.GetBuildsetid())
}

// jsonText renders a property's JSON value: a string without its quotes,
// anything else as JSON.
func jsonText(js string) string {
	if len(js) >= 2 && js[0] == '"' && js[len(js)-1] == '"' && !strings.ContainsAny(js[1:len(js)-1], "\\\"") {
		return js[1 : len(js)-1] // the common case, without decoding
	}
	var s string
	if json.Unmarshal([]byte(js), &s) == nil {
		return s
	}
	return js
}

// recent returns up to n of builder id's newest builds, newest first,
// archived or not.
func (v *view) recent(builderid uint64, n int) []*messages.Build {
	out := make([]*messages.Build, 0, n)
	for b := range state.BuildsBefore(v.txn, builderid, math.MaxInt32) {
		if len(out) == n {
			break
		}
		out = append(out, b)
	}
	return out
}

// expected returns builder id's expected build duration in seconds: the
// mean of its last few completed builds that ran to an end (success,
// warnings, failure) among its 30 newest, or 0 when it has none.
func (v *view) expected(builderid uint64) int64 {
	if v.durations == nil {
		v.durations = map[uint64]int64{}
	}
	if d, ok := v.durations[builderid]; ok {
		return d
	}
	const want, look = 5, 30
	var sum, n int64
	for _, b := range v.recent(builderid, look) {
		if n == want {
			break
		}
		if b.Results != nil && b.GetResults() <= state.ResultFailure && b.CompleteAt >= b.StartedAt {
			sum += b.CompleteAt - b.StartedAt
			n++
		}
	}
	d := int64(0)
	if n > 0 {
		d = (sum + n/2) / n
	}
	v.durations[builderid] = d
	return d
}

// WithParam is the request's path and query with key set to value.
func (v *view) WithParam(key string, value any) string {
	return v.r.URL.Path + v.query(key, fmt.Sprint(value))
}

// query returns the request's query with key set to value (removed when
// value is ""), as "?…" (or "" when empty).
func (v *view) query(key, value string) string {
	q := url.Values{}
	for k, vs := range v.r.URL.Query() {
		if k != "fragment" && k != key {
			q[k] = slices.Clone(vs)
		}
	}
	if value != "" {
		q.Set(key, value)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// BuilderName is the name of builder id.
func (v *view) BuilderName(id uint64) string { return v.builder(id).Name }

// intParam parses s as an integer in [lo, hi]; def when s is "".
func intParam(s string, def, lo, hi int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want a whole number from %d to %d", lo, hi)
	}
	return n, nil
}
