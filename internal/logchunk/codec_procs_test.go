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
	enc, dec := poolSizes(t, c)
	if want := min(4, runtime.NumCPU()); enc != want {
		t.Errorf("%d encoders at once, want %d", enc, want)
	}
	if want := min(4, runtime.NumCPU()); dec != want {
		t.Errorf("%d decoders at once, want %d", dec, want)
	}
}

// On a machine of many CPUs (runtime.NumCPU ignores a container's CPU
// limit) the codec still runs at most 4 encoders and 4 decoders at once.
func TestCodecPoolsBounded(t *testing.T) {
	c, err := newCodecOn(zstd.SpeedFastest, 96)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if enc, dec := poolSizes(t, c); enc != 4 || dec != 4 {
		t.Errorf("96 CPUs: %d encoders and %d decoders at once, want 4 and 4", enc, dec)
	}
}

// poolSizes is how many encoders and decoders c runs at once. zstd does
// not say; its pools' capacities do (reflect reads them; the encoders'
// pool is made at the first use).
func poolSizes(t *testing.T, c *codec) (enc, dec int) {
	t.Helper()
	if _, err := c.dec.DecodeAll(c.enc.EncodeAll([]byte("a line"), nil), make([]byte, 0, 64)); err != nil {
		t.Fatal(err)
	}
	return reflect.ValueOf(c.enc).Elem().FieldByName("encoders").Cap(), reflect.ValueOf(c.dec).Elem().FieldByName("decoders").Cap()
}
