package state

import "fmt"

// keyIndex is a memdb indexer whose keys are an order-preserving encoding of
// a tuple of values (integers in big-endian 6-bit digits, the signed ones
// with their sign bit flipped; strings NUL-terminated), so that iteration
// follows numeric order (memdb's UintFieldIndex uses varints, which do not
// sort). fn returns a row's values, or ok=false to leave the row out of
// the index.
type keyIndex struct {
	fn func(obj any) (vals keyVals, ok bool)
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

// encodeKey encodes vals (at most maxKeyVals of uint64, int64, int32, int or
// string) in keyIndex's order-preserving form, in a slice with room bytes
// free after the key.
func encodeKey(room int, vals ...any) ([]byte, error) {
	if len(vals) > maxKeyVals {
		return nil, fmt.Errorf("state: index key of %d values, at most %d", len(vals), maxKeyVals)
	}
	k := key()
	for _, v := range vals {
		switch x := v.(type) {
		case uint64:
			k = k.uint(x)
		case int64:
			k = k.int(x)
		case int32:
			k = k.int(int64(x))
		case int:
			k = k.int(int64(x))
		case string:
			k = k.str(x)
		default:
			return nil, fmt.Errorf("state: index key of type %T not supported", v)
		}
	}
	return k.encode(room), nil
}

// FromObject returns the key of a row, or ok=false to leave it out
// (memdb.SingleIndexer).
func (k keyIndex) FromObject(raw any) (bool, []byte, error) {
	vals, ok := k.fn(raw)
	if !ok {
		return false, nil, nil
	}
	return true, vals.encode(k.room), nil
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

// maxKeyVals is the most values an index key holds.
const maxKeyVals = 4

// keyVals are a row's values for an index key, built with key().uint, .int
// and .str. It is a value, not a []any, so that indexing a row allocates
// nothing but its key (a []any of boxed integers cost up to three
// allocations more for each index of each row written).
type keyVals struct {
	n    int
	vals [maxKeyVals]keyVal
}

// keyVal is one value: an integer already in its unsigned order (str
// false), or a string.
type keyVal struct {
	u   uint64
	s   string
	str bool
}

// key starts the values of an index key.
func key() keyVals { return keyVals{} }

// uint adds an unsigned integer.
func (v keyVals) uint(x uint64) keyVals { return v.add(keyVal{u: x}) }

// int adds a signed integer (its sign bit flipped, so that negative ones
// sort first).
func (v keyVals) int(x int64) keyVals { return v.add(keyVal{u: uint64(x) ^ (1 << 63)}) }

// str adds a string.
func (v keyVals) str(s string) keyVals { return v.add(keyVal{s: s, str: true}) }

func (v keyVals) add(x keyVal) keyVals {
	v.vals[v.n] = x // past maxKeyVals: a schema bug, found by any insert
	v.n++
	return v
}

// encode returns the key of v in one allocation, with room bytes free
// after it.
func (v keyVals) encode(room int) []byte {
	n := room
	for _, x := range v.vals[:v.n] {
		if x.str {
			n += len(x.s) + 1
		} else {
			n += keyDigits
		}
	}
	b := make([]byte, 0, n)
	for _, x := range v.vals[:v.n] {
		if x.str {
			b = append(append(b, x.s...), 0)
		} else {
			b = appendUint64(b, x.u)
		}
	}
	return b
}
