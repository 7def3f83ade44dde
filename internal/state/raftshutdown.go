package state

import (
	"reflect"

	"github.com/hashicorp/raft"
)

// endsWithShutdown makes f's Error return raft.ErrRaftShutdown once
// s.stopped is closed, if raft has not answered it by then. Raft leaves
// unanswered an Apply whose command it still held in its queues
// (applyCh, fsmMutateCh) when it shut down, or that Apply queued after
// it shut down (Apply's select may still pick the queue), and its own
// futures of that kind (Barrier's, raft's internal ones) end so through
// deferError's ShutdownCh, which Apply leaves nil: without it, a waiter
// (the completer, and every command queued behind it) would wait forever.
// A future of another kind is left as it is. Where the field is is looked
// up once per future type (shutdownField): Submit calls this for every
// command.
func (s *Store) endsWithShutdown(f raft.ApplyFuture) {
	v := reflect.ValueOf(f)
	sf := s.shutdownField.Load()
	if sf == nil || sf.t != v.Type() {
		sf = findShutdownField(v, reflect.TypeOf(s.stopped))
		s.shutdownField.Store(sf)
	}
	if sf.index != nil {
		v.Elem().FieldByIndex(sf.index).Set(reflect.ValueOf(s.stopped))
	}
}

// shutdownField is where a future type keeps its ShutdownCh: index is nil
// when it has none that can be set to a channel of the Store's type.
type shutdownField struct {
	t     reflect.Type
	index []int
}

func findShutdownField(v reflect.Value, ch reflect.Type) *shutdownField {
	sf := &shutdownField{t: v.Type()}
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return sf
	}
	f, ok := v.Elem().Type().FieldByName("ShutdownCh")
	if ok && f.Type == ch && v.Elem().FieldByIndex(f.Index).CanSet() {
		sf.index = f.Index
	}
	return sf
}
