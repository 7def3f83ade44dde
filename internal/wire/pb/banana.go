package pb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Banana is Twisted's s-expression framing (twisted/spread/banana.py). An
// element is a base-128 number, least significant digit first, each digit
// a byte below 0x80, followed by a type byte:
//
//	0x80 list     the number is the count of elements that follow
//	0x81 int      a non-negative integer below 2^31
//	0x82 string   the number is the length of the bytes that follow
//	0x83 neg      a negative integer down to -2^31
//	0x84 float    no number; 8 bytes of IEEE 754 big-endian follow
//	0x85 longint  a larger positive integer
//	0x86 longneg  a larger negative integer
//	0x87 vocab    the number is an index into the dialect's vocabulary
//
// In Go an s-expression is []any (list), int64, []byte (string) or
// float64. The pb dialect abbreviates 31 common strings (vocabulary).
const (
	typeList    = 0x80
	typeInt     = 0x81
	typeString  = 0x82
	typeNeg     = 0x83
	typeFloat   = 0x84
	typeLongInt = 0x85
	typeLongNeg = 0x86
	typeVocab   = 0x87
)

// Limits of Twisted's Banana: a number prefix of at most 64 digits, and
// strings and lists of at most 640 KiB (SIZE_LIMIT). A peer running
// Twisted refuses anything larger, so the decoder refuses it too.
const (
	prefixLimit    = 64
	bananaSizeMax  = 640 * 1024
	defaultMaxMsg  = 1 << 20 // bytes of one top-level expression
	defaultMaxNest = 64      // list nesting; PB messages nest about 8 deep
	smallIntMax    = 1<<31 - 1
	smallIntMin    = -(1 << 31)
)

// vocabulary is the pb dialect's table (Banana.outgoingVocabulary).
var vocabulary = [...]string{
	1: "None", 2: "class", 3: "dereference", 4: "reference", 5: "dictionary",
	6: "function", 7: "instance", 8: "list", 9: "module", 10: "persistent",
	11: "tuple", 12: "unpersistable", 13: "copy", 14: "cache", 15: "cached",
	16: "remote", 17: "local", 18: "lcache", 19: "version", 20: "login",
	21: "password", 22: "challenge", 23: "logged_in", 24: "not_logged_in",
	25: "cachemessage", 26: "message", 27: "answer", 28: "error", 29: "decref",
	30: "decache", 31: "uncache",
}

// vocabBytes holds the vocabulary as the shared, read-only []byte values
// the decoder returns for vocab elements, boxed once.
var vocabBytes = func() [len(vocabulary)]any {
	var out [len(vocabulary)]any
	for i, w := range vocabulary {
		if w != "" {
			out[i] = []byte(w)
		}
	}
	return out
}()

var vocabIndex = func() map[string]int {
	m := make(map[string]int, len(vocabulary))
	for i, w := range vocabulary {
		if w != "" {
			m[w] = i
		}
	}
	return m
}()

// LimitError says an input exceeded a limit; the connection is closed
// with it as the reason.
type LimitError struct {
	What  string
	Size  int
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("banana: %s of %d bytes exceeds the limit of %d", e.What, e.Size, e.Limit)
}

// Decoder reads Banana expressions from a stream, one top-level
// expression at a time, holding no more memory than the expression's
// checked size.
type Decoder struct {
	src io.Reader // what r reads
	r   *bufio.Reader
	// Vocab is true once the pb dialect is selected: vocab elements are
	// accepted. Before that (and in the "none" dialect) they are errors.
	Vocab bool
	// MaxMessage bounds the encoded size of one top-level expression.
	MaxMessage int
	// MaxNest bounds list nesting.
	MaxNest int
	// MaxElements, if positive, bounds the elements of one expression
	// (lists, strings and numbers, nested ones too): each costs some 40
	// bytes decoded however few it takes on the wire (an empty list, one
	// byte, is a 24-byte slice and a 16-byte slot in its list).
	MaxElements int

	used     int // bytes of the current expression read so far
	elements int // elements of the current expression read so far
	stack    []frame
	arena    []byte // where the current expression's short strings are cut from
}

const (
	arenaSize   = 512
	arenaString = 64 // strings up to this size share the arena
)

type frame struct {
	items []any
	want  int
}

// readBuffer is the read buffer of a Decoder (of a logged-in connection).
const readBuffer = 32 * 1024

// NewDecoder reads from r with the default limits (1 MiB per expression).
func NewDecoder(r io.Reader) *Decoder { return newDecoder(r, readBuffer) }

// newDecoder is NewDecoder with a read buffer of size bytes (unless r is a
// bufio.Reader, which it reads through).
func newDecoder(r io.Reader, size int) *Decoder {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, size)
	}
	return &Decoder{src: r, r: br, MaxMessage: defaultMaxMsg, MaxNest: defaultMaxNest}
}

// growBuffer gives d a read buffer of size bytes if its own is smaller;
// the bytes the old one holds are read first. Call it between Decodes.
func (d *Decoder) growBuffer(size int) {
	if d.r.Size() >= size {
		return
	}
	src := d.src
	if n := d.r.Buffered(); n > 0 {
		held, _ := d.r.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(held)), src)
	}
	d.r = bufio.NewReaderSize(src, size)
}

// Decode returns the next complete top-level expression. Errors other
// than io.EOF at an expression boundary leave the stream unusable.
func (d *Decoder) Decode() (any, error) {
	d.used = 0
	d.elements = 0
	d.stack = d.stack[:0]
	d.arena = nil
	for {
		item, err := d.element()
		if err != nil {
			if errors.Is(err, io.EOF) && (d.used > 0 || len(d.stack) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if d.elements++; d.MaxElements > 0 && d.elements > d.MaxElements {
			return nil, fmt.Errorf("banana: an expression of more than %d elements", d.MaxElements)
		}
		if item == nil { // a list opened
			continue
		}
		// Attach the item to the open lists, closing the full ones.
		for {
			if len(d.stack) == 0 {
				return item, nil
			}
			top := &d.stack[len(d.stack)-1]
			top.items = append(top.items, item)
			if len(top.items) < top.want {
				break
			}
			item = top.items
			d.stack = d.stack[:len(d.stack)-1]
		}
	}
}

// element reads one element. An opened non-empty list is pushed on the
// stack and reported as nil.
func (d *Decoder) element() (any, error) {
	var digits [prefixLimit]byte
	n := 0
	var typ byte
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if err := d.spend(1); err != nil {
			return nil, err
		}
		if c >= 0x80 {
			typ = c
			break
		}
		if n == prefixLimit {
			return nil, fmt.Errorf("banana: number prefix longer than %d bytes", prefixLimit)
		}
		digits[n] = c
		n++
	}
	prefix := digits[:n]
	switch typ {
	case typeList:
		count, err := smallNumber(prefix, bananaSizeMax, "list length")
		if err != nil {
			return nil, err
		}
		if count == 0 {
			return []any{}, nil
		}
		// Every element takes at least one byte: a list cannot hold more
		// elements than the bytes left in the budget.
		if left := d.MaxMessage - d.used; count > left {
			return nil, &LimitError{What: "list", Size: d.used + count, Limit: d.MaxMessage}
		}
		if len(d.stack) >= d.MaxNest {
			return nil, fmt.Errorf("banana: lists nested deeper than %d", d.MaxNest)
		}
		d.stack = append(d.stack, frame{items: make([]any, 0, min(count, 16)), want: count})
		return nil, nil
	case typeString:
		size, err := smallNumber(prefix, bananaSizeMax, "string length")
		if err != nil {
			return nil, err
		}
		if err := d.spend(size); err != nil {
			return nil, err
		}
		b := d.alloc(size)
		if _, err := io.ReadFull(d.r, b); err != nil {
			return nil, unexpected(err)
		}
		return b, nil
	case typeInt, typeLongInt:
		v, err := number(prefix)
		if err != nil {
			return nil, err
		}
		return v, nil
	case typeNeg, typeLongNeg:
		v, err := magnitude(prefix, 1<<63)
		if err != nil {
			return nil, err
		}
		return -int64(v), nil
	case typeFloat:
		if err := d.spend(8); err != nil {
			return nil, err
		}
		var b [8]byte
		if _, err := io.ReadFull(d.r, b[:]); err != nil {
			return nil, unexpected(err)
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[:])), nil
	case typeVocab:
		if !d.Vocab {
			return nil, errors.New("banana: vocabulary element outside the pb dialect")
		}
		i, err := number(prefix)
		if err != nil {
			return nil, err
		}
		if i <= 0 || i >= int64(len(vocabBytes)) {
			return nil, fmt.Errorf("banana: unknown vocabulary index %d", i)
		}
		return vocabBytes[i], nil
	default:
		return nil, fmt.Errorf("banana: unknown type byte 0x%02x", typ)
	}
}

// alloc returns n bytes for a string: short strings are cut from one
// arena per expression (values of an expression share its lifetime),
// others get their own.
func (d *Decoder) alloc(n int) []byte {
	if n == 0 || n > arenaString {
		return make([]byte, n)
	}
	if len(d.arena)+n > cap(d.arena) {
		d.arena = make([]byte, 0, arenaSize)
	}
	start := len(d.arena)
	d.arena = d.arena[:start+n]
	return d.arena[start : start+n : start+n]
}

func (d *Decoder) spend(n int) error {
	if n > d.MaxMessage-d.used {
		return &LimitError{What: "message", Size: d.used + n, Limit: d.MaxMessage}
	}
	d.used += n
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// number decodes a base-128 prefix that must fit an int64.
func number(prefix []byte) (int64, error) {
	v, err := magnitude(prefix, math.MaxInt64)
	return int64(v), err
}

// magnitude decodes a base-128 prefix of at most limit.
func magnitude(prefix []byte, limit uint64) (uint64, error) {
	var v uint64
	for i := len(prefix) - 1; i >= 0; i-- {
		if v > (limit-uint64(prefix[i]))>>7 {
			return 0, errors.New("banana: integer does not fit 64 bits")
		}
		v = v<<7 | uint64(prefix[i])
	}
	return v, nil
}

func smallNumber(prefix []byte, limit int, what string) (int, error) {
	v, err := number(prefix)
	if err != nil || v > int64(limit) {
		return 0, &LimitError{What: what, Size: int(min(v, math.MaxInt32)), Limit: limit}
	}
	return int(v), nil
}

// AppendExpr appends the Banana encoding of v: []any (list), int64 or
// int (integer), []byte or string (string), float64. With vocab (the pb
// dialect) strings in the vocabulary are abbreviated, as Twisted does.
func AppendExpr(b []byte, v any, vocab bool) ([]byte, error) {
	switch v := v.(type) {
	case []any:
		if len(v) > bananaSizeMax {
			return b, &LimitError{What: "list", Size: len(v), Limit: bananaSizeMax}
		}
		b = appendPrefix(b, uint64(len(v)), typeList)
		for _, e := range v {
			var err error
			if b, err = AppendExpr(b, e, vocab); err != nil {
				return b, err
			}
		}
		return b, nil
	case int64:
		return appendInt(b, v), nil
	case int:
		return appendInt(b, int64(v)), nil
	case []byte:
		return appendString(b, v, vocab)
	case string:
		return appendString(b, v, vocab)
	case float64:
		b = append(b, typeFloat)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v)), nil
	default:
		return b, fmt.Errorf("banana: cannot encode %T", v)
	}
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= smallIntMax:
		return appendPrefix(b, uint64(v), typeInt)
	case v >= 0:
		return appendPrefix(b, uint64(v), typeLongInt)
	case v >= smallIntMin:
		return appendPrefix(b, uint64(-v), typeNeg)
	default:
		return appendPrefix(b, uint64(-(v+1))+1, typeLongNeg)
	}
}

func appendString[S ~string | ~[]byte](b []byte, s S, vocab bool) ([]byte, error) {
	if vocab && len(s) <= len("not_logged_in") {
		if i, ok := vocabIndex[string(s)]; ok {
			return appendPrefix(b, uint64(i), typeVocab), nil
		}
	}
	if len(s) > bananaSizeMax {
		return b, &LimitError{What: "string", Size: len(s), Limit: bananaSizeMax}
	}
	b = appendPrefix(b, uint64(len(s)), typeString)
	return append(b, s...), nil
}

// appendPrefix writes n in base 128, least significant digit first (a
// zero is one 0x00 digit), then the type byte.
func appendPrefix(b []byte, n uint64, typ byte) []byte {
	if n == 0 {
		return append(b, 0, typ)
	}
	for n > 0 {
		b = append(b, byte(n&0x7f))
		n >>= 7
	}
	return append(b, typ)
}

// appendSexp renders a decoded Banana expression for errors, logs and
// golden files: lists in brackets, strings quoted and cut after cut bytes,
// numbers as Go prints them. It stops adding once b holds limit bytes (0:
// no limit).
func appendSexp(b []byte, sexp any, cut, limit int) []byte {
	if limit > 0 && len(b) >= limit {
		return b
	}
	switch v := sexp.(type) {
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ' ')
			}
			if limit > 0 && len(b) >= limit {
				return append(b, "…]"...)
			}
			b = appendSexp(b, e, cut, limit)
		}
		return append(b, ']')
	case []byte:
		if len(v) > cut {
			b = strconv.AppendQuote(b, string(v[:cut]))
			return fmt.Appendf(b, "…(%d bytes)", len(v))
		}
		return strconv.AppendQuote(b, string(v))
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	default:
		return fmt.Appendf(b, "%v", v)
	}
}

// sexpString renders sexp for an error or a log: strings cut at 60 bytes,
// about 300 bytes in all.
func sexpString(sexp any) string {
	return string(appendSexp(nil, sexp, 60, 300))
}
