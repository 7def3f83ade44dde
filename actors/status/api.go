package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/cache"
	"github.com/buildmaster/buildmaster/internal/dataapi"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Endpoint is one table of the state served by the data API, as Buildbot
// serves it: GET /api/v2/{Plural} (the collection, with Buildbot's query
// parameters) and GET /api/v2/{Plural}/{id} (one row, as a one-element
// list); under each Parent, GET /api/v2/{parent}/{key}/{Plural}[/{key}];
// and GET …/{Plural}/{key}/{extra} for each of Extras. Paths nest as deep as
// the parents do, e.g. builders/{name}/builds/{number}/steps/{name}/logs.
type Endpoint struct {
	Plural string        // e.g. "changes"
	Table  string        // the state table, e.g. state.TableChanges
	Record proto.Message // an empty record of the table's type
	ID     string        // the record's id field, e.g. "changeid"
	// Name, when set, is a text field that names a row in place of its id
	// at the top level (builders/{id|name}); Indexes has its unique index.
	Name string
	// Unfinished names the boolean fields or flags (a build's, request's or
	// buildset's complete) that are true for every archived row, so that a
	// filter on one being false reads the unarchived rows alone
	// (state.ScanUnfinished).
	Unfinished []string
	// Indexes maps a field to an index whose keys begin with it and which
	// lists rows equal on it in id order, so that an equality filter on the
	// field (as a parent's is) reads only the matching rows.
	Indexes map[string]string
	// Under lists the endpoints this one nests under.
	Under []Parent
	// Extras are what one row serves that is not a table, e.g. logs/{id}/raw.
	Extras map[string]Extra
	// View renames fields as Buildbot shows them (its ids are buildid,
	// stepid …) and adds derived ones (a build's complete).
	View dataapi.View
	// Joined adds fields computed from a row and other rows of the same
	// read transaction (a buildset's sourcestamps), shown as the View's
	// Derived fields are: they can be selected but not filtered on or
	// sorted by. Their names are neither Derived nor shown fields.
	Joined map[string]Join
}

// Join computes a field of row from other rows of txn, the request's
// snapshot. Its value is rendered by encoding/json as it is (so rows it
// shows are rendered with their endpoint's View first).
type Join func(txn *memdb.Txn, row proto.Message) any

// Parent links a nested collection to the row it is under: the rows of
// {parent}/{key}/{Plural} are those whose Field is the parent's id.
type Parent struct {
	Plural string // the parent endpoint, e.g. "builders"
	Field  string // the field holding the parent's id, e.g. "builderid"
	// Keys are the fields that name one row among the parent's
	// ({parent}/{key}/{Plural}/{key}), tried in order: a number field takes
	// only a number, as Buildbot's n: path patterns (steps: number, then name).
	Keys []string
	// KeyIndex, when set, is a unique index on (Field, Keys[0]) that finds a
	// row by its first key directly.
	KeyIndex string
}

// Extra serves something of one row that is not a table, e.g. a log's text.
type Extra func(rt *service.Runtime, w http.ResponseWriter, r *http.Request, txn *memdb.Txn, row proto.Message)

// Endpoints lists what the data API serves. A new table is one entry here.
func Endpoints() []Endpoint {
	name := map[string]string{"name": state.IndexName}
	props := map[string]Extra{"properties": propertiesOf}
	eps := []Endpoint{
		{Plural: "masters", Table: state.TableMasters, Record: &messages.Master{}, ID: "id", Indexes: name},
		{Plural: "changes", Table: state.TableChanges, Record: &messages.Change{}, ID: "changeid",
			Indexes: map[string]string{"branch": state.IndexBranch},
			Under:   []Parent{{Plural: "sourcestamps", Field: "sourcestampid"}}},
		{Plural: "sourcestamps", Table: state.TableSourceStamps, Record: &messages.SourceStamp{}, ID: "id"},
		{Plural: "buildsets", Table: state.TableBuildsets, Record: &messages.Buildset{}, ID: "id", Extras: props,
			Unfinished: []string{"complete"},
			Joined:     map[string]Join{"sourcestamps": sourcestampsOf(sourcestampView(), nil)}},
		{Plural: "buildrequests", Table: state.TableBuildRequests, Record: &messages.BuildRequest{}, ID: "id",
			Unfinished: []string{"complete"},
			Indexes:    map[string]string{"buildsetid": state.IndexBuildset},
			Under:      []Parent{{Plural: "builders", Field: "builderid"}}},
		{Plural: "builders", Table: state.TableBuilders, Record: &messages.Builder{}, ID: "id", Name: "name", Indexes: name},
		{Plural: "builds", Table: state.TableBuilds, Record: &messages.Build{}, ID: "id", Unfinished: []string{"complete"},
			Indexes: map[string]string{"builderid": state.IndexBuilderNumber, "buildrequestid": state.IndexBuildRequest},
			Under: []Parent{
				{Plural: "builders", Field: "builderid", Keys: []string{"number"}, KeyIndex: state.IndexBuilderNumber},
				{Plural: "buildrequests", Field: "buildrequestid"},
				{Plural: "workers", Field: "workerid"},
			},
			Extras: props},
		{Plural: "steps", Table: state.TableSteps, Record: &messages.Step{}, ID: "id",
			Indexes: map[string]string{"buildid": state.IndexBuildNumber},
			Under:   []Parent{{Plural: "builds", Field: "buildid", Keys: []string{"number", "name"}, KeyIndex: state.IndexBuildNumber}}},
		{Plural: "logs", Table: state.TableLogs, Record: &messages.Log{}, ID: "id",
			Indexes: map[string]string{"stepid": state.IndexStep},
			Under:   []Parent{{Plural: "steps", Field: "stepid", Keys: []string{"slug"}}},
			Extras:  map[string]Extra{"raw": rawLog, "raw_inline": rawInlineLog, "contents": logContents}},
		{Plural: "workers", Table: state.TableWorkers, Record: &messages.Worker{}, ID: "id", Name: "name", Indexes: name},
		{Plural: "schedulers", Table: state.TableSchedulers, Record: &messages.Scheduler{}, ID: "id", Indexes: name,
			Under: []Parent{{Plural: "masters", Field: "masterid"}}},
		{Plural: "changesources", Table: state.TableChangeSources, Record: &messages.ChangeSource{}, ID: "id", Indexes: name,
			Under: []Parent{{Plural: "masters", Field: "masterid"}}},
		// Never the password hash (hidden); the attributes joined in.
		{Plural: "users", Table: state.TableUsers, Record: &messages.User{}, ID: "uid",
			View: dataapi.View{Hidden: map[string]bool{"bb_password": true}},
			Joined: map[string]Join{"attributes": func(txn *memdb.Txn, row proto.Message) any {
				return state.UserAttrs(txn, row.(*messages.User).Uid)
			}}},
	}
	views := endpointViews()
	for i := range eps {
		if v, ok := views[eps[i].Plural]; ok {
			eps[i].View = v
		}
	}
	return eps
}

// sourcestampView is a sourcestamp as Buildbot shows it, alone and in a
// buildset: no ss_hash, and its patch (null when none) in place of patchid.
func sourcestampView() dataapi.View {
	return dataapi.View{
		Names:   map[string]string{"id": "ssid"},
		Hidden:  map[string]bool{"ss_hash": true, "patchid": true},
		Null:    map[string]bool{"branch": true, "revision": true},
		Derived: map[string]func(proto.Message) any{"patch": patchOf},
	}
}

// endpointViews are how Buildbot shows the rows of each endpoint, by plural: its
// names for the ids, and the fields it derives.
func endpointViews() map[string]dataapi.View {
	id := func(as string) dataapi.View { return dataapi.View{Names: map[string]string{"id": as}} }
	return map[string]dataapi.View{
		"masters": id("masterid"), "sourcestamps": sourcestampView(), "builders": id("builderid"),
		"schedulers": id("schedulerid"), "changesources": id("changesourceid"),
		// lost (lines a damaged file or a full disk lost) only when some are.
		"logs": {Names: map[string]string{"id": "logid"}, OmitEmpty: map[string]bool{"lost": true}},
		// Buildbot's None where the record stores 0 or ""; sourcestamps
		// (Joined) in place of their ids.
		"buildsets": {Names: map[string]string{"id": "bsid"}, Hidden: map[string]bool{"sourcestamp_ids": true},
			Null: map[string]bool{"external_idstring": true, "complete_at": true, "parent_buildid": true, "parent_relationship": true}},
		// workerinfo as an object; connected_to as [{"masterid": N}]
		// (configured_on is [{"builderid": B, "masterid": M}] as it is).
		"workers": {Names: map[string]string{"id": "workerid"}, Hidden: map[string]bool{"info_json": true, "connected_to": true},
			Null: map[string]bool{"quarantine_until": true, "quarantine_timeout": true},
			Derived: map[string]func(proto.Message) any{
				"workerinfo":   func(m proto.Message) any { return jsonObject(m.(*messages.Worker).GetInfoJson()) },
				"connected_to": connectedTo,
			}},
		// state_string is never empty: what the build or step is doing, or
		// how it ended, when nothing set it.
		"builds": {Names: map[string]string{"id": "buildid"}, Hidden: map[string]bool{"state_string": true},
			Flags: map[string]func(proto.Message) bool{
				"complete": func(m proto.Message) bool { return m.(*messages.Build).HasResults() }},
			Derived: map[string]func(proto.Message) any{"state_string": func(m proto.Message) any {
				b := m.(*messages.Build)
				return stateString(b.GetStateString(), b.Results, "building")
			}}},
		"steps": {Names: map[string]string{"id": "stepid"}, Hidden: map[string]bool{"state_string": true},
			Flags: map[string]func(proto.Message) bool{
				"complete": func(m proto.Message) bool { return m.(*messages.Step).HasResults() }},
			Derived: map[string]func(proto.Message) any{"state_string": func(m proto.Message) any {
				s := m.(*messages.Step)
				return stateString(s.GetStateString(), s.Results, map[bool]string{true: "running", false: "pending"}[s.GetStartedAt() != 0])
			}}},
		"buildrequests": {Names: map[string]string{"id": "buildrequestid"}, Hidden: map[string]bool{"claim": true}, Flags: map[string]func(proto.Message) bool{
			"claimed": func(m proto.Message) bool { return m.(*messages.BuildRequest).GetClaim() != nil },
		}, Derived: map[string]func(proto.Message) any{
			"claimed_by_masterid": func(m proto.Message) any { return m.(*messages.BuildRequest).GetClaim().GetMasterid() },
			"claimed_at":          func(m proto.Message) any { return m.(*messages.BuildRequest).GetClaim().GetClaimedAt() },
		}},
	}
}

// stateString is a build's or step's state_string: set, or else its
// result's name once it has one, or else doing.
func stateString(set string, results *int32, doing string) string {
	switch {
	case set != "":
		return set
	case results != nil:
		return state.ResultName(*results)
	}
	return doing
}

// endpoint is an Endpoint with its fields resolved.
type endpoint struct {
	Endpoint
	md    protoreflect.MessageDescriptor
	id    protoreflect.FieldDescriptor
	under map[string]*link // by the parent's plural
	cache *rowCache        // the cache its View renders through, or nil (see cacheViews)
}

// link is a Parent with its fields resolved.
type link struct {
	Parent
	field protoreflect.FieldDescriptor
	keys  []protoreflect.FieldDescriptor
}

// API serves the Endpoints under /api/v2/. Anything else under /api/v2/ is
// 404 with {"error": …}, as in Buildbot; a bad query is 400, naming every
// problem.
func API(rt *service.Runtime) http.Handler {
	eps := map[string]*endpoint{}
	for _, e := range Endpoints() {
		md := e.Record.ProtoReflect().Descriptor()
		field := func(name string) protoreflect.FieldDescriptor {
			fd := md.Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				panic(fmt.Sprintf("status: %s has no field %q", md.FullName(), name))
			}
			return fd
		}
		ep := &endpoint{Endpoint: e, md: md, id: field(e.ID), under: map[string]*link{}}
		if e.Name != "" && (field(e.Name).Kind() != protoreflect.StringKind || e.Indexes[e.Name] == "") {
			panic(fmt.Sprintf("status: %s: name %q must be a text field with an index", e.Plural, e.Name))
		}
		for _, p := range e.Under {
			l := &link{Parent: p, field: field(p.Field)}
			if l.field.Kind() != protoreflect.Uint64Kind {
				panic(fmt.Sprintf("status: %s under %s: %s is not an id", e.Plural, p.Plural, p.Field))
			}
			for _, k := range p.Keys {
				l.keys = append(l.keys, field(k))
			}
			ep.under[p.Plural] = l
		}
		for name := range e.Joined {
			if _, err := e.View.ParseQuery(url.Values{"field": {name}}, md); err == nil {
				panic(fmt.Sprintf("status: %s: joined field %q is also derived or shown", e.Plural, name))
			}
		}
		eps[e.Plural] = ep
	}
	cacheViews(rt, eps)
	for _, ep := range eps {
		for p := range ep.under {
			if eps[p] == nil || eps[p].id.Kind() != protoreflect.Uint64Kind {
				panic(fmt.Sprintf("status: %s is under %s, which is not served or has no uint64 id", ep.Plural, p))
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/", func(w http.ResponseWriter, r *http.Request) { serve(rt, eps, w, r) })
	return mux
}

// serve walks the path: {plural}/{key} pairs, each plural a top-level
// endpoint or nested under the row before it, ending in a plural (a
// collection), a key (one row) or an extra of the last row.
func serve(rt *service.Runtime, eps map[string]*endpoint, w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/api/v2/"), "/")
	for i, s := range segs { // so that a name may hold an escaped '/'
		var err error
		if segs[i], err = url.PathUnescape(s); err != nil {
			writeError(w, http.StatusNotFound, "Invalid path: "+r.URL.Path)
			return
		}
	}
	txn := rt.DB.Read() // one snapshot for the whole path, page and total
	var parent *endpoint
	var row proto.Message
	for i := 0; i < len(segs); i += 2 {
		ep, l := eps[segs[i]], (*link)(nil)
		if parent != nil {
			if l = ep.linkUnder(parent.Plural); l == nil {
				ep = nil
			}
		}
		if ep == nil {
			if x := parent.extra(segs[i]); x != nil && i == len(segs)-1 {
				x(rt, w, r, txn, row)
				return
			}
			writeError(w, http.StatusNotFound, "Invalid path: "+r.URL.Path)
			return
		}
		var pid uint64
		if row != nil {
			pid = row.ProtoReflect().Get(parent.id).Uint()
		}
		if i == len(segs)-1 {
			view := ep.view(txn)
			q, props, err := ep.query(r, view)
			if err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			if l != nil {
				q.Filters = append([]dataapi.Filter{l.filter(pid)}, q.Filters...)
			}
			page, total := ep.collection(txn).Run(q)
			writePage(w, view, ep.Plural, selectProperties(page, props), total, q.Fields)
			return
		}
		found, what, ok := ep.find(txn, l, pid, segs[i+1])
		switch {
		case !ok:
			writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid path: %s (%s)", r.URL.Path, what))
			return
		case found == nil && i > 0:
			writeError(w, http.StatusNotFound, fmt.Sprintf("no %s under %s", what, strings.Join(segs[:i], "/")))
			return
		case found == nil:
			writeError(w, http.StatusNotFound, "no "+what)
			return
		}
		if i+2 == len(segs) {
			view := ep.view(txn)
			q, props, err := ep.query(r, view)
			if err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			writePage(w, view, ep.Plural, selectProperties([]proto.Message{found}, props), 1, q.Fields)
			return
		}
		parent, row = ep, found
	}
	writeError(w, http.StatusNotFound, "Invalid path: "+r.URL.Path)
}

// cachedRows names the cache (internal/cache) that keeps the rendered rows
// of an endpoint, by plural: those whose rows the View renders from the row
// alone.
var cachedRows = map[string]string{"builds": cache.Builds, "changes": cache.Changes, "sourcestamps": cache.SourceStamps}

// cacheViews makes the endpoints of cachedRows render through rt's caches,
// and a buildset's sourcestamps with them.
func cacheViews(rt *service.Runtime, eps map[string]*endpoint) {
	if rt.Caches == nil {
		return
	}
	for plural, name := range cachedRows {
		ep := eps[plural]
		ep.cache = &rowCache{c: rt.Caches.Cache(name), table: ep.Table, id: ep.id}
	}
	eps["buildsets"].Joined["sourcestamps"] = sourcestampsOf(eps["sourcestamps"].View, eps["sourcestamps"].cache)
}

// rowCache is a dataapi.RowCache on a cache, keyed by the rows' ids, for
// the rows read in one snapshot (txn) of table. It keeps only the rows
// that are in table in txn: an archived row (internal/state) is decoded
// afresh on each read, a new record that no later Get matches, so keeping
// it would only evict a row that can hit.
type rowCache struct {
	c     *cache.Cache
	table string // the state table, also the kind of the cache's keys
	id    protoreflect.FieldDescriptor
	txn   *memdb.Txn
}

// in is r for the rows read in txn.
func (r *rowCache) in(txn *memdb.Txn) rowCache {
	c := *r
	c.txn = txn
	return c
}

func (r rowCache) key(m proto.Message) cache.Key {
	return cache.Key{Kind: r.table, ID: m.ProtoReflect().Get(r.id).Uint()}
}

func (r rowCache) Get(m proto.Message) ([]byte, bool) { return r.c.Get(r.key(m), m) }

func (r rowCache) Add(m proto.Message, b []byte) {
	k := r.key(m)
	if row, err := r.txn.First(r.table, state.IndexID, k.ID); err != nil || row != m {
		return // not the table's row (archived, or a copy): it cannot hit
	}
	r.c.Add(k, m, b)
}

// view is ep's View reading txn: with its cache, and with its Joined
// fields added as Derived ones.
func (ep *endpoint) view(txn *memdb.Txn) dataapi.View {
	v := ep.View
	if ep.cache != nil {
		v.Cache = ep.cache.in(txn)
	}
	if len(ep.Joined) == 0 {
		return v
	}
	v.Derived = make(map[string]func(proto.Message) any, len(ep.View.Derived)+len(ep.Joined))
	maps.Copy(v.Derived, ep.View.Derived)
	for name, join := range ep.Joined {
		v.Derived[name] = func(row proto.Message) any { return join(txn, row) }
	}
	return v
}

// query parses r's query for ep as view (ep's, from ep.view) shows its
// rows. Buildbot's property=NAME (or *) is taken for a record with
// properties: props lists the names asked for, and properties joins a
// field selection.
func (ep *endpoint) query(r *http.Request, view dataapi.View) (q *dataapi.Query, props []string, err error) {
	vals := r.URL.Query()
	if pf := ep.md.Fields().ByName("properties"); pf != nil && vals.Has("property") {
		props = vals["property"]
		vals.Del("property")
		if vals.Has("field") && !slices.Contains(vals["field"], "properties") {
			vals.Add("field", "properties")
		}
	}
	q, err = view.ParseQuery(vals, ep.md)
	return q, props, err
}

// selectProperties keeps, of each row's properties, those named in props
// (all for "*"; all when props is empty, as the records carry them).
func selectProperties(page []proto.Message, props []string) []proto.Message {
	if len(props) == 0 || slices.Contains(props, "*") {
		return page
	}
	out := make([]proto.Message, len(page))
	for i, row := range page {
		m := proto.Clone(row).ProtoReflect()
		fd := m.Descriptor().Fields().ByName("properties")
		list := m.Mutable(fd).List()
		kept := 0
		for j := range list.Len() {
			if p := list.Get(j).Message().Interface().(*messages.Property); slices.Contains(props, p.GetName()) {
				list.Set(kept, list.Get(j))
				kept++
			}
		}
		list.Truncate(kept)
		out[i] = m.Interface()
	}
	return out
}

func (ep *endpoint) linkUnder(parent string) *link {
	if ep == nil {
		return nil
	}
	return ep.under[parent]
}

func (ep *endpoint) extra(name string) Extra {
	if ep == nil {
		return nil
	}
	return ep.Extras[name]
}

// filter selects the rows under the parent row pid.
func (l *link) filter(pid uint64) dataapi.Filter {
	return dataapi.Filter{Field: l.field, Op: "eq", Values: []protoreflect.Value{protoreflect.ValueOfUint64(pid)}}
}

func (ep *endpoint) collection(txn *memdb.Txn) *dataapi.Collection {
	return &dataapi.Collection{
		Plural: ep.Plural, ID: ep.id,
		Scan:  func(desc bool) iter.Seq[proto.Message] { return state.Scan(txn, ep.Table, desc) },
		Count: func() int { return state.Count(txn, ep.Table) },
		Unfinished: func(desc bool) iter.Seq[proto.Message] {
			return state.ScanUnfinished(txn, ep.Table, desc)
		},
		UnfinishedWhen: ep.Unfinished,
		ScanEq: func(f protoreflect.FieldDescriptor, v protoreflect.Value, desc bool) (iter.Seq[proto.Message], bool) {
			index, ok := ep.Indexes[string(f.Name())]
			if !ok {
				return nil, false
			}
			return state.ScanIndex(txn, ep.Table, index, desc, v.Interface()), true
		},
	}
}

// find returns the row key names: at the top level (l nil) by id, or by
// Name when key is not a number; under a parent row pid, by the first of
// l's keys that key parses as. what says what was looked for, e.g.
// `builds with number 3`; ok is false when key cannot name a row (what
// says why).
func (ep *endpoint) find(txn *memdb.Txn, l *link, pid uint64, key string) (row proto.Message, what string, ok bool) {
	if l == nil {
		if n, err := strconv.ParseUint(key, 10, 64); err == nil {
			return state.Lookup(txn, ep.Table, n), fmt.Sprintf("%s with id %d", ep.Plural, n), true
		}
		if ep.Name == "" {
			return nil, ep.Plural + " id must be a number", false
		}
		return state.First(txn, ep.Table, ep.Indexes[ep.Name], key), fmt.Sprintf("%s with %s %q", ep.Plural, ep.Name, key), true
	}
	for i, k := range l.keys {
		q, err := dataapi.ParseQuery(url.Values{string(k.Name()): {key}}, ep.md)
		if err != nil {
			continue // e.g. a name where a number was tried
		}
		what = fmt.Sprintf("%s with %s %s", ep.Plural, k.Name(), key)
		if i == 0 && l.KeyIndex != "" {
			return state.First(txn, ep.Table, l.KeyIndex, pid, q.Filters[0].Values[0].Interface()), what, true
		}
		q.Filters = append([]dataapi.Filter{l.filter(pid)}, q.Filters...)
		q.Limit = 1
		if page, _ := ep.collection(txn).Run(q); len(page) > 0 {
			return page[0], what, true
		}
		return nil, what, true
	}
	if len(l.keys) == 0 {
		return nil, fmt.Sprintf("%s under %s are not addressed one by one", ep.Plural, l.Plural), false
	}
	return nil, fmt.Sprintf("%s %s must be a number", ep.Plural, l.keys[0].Name()), false
}

// sourcestampsOf is a buildset's sourcestamps as Buildbot shows them: a list
// of the rows its sourcestamp_ids name, in that order, each as view shows
// it, through c when it is not nil; an id with no row is left out.
func sourcestampsOf(view dataapi.View, c *rowCache) Join {
	return func(txn *memdb.Txn, row proto.Message) any {
		view := view
		if c != nil {
			view.Cache = c.in(txn)
		}
		out := []any{}
		for _, id := range row.(*messages.Buildset).GetSourcestampIds() {
			if ss := state.Lookup(txn, state.TableSourceStamps, id); ss != nil {
				if b, err := view.Rendered(ss); err == nil {
					out = append(out, b)
				}
			}
		}
		return out
	}
}

// patchOf is a sourcestamp's patch: null when it has none. Patches are not
// stored, so one that has a patch shows just {"patchid": N} of Buildbot's
// patch object.
func patchOf(m proto.Message) any {
	if id := m.(*messages.SourceStamp).GetPatchid(); id != 0 {
		return map[string]any{"patchid": id}
	}
	return nil
}

// connectedTo is a worker's connected_to as Buildbot shows it:
// [{"masterid": N}, …].
func connectedTo(m proto.Message) any {
	ids := m.(*messages.Worker).GetConnectedTo()
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"masterid": id}
	}
	return out
}

// jsonObject is s, a JSON object as text, to be rendered as itself: {} when
// s is empty, and s as a string when it is not valid JSON (never produce
// invalid JSON).
func jsonObject(s string) any {
	switch {
	case s == "":
		return map[string]any{}
	case !json.Valid([]byte(s)):
		return s
	}
	return json.RawMessage(s)
}

// propertiesOf serves {plural}/{id}/properties: the row's properties as
// Buildbot's one-element list [{"name": [value, source], …}], through the
// Properties cache.
func propertiesOf(rt *service.Runtime, w http.ResponseWriter, _ *http.Request, _ *memdb.Txn, row proto.Message) {
	var c *cache.Cache
	m := row.ProtoReflect()
	key := cache.Key{Kind: string(m.Descriptor().Name()), ID: m.Get(m.Descriptor().Fields().ByName("id")).Uint()}
	if rt.Caches != nil {
		c = rt.Caches.Cache(cache.Properties)
		if b, ok := c.Get(key, row); ok {
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
			return
		}
	}
	props := dataapi.Record(m, []string{"properties"})["properties"]
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as httpserve.WriteJSON
	if err := enc.Encode(map[string]any{"properties": []any{props}, "meta": map[string]any{"total": 1}}); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	b := buf.Bytes()
	if c != nil {
		c.Add(key, row, b)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// filename makes s safe as a header's filename token: Buildbot sends the
// name bare, which breaks on separators, so they become '_' here.
func filename(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"\;,/`, r) {
			return '_'
		}
		return r
	}, s)
}

func writePage(w http.ResponseWriter, view dataapi.View, plural string, page []proto.Message, total int, fields []string) {
	w.Header().Set("Content-Type", "application/json")
	_ = view.Write(w, plural, page, total, fields)
}

func writeJSON(w http.ResponseWriter, v any) { httpserve.WriteJSON(w, http.StatusOK, v) }

func writeError(w http.ResponseWriter, code int, msg string) {
	httpserve.WriteJSON(w, code, map[string]string{"error": msg})
}
