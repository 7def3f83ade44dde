package state

import (
	"reflect"

	"github.com/hashicorp/raft"
)

// endsWithShutdown makes f's Error return raft.ErrRaftShutdown once
// stopped is closed, if raft has not answered it by then. Raft leaves
// unanswered an Apply whose command it still held in its queues
// (applyCh, fsmMutateCh) when it shut down, or that Apply queued after
// it shut down (Apply's select may still pick the queue), and its own
// futures of that kind (Barrier's, raft's internal ones) end so through
// deferError's ShutdownCh, which Apply leaves nil: without it, a waiter
// (the completer, and every command queued behind it) would wait forever.
// A future of another kind is left as it is.
func endsWithShutdown(f raft.ApplyFuture, stopped chan struct{}) {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return
	}
	ch := v.Elem().FieldByName("ShutdownCh")
	if !ch.IsValid() || !ch.CanSet() || ch.Type() != reflect.TypeOf(stopped) {
		return
	}
	ch.Set(reflect.ValueOf(stopped))
}
