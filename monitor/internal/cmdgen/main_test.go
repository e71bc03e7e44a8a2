package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

const committed = "../../commands_gen.go"

// committedServers reads the "// Servers: ..." line of the committed table.
func committedServers(t *testing.T, src []byte) []string {
	for _, line := range strings.Split(string(src), "\n") {
		if s, ok := strings.CutPrefix(line, "// Servers: "); ok {
			return strings.Fields(s)
		}
	}
	t.Fatalf("%s has no \"// Servers:\" line", committed)
	return nil
}

// TestCommittedTableIsCurrent regenerates the table from the servers
// present and compares it byte for byte with the committed file. It skips
// when a server the committed table was made from is missing (failing
// under REDTAP_REQUIRE_REDIS only for the redis-server on PATH).
func TestCommittedTableIsCurrent(t *testing.T) {
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]server{}
	var servers []server
	redistest.Servers(t) // skips, or fails under REDTAP_REQUIRE_REDIS, without a redis-server
	kinds, err := redistest.FindServers()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		present[k.Name] = server{Name: k.Name, Binary: k.Path}
		servers = append(servers, present[k.Name])
	}
	for _, name := range committedServers(t, want) {
		if _, ok := present[name]; !ok {
			t.Skipf("%s was generated from %s too, which is not here: cannot regenerate it", committed, name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got, err := generate(ctx, servers)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s is stale (run go generate ./monitor): line %d is\n\t%q\nregenerated:\n\t%q", committed, i+1, w, g)
			}
		}
	}
}
