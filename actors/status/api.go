package status

import (
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/dataapi"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Endpoint is one table of the state served by the data API, as Buildbot
// serves it: GET /api/v2/{Plural} (the collection, with Buildbot's query
// parameters) and GET /api/v2/{Plural}/{id} (one row, as a one-element list).
type Endpoint struct {
	Plural string        // e.g. "changes"
	Table  string        // the state table, e.g. state.TableChanges
	Record proto.Message // an empty record of the table's type
	ID     string        // the record's id field, e.g. "changeid"
	// Indexes maps a field to the table's index on it alone, so that an
	// equality filter on the field reads only the matching rows.
	Indexes map[string]string
}

// Endpoints lists what the data API serves. A new table is one line here.
func Endpoints() []Endpoint {
	return []Endpoint{
		{Plural: "changes", Table: state.TableChanges, Record: &messages.Change{}, ID: "changeid",
			Indexes: map[string]string{"branch": state.IndexBranch}},
	}
}

// API serves the Endpoints under /api/v2/. Anything else under /api/v2/ is
// 404 with {"error": …}, as in Buildbot; a bad query is 400, naming every
// problem.
func API(rt *service.Runtime) http.Handler {
	mux := http.NewServeMux()
	for _, e := range Endpoints() {
		md := e.Record.ProtoReflect().Descriptor()
		id := md.Fields().ByName(protoreflect.Name(e.ID))
		if id == nil {
			panic(fmt.Sprintf("status: %s has no id field %q", md.FullName(), e.ID))
		}
		mux.HandleFunc("GET /api/v2/"+e.Plural, func(w http.ResponseWriter, r *http.Request) {
			e.list(rt, md, id, w, r)
		})
		mux.HandleFunc("GET /api/v2/"+e.Plural+"/{id}", func(w http.ResponseWriter, r *http.Request) {
			e.one(rt, md, w, r)
		})
	}
	mux.HandleFunc("GET /api/v2/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Invalid path: "+r.URL.Path)
	})
	return mux
}

func (e Endpoint) list(rt *service.Runtime, md protoreflect.MessageDescriptor, id protoreflect.FieldDescriptor, w http.ResponseWriter, r *http.Request) {
	q, err := dataapi.ParseQuery(r.URL.Query(), md)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	txn := rt.DB.Read()
	c := dataapi.Collection{
		Plural: e.Plural, ID: id,
		Scan:  func(desc bool) iter.Seq[proto.Message] { return state.Scan(txn, e.Table, desc) },
		Count: func() int { return state.Count(txn, e.Table) },
		ScanEq: func(f protoreflect.FieldDescriptor, v protoreflect.Value, desc bool) (iter.Seq[proto.Message], bool) {
			index, ok := e.Indexes[string(f.Name())]
			if !ok {
				return nil, false
			}
			return state.ScanIndex(txn, e.Table, index, desc, v.Interface()), true
		},
	}
	page, total := c.Run(q)
	writePage(w, e.Plural, page, total, q.Fields)
}

func (e Endpoint) one(rt *service.Runtime, md protoreflect.MessageDescriptor, w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid path: %s (%s id must be a number)", r.URL.Path, e.Plural))
		return
	}
	q, err := dataapi.ParseQuery(r.URL.Query(), md)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	row := state.Lookup(rt.DB.Read(), e.Table, n)
	if row == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s with id %d", e.Plural, n))
		return
	}
	writePage(w, e.Plural, []proto.Message{row}, 1, q.Fields)
}

func writePage(w http.ResponseWriter, plural string, page []proto.Message, total int, fields []string) {
	w.Header().Set("Content-Type", "application/json")
	_ = dataapi.Write(w, plural, page, total, fields)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
