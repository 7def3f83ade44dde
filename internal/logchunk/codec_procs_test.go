package logchunk

import (
	"reflect"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// A codec made while the process runs on one P (the master starts on one,
// internal/procpolicy) still compresses and decompresses on several CPUs
// at once once GOMAXPROCS goes back up: zstd sizes its pools of encoders
// and decoders from GOMAXPROCS when they are made, for their whole life.
func TestCodecMadeOnOnePUsesEveryCPU(t *testing.T) {
	testkit.OnOneP(t)
	c, err := newCodec(zstd.SpeedFastest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	// zstd does not say how many; its pools' capacities do (reflect reads
	// them; the encoders' pool is made at the first use).
	if _, err := c.dec.DecodeAll(c.enc.EncodeAll([]byte("a line"), nil), make([]byte, 0, 64)); err != nil {
		t.Fatal(err)
	}
	enc := int64(reflect.ValueOf(c.enc).Elem().FieldByName("encoders").Cap())
	dec := int64(reflect.ValueOf(c.dec).Elem().FieldByName("decoders").Cap())
	if want := int64(min(4, runtime.NumCPU())); enc != want {
		t.Errorf("%d encoders at once, want %d", enc, want)
	}
	if want := int64(min(4, runtime.NumCPU())); dec != want {
		t.Errorf("%d decoders at once, want %d", dec, want)
	}
}
