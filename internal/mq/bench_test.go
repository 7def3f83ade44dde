package mq

import (
	"fmt"
	"testing"
)

// buildJSON is a build as /api/v2/builds/N shows it, the usual body.
var buildJSON = []byte(`{"builderid":3,"buildid":12345,"buildrequestid":4321,"complete":true,"complete_at":1700000100,` +
	`"masterid":1,"number":77,"properties":{},"results":0,"started_at":1700000000,"state_string":"build successful","workerid":5}`)

// BenchmarkPublish publishes builds/12345/finished on a bus with 1,000
// subscribers of which `match` match: the rest watch one other build
// each (builds/N/*, as build pages do) or other resources. "fanout" leaves
// out Publish's checks of the key and body (json.Valid), which cost the
// same whoever listens. "linear" is the same publish matched by scanning
// every filter (Buildbot's SimpleMQ does that), for comparison with the
// index.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		match  int
		fanout bool
	}{{10, false}, {10, true}, {1000, false}, {1000, true}} {
		name := fmt.Sprintf("subs=1000/match=%d", bc.match)
		if bc.fanout {
			name += "/fanout"
		}
		match := bc.match
		b.Run(name, func(b *testing.B) {
			bus := New()
			subs := make([]*Subscription, 1000)
			for i := range subs {
				f := "builds/*/*"
				if i >= match {
					switch i % 3 {
					case 0:
						f = fmt.Sprintf("builds/%d/*", i)
					case 1:
						f = "steps/*/*"
					case 2:
						f = fmt.Sprintf("builders/%d/builds/*/*", i)
					}
				}
				subs[i] = subscribe(b, bus, 1024, f)
			}
			spare := make([][]*Event, len(subs)) // queues' room, handed back by Take
			k := key("builds/12345/finished")
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%1000 == 999 {
					b.StopTimer()
					for i, s := range subs {
						spare[i] = s.Take(spare[i])
						clear(spare[i])
					}
					b.StartTimer()
				}
				publish := bus.Publish
				if bc.fanout {
					publish = bus.publish
				}
				if err := publish(k, "", buildJSON); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if st := bus.Stats(); st.Dropped != 0 || st.Delivered != uint64(b.N*match) {
				b.Fatalf("stats %+v", st)
			}
		})
	}
	b.Run("subs=1000/match=10/linear", func(b *testing.B) {
		filters := make([]Filter, 1000)
		for i := range filters {
			filters[i] = filter(b, fmt.Sprintf("builds/%d/*", i))
		}
		k := key("builds/12345/finished")
		ch := make(chan *Event, 1)
		b.ReportAllocs()
		for b.Loop() {
			ev := &Event{Key: k, Body: buildJSON}
			for _, f := range filters {
				if f.Match(k) {
					ch <- ev
					<-ch
				}
			}
		}
	})
}

// BenchmarkPublishChange is one state change (a build finishing: three
// keys) with nobody listening: the cost the db side always pays.
func BenchmarkPublishChange(b *testing.B) {
	bus := New()
	c := Change{Kind: Builds, Event: "finished", ID: 12345, BuilderID: 3, Number: 77, WorkerID: 5}
	b.ReportAllocs()
	for b.Loop() {
		if err := bus.PublishChange(c, buildJSON); err != nil {
			b.Fatal(err)
		}
	}
}
