package service

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Every sends msg to pid from sender every interval until the returned
// function is called (at most once a tick; a tick the receiver is slow to
// take is dropped). Once that function has returned nothing more is sent:
// it waits for a tick being sent. It replaces protoactor's TimerScheduler.SendRepeatedly,
// whose cancel races with its timer (a plain read of the state its cancel
// swaps atomically: go test -race reports it).
func Every(sender actor.SenderContext, interval time.Duration, pid *actor.PID, msg any) (cancel func()) {
	t := time.NewTicker(interval)
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				select {
				case <-done: // cancelled while this tick was due
					return
				default:
				}
				sender.Send(pid, msg)
			}
		}
	}()
	var stopped bool
	return func() {
		if !stopped {
			stopped = true
			close(done)
		}
		<-ended
	}
}
