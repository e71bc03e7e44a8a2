package redistest

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// MatrixServer is one server binary of the test matrix: the redis-server on
// PATH (the Debian package) plus every ../shared/servers/*/*-server next to
// the repository, or the binaries listed in REDTAP_SERVERS instead of the
// shared ones.
type MatrixServer struct {
	// Name is the flavour and version reported by --version, as in
	// "redis-7.0.15" or "valkey-8.0.1". For a missing server it is the
	// name of the path that was looked for.
	Name   string
	Binary string // absolute path of the executable
	OnPath bool   // the redis-server on PATH (found or missing)
	// Missing says why the server cannot be used (binary absent, or
	// --version failed); empty for a usable server.
	Missing string
}

// Version returns the numeric parts of the version in Name ("7.2.6" gives
// 7, 2, 6); nil when Name has none.
func (m MatrixServer) Version() []int {
	_, v, ok := strings.Cut(m.Name, "-")
	if !ok {
		return nil
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// FindMatrix locates the servers of the test matrix without a testing.TB
// (code generators use it too). The shared servers are looked for in
// ../shared/servers relative to the repository root (the directory holding
// go.mod, found from the working directory upwards) and, for worktrees
// nested deeper, relative to its ancestors; REDTAP_SERVERS (binaries
// separated by spaces or commas) replaces that search. The result is
// ordered oldest version first; duplicates (the same name and version
// twice) are dropped. Missing servers are included with Missing set: a
// test should fail for the redis-server on PATH (OnPath) under
// REDTAP_REQUIRE_REDIS (see RequireOrSkip) and skip for the others.
func FindMatrix() []MatrixServer {
	var out []MatrixServer
	if p, err := exec.LookPath("redis-server"); err == nil {
		out = append(out, probe(p, true))
	} else {
		out = append(out, MatrixServer{Name: "redis-server", OnPath: true, Missing: "redis-server not on PATH (install redis-server)"})
	}
	if env := os.Getenv("REDTAP_SERVERS"); env != "" {
		for _, f := range strings.FieldsFunc(env, func(r rune) bool { return r == ',' || r == ' ' }) {
			out = append(out, probe(f, false))
		}
	} else if dir := sharedServersDir(); dir == "" {
		out = append(out, MatrixServer{Name: "shared", Missing: "no ../shared/servers next to the repository (set REDTAP_SERVERS to list server binaries)"})
	} else {
		bins, _ := filepath.Glob(filepath.Join(dir, "*", "*-server"))
		for _, b := range bins {
			out = append(out, probe(b, false))
		}
	}
	slices.SortStableFunc(out, func(a, b MatrixServer) int {
		if c := slices.Compare(a.Version(), b.Version()); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	seen := map[string]bool{}
	var dedup []MatrixServer
	for _, s := range out {
		if s.Missing == "" && seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		dedup = append(dedup, s)
	}
	return dedup
}

// RequireOrSkip skips the test with msg, or fails it when
// REDTAP_REQUIRE_REDIS is set.
func RequireOrSkip(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("REDTAP_REQUIRE_REDIS") != "" {
		t.Fatalf("%s (REDTAP_REQUIRE_REDIS is set)", msg)
	}
	t.Skip(msg)
}

// probe runs bin --version and names the server after its answer
// ("Redis server v=7.2.6 ..." gives "redis-7.2.6").
func probe(bin string, onPath bool) MatrixServer {
	s := MatrixServer{Name: filepath.Base(bin), Binary: bin, OnPath: onPath}
	if abs, err := filepath.Abs(bin); err == nil {
		s.Binary = abs
	}
	if fi, err := os.Stat(s.Binary); err != nil || fi.IsDir() {
		s.Missing = fmt.Sprintf("%s: no such server binary", bin)
		return s
	}
	out, err := exec.Command(s.Binary, "--version").Output()
	if err != nil {
		s.Missing = fmt.Sprintf("%s --version: %v", bin, err)
		return s
	}
	f := strings.Fields(string(bytes.TrimSpace(out)))
	if len(f) < 3 || !strings.HasPrefix(f[2], "v=") {
		s.Missing = fmt.Sprintf("%s --version: unexpected answer %q", bin, out)
		return s
	}
	s.Name = strings.ToLower(f[0]) + "-" + strings.TrimPrefix(f[2], "v=")
	return s
}

// sharedServersDir finds ../shared/servers from the repository root or one
// of its ancestors, or returns "".
func sharedServersDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	for {
		cand := filepath.Join(filepath.Dir(dir), "shared", "servers")
		if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
