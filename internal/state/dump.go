package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Dump writes every row of every table to w in a canonical text form: one
// line per row, "table {json}", tables in Tables order, rows in id order.
// Two databases with the same content dump to the same bytes.
func Dump(w io.Writer, txn *memdb.Txn) error {
	for _, t := range Tables {
		it, err := txn.Get(t, IndexID+"_prefix")
		if err != nil {
			return err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(raw.(proto.Message))
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, js); err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "%s %s\n", t, buf.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}
