package state

import "fmt"

// keyIndex is a memdb indexer whose keys are an order-preserving encoding of
// a tuple of values (integers in big-endian 6-bit digits, the signed ones
// with their sign bit flipped; strings NUL-terminated), so that iteration
// follows numeric order (memdb's UintFieldIndex uses varints, which do not
// sort). fn returns ok=false to leave a row out of the index.
type keyIndex struct {
	fn func(obj any) (vals []any, ok bool)
	// room is how many bytes a row's key keeps free after it: go-memdb
	// appends the row's id key to a non-unique index's key, and without
	// room that append copies the key (a snapshot restore of 1M changes makes over 2 million
	// such keys).
	room int
}

// appendUint64 appends v as 11 big-endian digits of 6 bits (the first of
// 4), one byte each, so that keys sort numerically and no radix node has
// more than 64 children: go-immutable-radix copies a node's whole edge
// list on every write under it, and ids, being dense, would fill nodes to
// 256 edges with whole bytes. Against bytes, a build's writes allocate 40%
// less (BenchmarkApplyBuild) and a snapshot restore, whose trees are one
// level deeper, takes about 12% longer (BenchmarkReadSnapshot); 4-bit
// digits would cost the restore 30%.
func appendUint64(b []byte, v uint64) []byte {
	b = append(b, byte(v>>60))
	for shift := 54; shift >= 0; shift -= 6 {
		b = append(b, byte(v>>shift)&0x3F)
	}
	return b
}

// keyDigits is the length of an encoded integer.
const keyDigits = 11

// encodeKey encodes vals (uint64, int64, int32, int or string) in keyIndex's
// order-preserving form, in a slice with room bytes free after the key.
func encodeKey(room int, vals ...any) ([]byte, error) {
	n := room
	for _, v := range vals {
		if s, ok := v.(string); ok {
			n += len(s) + 1
		} else {
			n += keyDigits
		}
	}
	b := make([]byte, 0, n)
	for _, v := range vals {
		switch x := v.(type) {
		case uint64:
			b = appendUint64(b, x)
		case int64:
			b = appendUint64(b, uint64(x)^(1<<63))
		case int32:
			b = appendUint64(b, uint64(int64(x))^(1<<63))
		case int:
			b = appendUint64(b, uint64(int64(x))^(1<<63))
		case string:
			b = append(b, x...)
			b = append(b, 0)
		default:
			return nil, fmt.Errorf("state: index key of type %T not supported", v)
		}
	}
	return b, nil
}

// FromObject returns the key of a row, or ok=false to leave it out
// (memdb.SingleIndexer).
func (k keyIndex) FromObject(raw any) (bool, []byte, error) {
	vals, ok := k.fn(raw)
	if !ok {
		return false, nil, nil
	}
	b, err := encodeKey(k.room, vals...)
	return err == nil, b, err
}

// FromArgs returns the key of a lookup (memdb.Indexer).
func (k keyIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("state: index lookup needs arguments")
	}
	return encodeKey(0, args...)
}

// PrefixFromArgs returns the key prefix of a prefix lookup
// (memdb.PrefixIndexer).
func (k keyIndex) PrefixFromArgs(args ...any) ([]byte, error) { return encodeKey(0, args...) }
