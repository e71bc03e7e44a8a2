package main

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/redtap/redtap/assembler/live"
)

// The page: plain HTML, CSS and JS plus a vendored uPlot, no build step.
//
//go:embed web/index.html web/app.js web/style.css web/vendor/uplot
var webFiles embed.FS

// webRoot is web/ of webFiles. fs.Sub fails only for an invalid path name,
// which "web" is not.
var webRoot, _ = fs.Sub(webFiles, "web")

// newMux serves the page at / and hands /events and /ws to the dashboard
// handler.
func newMux(dash http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/events", dash)
	mux.Handle("/ws", dash)
	mux.Handle("/redtap-live.js", live.ClientJS())
	mux.Handle("/", http.FileServerFS(webRoot))
	return mux
}
