package control

import (
	"bytes"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/buildmaster/buildmaster/messages"
)

// TestMarshalEnvelope: the envelope is what proto.Marshal of anypb.New
// gives, for an empty message too (no value field), and opens again.
func TestMarshalEnvelope(t *testing.T) {
	for _, m := range []proto.Message{
		&messages.GetTreeRequest{Token: "tok", Text: true},
		&messages.ReconfigureRequest{Token: "tok", ConfigName: "m.yaml", ConfigYaml: bytes.Repeat([]byte("builders: []\n"), 20000)},
		&messages.GetTreeResponse{},
		&actor.PoisonPill{},
	} {
		got, err := marshalEnvelope(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || cap(got) != len(got) {
			t.Errorf("%T: %d bytes (cap %d), want anypb's %d", m, len(got), cap(got), len(want))
		}
		url, value, err := openEnvelope(got)
		if err != nil || url != a.GetTypeUrl() || !bytes.Equal(value, a.GetValue()) {
			t.Errorf("%T opens as %q, %d bytes, %v", m, url, len(value), err)
		}
	}
}

// FuzzOpenEnvelope: openEnvelope reads any bytes as proto.Unmarshal reads
// a google.protobuf.Any: the same error or none, the same type URL and value.
func FuzzOpenEnvelope(f *testing.F) {
	for _, m := range []proto.Message{&messages.GetTreeRequest{Token: "tok"}, &actor.PoisonPill{}} {
		a, _ := anypb.New(m)
		b, _ := proto.Marshal(a)
		f.Add(b)
		f.Add(append(b, b...))
	}
	f.Add([]byte{0x0a, 0x03, 'a', '/', 'b', 0x12, 0x02, 0xff, 0xff})
	f.Add([]byte{0x0a, 0x02, 0xff, 0xfe})                  // a type URL that is not UTF-8
	f.Add([]byte{0x08, 0x01, 0x12, 0x01, 'x', 0x1a, 0x00}) // field 1 as a varint, an unknown field
	f.Add([]byte{0x0b, 0x10, 0x01, 0x0c, 0x12, 0x01, 'v'}) // a group
	f.Add([]byte{0x0c})                                    // an end of group alone
	f.Add([]byte{0x12, 0x05, 'v'})                         // truncated
	f.Add([]byte{0x00, 0x01})                              // field number 0
	f.Fuzz(func(t *testing.T, data []byte) {
		url, value, err := openEnvelope(data)
		var a anypb.Any
		want := proto.Unmarshal(data, &a)
		if (err == nil) != (want == nil) {
			t.Fatalf("openEnvelope: %v; proto.Unmarshal: %v", err, want)
		}
		if err == nil && (url != a.GetTypeUrl() || !bytes.Equal(value, a.GetValue())) {
			t.Fatalf("openEnvelope: %q %x; proto.Unmarshal: %q %x", url, value, a.GetTypeUrl(), a.GetValue())
		}
	})
}

// BenchmarkEnvelope wraps a request of 130 KB (a config of 1,000 builders)
// and opens its reply's envelope, as Call does, against anypb's way (the
// bytes of both are the same): B/op shows the copy saved.
//
//	go test -run '^$' -bench Envelope -benchmem ./internal/control
func BenchmarkEnvelope(b *testing.B) {
	req := &messages.ReconfigureRequest{Token: "tok", ConfigYaml: bytes.Repeat([]byte("builders: []\n"), 10000)}
	reply, err := marshalEnvelope(req)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("anypb", func(b *testing.B) {
		for b.Loop() {
			a, _ := anypb.New(req)
			if _, err := proto.Marshal(a); err != nil {
				b.Fatal(err)
			}
			var r anypb.Any
			if err := proto.Unmarshal(reply, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("envelope", func(b *testing.B) {
		for b.Loop() {
			if _, err := marshalEnvelope(req); err != nil {
				b.Fatal(err)
			}
			if _, _, err := openEnvelope(reply); err != nil {
				b.Fatal(err)
			}
		}
	})
}
