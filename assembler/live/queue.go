package live

import (
	"fmt"
	"sync"

	"github.com/redtap/redtap/assembler"
)

// queue is a viewer's bounded queue, the assembler.Sink of one
// subscription: Send never blocks, and refuses a message when the queue
// is full.
type queue chan assembler.Message

func (q queue) Send(m assembler.Message) bool {
	select {
	case q <- m:
		return true
	default:
		return false
	}
}

// Chan subscribes a bounded channel of n messages (n >= 1) to a, with the
// keys matching patterns (none: all), for an in-process viewer. The first
// message is an updates; then dUpdates follow. A viewer that does not keep
// up is handled by the assembler as any other: its messages wait there, and
// past the assembler's bounds it gets a fresh updates once the channel has
// room. cancel unsubscribes and then closes the channel; it is idempotent.
// Chan starts no goroutine: the assembler's caller (a Hub) delivers.
func Chan(a *assembler.Assembler, patterns []string, n int) (<-chan assembler.Message, func(), error) {
	if n < 1 {
		return nil, nil, fmt.Errorf("%w: channel of %d messages", ErrConfig, n)
	}
	q := make(queue, n)
	s, err := a.Subscribe(q, patterns, -1)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			s.Unsubscribe() // no Send after it returns
			close(q)
		})
	}
	return q, cancel, nil
}
