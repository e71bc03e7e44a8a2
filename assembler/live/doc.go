// Package live serves an [assembler.Assembler] to viewers: a [Hub] drives
// the assembler from a monitor subscriber, and thin transports deliver its
// messages over Server-Sent Events ([Hub.SSE]), WebSocket ([Hub.WebSocket])
// or a Go channel ([Chan]):
//
//	replica -> monitor.Subscriber -> Hub: Apply, Tick -> assembler
//	                                                       | Sink.Send (non-blocking)
//	                                     per viewer: bounded queue -> SSE / WebSocket / chan
//
//	r, _ := replica.Dial(ctx, replica.Config{Addr: addr})
//	m, _ := monitor.New(r)
//	sub, _ := m.Subscribe(monitor.Filter{Match: []string{"sysmon:*"}})
//	a, _ := assembler.New(assembler.Config{Windows: []assembler.Window{{Match: "sysmon:*"}}})
//	h, _ := live.NewHub(ctx, sub, a, live.Config{})
//	defer h.Close()
//	http.Handle("/events", h.SSE())
//	http.Handle("/ws", h.WebSocket())
//
// # Goroutines
//
// A Hub owns two goroutines (and the SSE writers below), started by
// NewHub and joined by Close: the
// puller, the only caller of the subscriber's Next, which applies every
// batch to the assembler (and commits its position), and the ticker, which
// calls Assembler.Tick every Config.Interval. With assembler.AtOnce, the
// puller also takes, with the subscriber's TryNext, the batches the
// replica has already received, stages them, and delivers once nothing
// more is at hand (or 512 batches are): changes that arrived together
// leave together, and under load a viewer gets fewer, larger messages
// instead of a growing delay. The assembler calls each viewer's Sink from
// whichever of the two delivers, or from the goroutine
// that subscribes; a Sink only puts the message in the viewer's bounded
// queue, or refuses it when the queue is full (the assembler keeps it, and
// past its own bounds sends the viewer a fresh "updates" later: a slow
// viewer never slows the hub nor the other viewers).
//
// A message is framed once for SSE (an event inside an HTTP chunk), and
// the viewers that get it share that frame. On HTTP/1.1 the SSE handler
// takes the connection from net/http (Hijack). The hub then has one writer
// goroutine per GOMAXPROCS, started by NewHub and joined by Close: a
// viewer's Sink queues the frame and puts the viewer on its writer's list,
// and the writer writes each listed viewer's queued frames with one
// non-blocking writev, without copying them. A message thus reaches a
// hundred viewers without waking a hundred goroutines. When a viewer's
// socket cannot take everything (a slow client), the writer leaves the
// rest to the viewer's handler goroutine, which writes it, blocking for
// at most Config.WriteTimeout, and hands the viewer back once its queue is
// empty. Each such connection also has a goroutine that reads it, to
// notice when the client goes away; the handler then unsubscribes. On a
// connection that is not a plain TCP or Unix socket (TLS over HTTP/1.1,
// a listener's own net.Conn type) the handler always writes. Where the
// connection cannot be taken (HTTP/2, HTTP/1.0, a middleware's
// ResponseWriter without Hijack or Unwrap), the handler writes through
// net/http's writer, copying the frames and flushing once per write.
//
// A WebSocket connection has its handler goroutine (the writer) plus one
// reader for the client's pattern changes, started and joined by the
// handler. [Chan] starts no goroutine.
//
// # Messages
//
// SSE: one event per message; the messages waiting in a viewer's queue
// are written and flushed together:
//
//	event: updates|dUpdates
//	id: <Message.ID, the replication offset>
//	data: <the JSON of package assembler's schema>
//
// with a comment line (": keepalive") every Config.Keepalive. A client
// that reconnects with Last-Event-ID gets the messages after that ID when
// the assembler still keeps them, else a fresh updates. The query's match
// parameters (?match=sysmon:h1:*&match=...) choose the keys among those
// the assembler holds (default: all of them).
//
// WebSocket: one text frame per message,
//
//	{"event":"updates","id":N,"data":{...}}
//
// and the client may send {"add":[patterns]}, {"remove":[patterns]} or
// {"match":[patterns]} (replace) to change its selection; it then gets a
// fresh updates of the new selection (with no patterns left, an updates
// with no windows, and nothing more until it adds one).
package live
