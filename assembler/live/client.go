package live

import (
	_ "embed"
	"net/http"
)

//go:embed client.js
var clientJS []byte

// ClientJS returns a handler serving a small browser client for the SSE
// handler: window.redtapLive.connect(url, {updates, dUpdates, state}) opens
// an EventSource, reports the connection's state and opens a new one when
// the browser gives up on it (see the comment at the top of the script).
// The example programs serve it at /redtap-live.js.
func ClientJS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(clientJS)
	})
}
