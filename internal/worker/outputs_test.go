package worker

import (
	"bytes"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/remoting"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// A batch of the largest messages the worker sends must fit in one gRPC
// message the master takes (with room for envelopes and the other fields).
func TestMessageSizeFitsABatch(t *testing.T) {
	if batch := remoting.WriterBatchSize * maxMessageData; batch > remoting.MaxMessageBytes/2 {
		t.Fatalf("%d messages of %d bytes (%d) do not fit well under %d", remoting.WriterBatchSize, maxMessageData, batch, remoting.MaxMessageBytes)
	}
}

// outputsTo returns outputs holding output for hold, of a command whose
// link delivers to the returned channel.
func outputsTo(t *testing.T, hold time.Duration) (*outputs, <-chan *messages.CommandUpdate) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	got := make(chan *messages.CommandUpdate, 16)
	pid := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*messages.FromWorker); ok {
			got <- m.GetUpdate()
		}
	}))
	c := &command{id: "c1", link: &link{session: "s", master: pid, root: system.Root}}
	return &outputs{c: c, hold: hold}, got
}

func TestOutputsGoWithTheComplete(t *testing.T) {
	o, _ := outputsTo(t, time.Hour)
	o.add(messages.OutputStream_OUTPUT_STREAM_HEADER, []byte("argv\n"))
	o.add(messages.OutputStream_OUTPUT_STREAM_STDOUT, []byte("hi\n"))
	left := o.take()
	if len(left) != 2 || string(left[0].GetData()) != "argv\n" || string(left[1].GetData()) != "hi\n" {
		t.Fatalf("take: %v", left)
	}
	o.add(messages.OutputStream_OUTPUT_STREAM_STDOUT, []byte("late\n"))
	if o.take() != nil {
		t.Fatal("output added after take was kept")
	}
}

func TestOutputsSentAfterAMoment(t *testing.T) {
	o, got := outputsTo(t, 0)
	o.add(messages.OutputStream_OUTPUT_STREAM_STDOUT, []byte("a\n"))
	o.add(messages.OutputStream_OUTPUT_STREAM_STDERR, []byte("b\n"))
	if u := testkit.Recv(t, "the output's update", got); u.GetCommandId() != "c1" || len(u.GetOutputs()) != 2 || u.GetComplete() != nil {
		t.Fatalf("update %v, want both pieces in one", u)
	}
	if left := o.take(); left != nil {
		t.Fatalf("take after the send: %v", left)
	}
}

func TestOutputsSentWhenAnUpdateIsFull(t *testing.T) {
	o, got := outputsTo(t, time.Hour) // so only a full update is sent
	big := bytes.Repeat([]byte("x"), outputChunk-10)
	o.add(messages.OutputStream_OUTPUT_STREAM_STDOUT, big)
	o.add(messages.OutputStream_OUTPUT_STREAM_STDOUT, []byte("0123456789abc")) // over outputChunk: the first goes now
	if u := testkit.Recv(t, "the full update", got); len(u.GetOutputs()) != 1 || len(u.GetOutputs()[0].GetData()) != len(big) {
		t.Fatalf("update of %d outputs, want the first alone", len(u.GetOutputs()))
	}
	if left := o.take(); len(left) != 1 || string(left[0].GetData()) != "0123456789abc" {
		t.Fatalf("take: %v", left)
	}
}
