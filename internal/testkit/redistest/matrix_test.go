package redistest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFindMatrix(t *testing.T) {
	onPath := Binary(t, "redis-server")
	fake := filepath.Join(t.TempDir(), "fake-server")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'Valkey server v=99.1.2 sha=0'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDTAP_SERVERS", "/nonexistent/redis-server, "+fake+","+onPath)
	m := FindMatrix()
	if len(m) != 3 {
		t.Fatalf("matrix %+v: want the PATH server (once), the fake and the missing one", m)
	}
	i := slices.IndexFunc(m, func(s MatrixServer) bool { return s.OnPath })
	if i < 0 || m[i].Missing != "" || !strings.HasPrefix(m[i].Name, "redis-") {
		t.Fatalf("no PATH server in %+v", m)
	}
	if got, _ := filepath.EvalSymlinks(m[i].Binary); got != mustEval(t, onPath) {
		t.Fatalf("PATH server %+v, want %s", m[i], onPath)
	}
	if last := m[len(m)-1]; last.Name != "valkey-99.1.2" || last.OnPath || !slices.Equal(last.Version(), []int{99, 1, 2}) {
		t.Fatalf("newest server %+v, want the fake valkey-99.1.2", last)
	}
	i = slices.IndexFunc(m, func(s MatrixServer) bool { return s.Missing != "" })
	if i < 0 || m[i].OnPath || !strings.Contains(m[i].Missing, "/nonexistent/redis-server") {
		t.Fatalf("missing server not reported: %+v", m)
	}
}

func mustEval(t *testing.T, p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
