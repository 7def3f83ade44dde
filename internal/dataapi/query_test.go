package dataapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/buildmaster/buildmaster/messages"
)

// The tests use TreeNode as a record type: strings (name, kind), int64s
// (restarts, processed), nested messages and lists.
var nodeType = (&messages.TreeNode{}).ProtoReflect().Descriptor()

func nodes() []*messages.TreeNode {
	return []*messages.TreeNode{
		{Name: "a", Kind: "worker", Restarts: 3, Processed: 1},
		{Name: "b", Kind: "builder", Restarts: 0, Processed: 2},
		{Name: "c", Kind: "worker", Restarts: 1, Processed: 3},
		{Name: "d", Kind: "builder", Restarts: 3, Processed: 4},
		{Name: "e", Kind: "scheduler", Restarts: 2, Processed: 5},
	}
}

// collection serves nodes in natural order by processed (their "id").
func collection(rows []*messages.TreeNode, scanned *int) *Collection {
	return &Collection{
		Plural: "nodes",
		ID:     nodeType.Fields().ByName("processed"),
		Scan: func(desc bool) iter.Seq[proto.Message] {
			return func(yield func(proto.Message) bool) {
				for i := range rows {
					j := i
					if desc {
						j = len(rows) - 1 - i
					}
					*scanned++
					if !yield(rows[j]) {
						return
					}
				}
			}
		},
		Count: func() int { return len(rows) },
	}
}

func run(t *testing.T, query string) (names []string, total, scanned int) {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseQuery(v, nodeType)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	page, total := collection(nodes(), &scanned).Run(q)
	for _, m := range page {
		names = append(names, m.(*messages.TreeNode).GetName())
	}
	return names, total, scanned
}

func TestQueries(t *testing.T) {
	for _, tc := range []struct {
		query   string
		want    []string
		total   int
		scanned int // rows read; -1 to skip
	}{
		{"", []string{"a", "b", "c", "d", "e"}, 5, 5},
		{"kind=worker", []string{"a", "c"}, 2, 5},
		{"kind__eq=worker&kind__eq=scheduler", []string{"a", "c", "e"}, 3, 5},
		{"kind__ne=worker&kind__ne=builder", []string{"e"}, 1, 5},
		{"kind__in=worker,scheduler", []string{"a", "c", "e"}, 3, 5},
		{"kind__in=worker&kind__in=scheduler", []string{"a", "c", "e"}, 3, 5},
		{"kind__notin=worker,builder", []string{"e"}, 1, 5},
		{"restarts__gt=1", []string{"a", "d", "e"}, 3, 5},
		{"restarts__ge=1&restarts__lt=3", []string{"c", "e"}, 2, 5},
		{"restarts__le=0", []string{"b"}, 1, 5},
		{"kind__contains=ork", []string{"a", "c"}, 2, 5},
		{"kind__contains=ched&kind__contains=uild", []string{"b", "d", "e"}, 3, 5},
		{"order=-restarts&order=name", []string{"a", "d", "e", "c", "b"}, 5, -1},
		{"order=kind&limit=2&offset=1", []string{"d", "e"}, 5, -1},
		// Natural order: the scan stops once the page is full, and the
		// total comes from the count.
		{"limit=2", []string{"a", "b"}, 5, 2},
		{"order=-processed&limit=2", []string{"e", "d"}, 5, 2},
		{"order=-processed&offset=1&limit=2", []string{"d", "c"}, 5, 3},
		{"offset=10", nil, 5, 5},
		{"kind=worker&limit=1", []string{"a"}, 2, 5}, // filters must count every match
	} {
		names, total, scanned := run(t, tc.query)
		if !slices.Equal(names, tc.want) || total != tc.total || (tc.scanned >= 0 && scanned != tc.scanned) {
			t.Errorf("%q: got %v total %d after reading %d rows; want %v total %d after %d",
				tc.query, names, total, scanned, tc.want, tc.total, tc.scanned)
		}
	}
}

// TestIndexedEquality: an equality filter on an indexed field reads only
// the matching rows, in the order asked, and still applies the other filters.
func TestIndexedEquality(t *testing.T) {
	var scanned, indexed int
	c := collection(nodes(), &scanned)
	kind := nodeType.Fields().ByName("kind")
	c.ScanEq = func(f protoreflect.FieldDescriptor, v protoreflect.Value, desc bool) (iter.Seq[proto.Message], bool) {
		if f != kind {
			return nil, false
		}
		return func(yield func(proto.Message) bool) {
			rows := nodes()
			if desc {
				slices.Reverse(rows)
			}
			for _, r := range rows {
				if r.GetKind() == v.String() {
					indexed++
					if !yield(r) {
						return
					}
				}
			}
		}, true
	}
	for _, tc := range []struct {
		query string
		want  []string
		total int
	}{
		{"kind=worker", []string{"a", "c"}, 2},
		{"kind=worker&order=-processed", []string{"c", "a"}, 2},
		{"kind=worker&restarts__gt=2", []string{"a"}, 1},
		{"kind=worker&limit=1&offset=1", []string{"c"}, 2},
	} {
		scanned, indexed = 0, 0
		q, err := ParseQuery(mustQuery(t, tc.query), nodeType)
		if err != nil {
			t.Fatal(err)
		}
		page, total := c.Run(q)
		var names []string
		for _, m := range page {
			names = append(names, m.(*messages.TreeNode).GetName())
		}
		if !slices.Equal(names, tc.want) || total != tc.total || scanned != 0 || indexed != 2 {
			t.Errorf("%q: got %v total %d, %d rows scanned, %d from the index; want %v total %d, 0 scanned, 2 indexed",
				tc.query, names, total, scanned, indexed, tc.want, tc.total)
		}
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBadQueriesSayWhatIsWrong(t *testing.T) {
	for query, want := range map[string]string{
		"limit=-1":             `limit="-1": want a whole number`,
		"limit=x":              `limit="x"`,
		"limit=10001":          "at most 10000",
		"offset=1.5":           `offset="1.5"`,
		"nope=1":               `has no field "nope"`,
		"name__like=a":         `unknown operator "like"`,
		"restarts=ten":         `restarts="ten": want an integer`,
		"children=x":           `"children" is not a simple field`,
		"order=-last_failure":  `"last_failure" is not a simple field`,
		"restarts__contains=1": "contains needs a text field",
		"field=bogus":          `field="bogus"`,
	} {
		v, _ := url.ParseQuery(query)
		_, err := ParseQuery(v, nodeType)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", query, err, want)
		}
	}
	// Every problem at once.
	v, _ := url.ParseQuery("limit=x&offset=-2&nope=1")
	if _, err := ParseQuery(v, nodeType); err == nil || strings.Count(err.Error(), ";") != 2 {
		t.Fatalf("want three problems reported: %v", err)
	}
}

func TestBooleansTakeBuildbotSpellings(t *testing.T) {
	fd := (&messages.DebugConfig{}).ProtoReflect().Descriptor().Fields().ByName("actions")
	for s, want := range map[string]bool{"on": true, "yes": true, "1": true, "TRUE": true, "off": false, "no": false, "0": false, "false": false} {
		v, err := parseValue(fd, s)
		if err != nil || v.Bool() != want {
			t.Errorf("%q: %v %v", s, v, err)
		}
	}
	if _, err := parseValue(fd, "maybe"); err == nil {
		t.Error("maybe is not a boolean")
	}
}

func TestWriteEnvelopeAndFieldSelection(t *testing.T) {
	var b bytes.Buffer
	page := []proto.Message{&messages.TreeNode{Name: "a", Restarts: 3, Children: []*messages.TreeNode{{Name: "x"}}}}
	if err := Write(&b, "nodes", page, 7, nil); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Nodes []map[string]any `json:"nodes"`
		Meta  struct{ Total int }
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	n := got.Nodes[0]
	if got.Meta.Total != 7 || n["name"] != "a" || n["restarts"] != float64(3) || n["last_failure"] != nil || n["status"] != "" {
		t.Fatalf("envelope = %s", b.String())
	}
	if kids := n["children"].([]any); len(kids) != 1 || kids[0].(map[string]any)["name"] != "x" {
		t.Fatalf("children = %v", n["children"])
	}
	b.Reset()
	Write(&b, "nodes", page, 1, []string{"name", "restarts"})
	if s := b.String(); strings.Contains(s, "children") || !strings.Contains(s, `"restarts":3`) {
		t.Fatalf("field selection: %s", s)
	}
}

func TestPropertiesRenderAsBuildbotDoes(t *testing.T) {
	c := &messages.Change{Properties: []*messages.Property{
		{Name: "n", ValueJson: `{"a":[1,2]}`, Source: "Change"},
		{Name: "s", ValueJson: `"v"`, Source: "Change"},
		{Name: "broken", ValueJson: `{not json`, Source: "x"},
	}}
	var b bytes.Buffer
	if err := Write(&b, "changes", []proto.Message{c}, 1, []string{"properties"}); err != nil {
		t.Fatal(err)
	}
	want := `{"changes":[{"properties":{"broken":["{not json","x"],"n":[{"a":[1,2]},"Change"],"s":["v","Change"]}}],"meta":{"total":1}}`
	if got := strings.TrimSpace(b.String()); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestUnsetOptionalIsNull(t *testing.T) {
	zero := int32(0)
	var b bytes.Buffer
	Write(&b, "steps", []proto.Message{&messages.Step{Id: 1}, &messages.Step{Id: 2, Results: &zero}}, 2, []string{"id", "results", "number"})
	want := `{"meta":{"total":2},"steps":[{"id":1,"number":0,"results":null},{"id":2,"number":0,"results":0}]}`
	if got := strings.TrimSpace(b.String()); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestViewReshapesAHiddenField: a derived field under a hidden field's name
// shows it in another shape and can be selected but not filtered on or
// sorted by; a Null field shows null when zero and still filters on its
// stored value.
func TestViewReshapesAHiddenField(t *testing.T) {
	v := View{
		Hidden: map[string]bool{"children": true},
		Derived: map[string]func(proto.Message) any{"children": func(m proto.Message) any {
			out := []any{}
			for _, c := range m.(*messages.TreeNode).GetChildren() {
				out = append(out, map[string]any{"child": c.GetName()})
			}
			return out
		}},
		Null: map[string]bool{"status": true, "kind": true},
	}
	q, err := v.ParseQuery(url.Values{"field": {"name", "children", "status", "kind"}, "status": {""}}, nodeType)
	if err != nil {
		t.Fatal(err)
	}
	page := []proto.Message{&messages.TreeNode{Name: "a", Kind: "worker", Children: []*messages.TreeNode{{Name: "x"}, {Name: "y"}}}}
	if !q.Match(page[0].ProtoReflect()) {
		t.Error("status= does not match an empty status")
	}
	var b bytes.Buffer
	if err := v.Write(&b, "nodes", page, 1, q.Fields); err != nil {
		t.Fatal(err)
	}
	want := `{"meta":{"total":1},"nodes":[{"children":[{"child":"x"},{"child":"y"}],"kind":"worker","name":"a","status":null}]}`
	if got := strings.TrimSpace(b.String()); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{"children=x", "order=children", "children__contains=x"} {
		vals, _ := url.ParseQuery(bad)
		if _, err := v.ParseQuery(vals, nodeType); err == nil || !strings.Contains(err.Error(), "computed") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestSecretsAreNeverRendered(t *testing.T) {
	rec := Record((&messages.WorkerConfig{Name: "w", Password: "hunter2"}).ProtoReflect(), nil)
	if _, ok := rec["password"]; ok || rec["name"] != "w" {
		t.Fatalf("record = %v", rec)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5&offset=2", "order=-restarts&order=name", "kind__contains=x&restarts__gt=1",
		"name__eq=a&name__eq=b", "field=name", "limit=-1", "x__y__z=1", "%zz", "restarts=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, nodeType)
		if err != nil {
			return
		}
		var scanned int
		page, total := collection(nodes(), &scanned).Run(q)
		if total < len(page) || total > 5 || (q.Limit > 0 && len(page) > q.Limit) {
			t.Fatalf("%q: page %d, total %d", raw, len(page), total)
		}
		var b bytes.Buffer
		if err := Write(&b, "nodes", page, total, q.Fields); err != nil {
			t.Fatal(err)
		}
	})
}

// Example of a data API query evaluated over a collection.
func ExampleParseQuery() {
	v, _ := url.ParseQuery("kind=worker&order=-restarts")
	q, _ := ParseQuery(v, nodeType)
	var scanned int
	page, total := collection(nodes(), &scanned).Run(q)
	for _, m := range page {
		fmt.Println(m.(*messages.TreeNode).GetName())
	}
	fmt.Println("total", total)
	// Output:
	// a
	// c
	// total 2
}

// TestUnfinishedFiltersReadOnlyUnfinishedRows: a filter that holds only
// where a field named in UnfinishedWhen is false reads Unfinished, not
// Scan, in both the streaming and the sorting paths; other filters on it
// scan every row.
func TestUnfinishedFiltersReadOnlyUnfinishedRows(t *testing.T) {
	view := View{Flags: map[string]func(proto.Message) bool{
		"done": func(m proto.Message) bool { return m.(*messages.TreeNode).GetRestarts() == 0 }}}
	var scanned, unfinished int
	c := collection(nodes(), &scanned)
	c.UnfinishedWhen = []string{"done"}
	c.Unfinished = func(desc bool) iter.Seq[proto.Message] {
		return func(yield func(proto.Message) bool) {
			rows := nodes()
			if desc {
				slices.Reverse(rows)
			}
			for _, r := range rows {
				if r.GetRestarts() != 0 {
					unfinished++
					if !yield(r) {
						return
					}
				}
			}
		}
	}
	for _, tc := range []struct {
		query     string
		want      []string
		fromScan  bool
		wantTotal int
	}{
		{"done=false", []string{"a", "c", "d", "e"}, false, 4},
		{"done=false&order=-processed&limit=2", []string{"e", "d"}, false, 4},
		{"done__ne=true&order=name", []string{"a", "c", "d", "e"}, false, 4},
		{"done__in=false,false&kind=worker", []string{"a", "c"}, false, 2},
		{"done=true", []string{"b"}, true, 1},
		{"done__ne=false", []string{"b"}, true, 1},
		{"done__in=false,true&limit=1", []string{"a"}, true, 5},
	} {
		scanned, unfinished = 0, 0
		q, err := view.ParseQuery(mustQuery(t, tc.query), nodeType)
		if err != nil {
			t.Fatal(err)
		}
		page, total := c.Run(q)
		var names []string
		for _, m := range page {
			names = append(names, m.(*messages.TreeNode).GetName())
		}
		if !slices.Equal(names, tc.want) || total != tc.wantTotal || (scanned > 0) != tc.fromScan || (unfinished > 0) == tc.fromScan {
			t.Errorf("%q: got %v total %d, %d rows scanned, %d unfinished read; want %v total %d, from Scan %v",
				tc.query, names, total, scanned, unfinished, tc.want, tc.wantTotal, tc.fromScan)
		}
	}
}
