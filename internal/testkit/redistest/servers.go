package redistest

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The server matrix: tests that should hold on every server people run
// call ForEachServer, which runs a subtest per server binary found here:
//
//   - the Debian redis-server on PATH (the only build with TLS), and
//   - every ../shared/servers/*/*-server beside the module root (Redis 7.2,
//     7.4, Valkey 8 ...; see ../shared/servers/README.md). For a worktree
//     nested deeper, the nearest ancestor's shared/servers counts.
//
// REDTAP_SERVERS (binaries separated by spaces or commas; relative paths
// from the module root) replaces that list. A missing Debian server fails under REDTAP_REQUIRE_REDIS; a missing
// ../shared/servers directory fails only under REDTAP_REQUIRE_SERVERS, and
// is skipped otherwise.

// Flavors of server.
const (
	FlavorRedis  = "redis"
	FlavorValkey = "valkey"
)

// Kind is one server binary of the matrix.
type Kind struct {
	Name    string // "redis-7.2.6", "valkey-8.0.1": the subtest's name
	Flavor  string // FlavorRedis or FlavorValkey
	Version string // "7.2.6", from --version
	Path    string // the binary
	TLS     bool   // built with TLS (the Debian package)

	major, minor, patch int
}

func (k Kind) String() string { return k.Name + " (" + k.Path + ")" }

// AtLeast reports whether the server's version is major.minor or later.
// The flavors number their releases separately: Valkey 8.0 forked from
// Redis 7.2.4.
func (k Kind) AtLeast(major, minor int) bool {
	return k.major > major || k.major == major && k.minor >= minor
}

// Options returns o with the binary set to this server's.
func (k Kind) Options(o Options) Options {
	o.Binary = k.Path
	return o
}

// Has reports whether the server knows a feature the tests exercise.
func (k Kind) Has(f Feature) bool {
	switch f {
	case ListpackSets:
		// Redis 7.2, and Valkey from its first release (a fork of 7.2).
		return k.Flavor == FlavorValkey || k.AtLeast(7, 2)
	case HashFieldTTL:
		return k.Flavor == FlavorRedis && k.AtLeast(7, 4)
	case DualChannel:
		return k.Flavor == FlavorValkey && k.AtLeast(8, 0)
	case IdleConsumersReplicate:
		// Since 7.2 a consumer that XREADGROUP, XCLAIM or XAUTOCLAIM
		// creates without handing it anything is not propagated.
		return k.Flavor == FlavorRedis && !k.AtLeast(7, 2)
	case BitsReplicateExactly:
		// Valkey 8.0.1: a replica of a master running random SETBIT (and
		// BITOP OR, ../shared/servers/README.md) may end with another last
		// byte of a bit string than its master.
		return !(k.Flavor == FlavorValkey && k.major == 8 && k.minor == 0)
	}
	return false
}

// Feature is something only some servers of the matrix have.
type Feature int

const (
	ListpackSets           Feature = iota // RDB type 20 (Redis 7.2+)
	HashFieldTTL                          // HEXPIRE family, RDB types 22/24 (Redis 7.4+)
	DualChannel                           // dual-channel replication (Valkey 8+)
	BitsReplicateExactly                  // bit strings (SETBIT, BITOP) end equal on a replica
	IdleConsumersReplicate                // a stream consumer created empty reaches replicas
)

// String names the feature.
func (f Feature) String() string {
	switch f {
	case ListpackSets:
		return "listpack sets"
	case HashFieldTTL:
		return "hash field expiration"
	case DualChannel:
		return "dual-channel replication"
	case BitsReplicateExactly:
		return "exact bit-string replication"
	case IdleConsumersReplicate:
		return "replicated empty consumers"
	}
	return "feature(" + strconv.Itoa(int(f)) + ")"
}

var (
	serversOnce sync.Once
	matrix      serverMatrix
)

type serverMatrix struct {
	kinds    []Kind
	err      error  // a binary that does not run or answers --version oddly
	noDebian bool   // no redis-server on PATH
	noShared string // why no shared server was found, if none was
}

// Servers returns the server matrix, the Debian redis-server first, then the
// others by name. Missing servers skip or fail the test as the package
// comment says.
func Servers(t testing.TB) []Kind {
	t.Helper()
	serversOnce.Do(func() { matrix = findServers() })
	m := matrix
	if m.err != nil {
		t.Fatalf("server matrix: %v", m.err)
	}
	if m.noDebian {
		if os.Getenv("REDTAP_REQUIRE_REDIS") != "" {
			t.Fatal("server matrix: redis-server not on PATH and REDTAP_REQUIRE_REDIS is set")
		}
		t.Log("server matrix: redis-server not on PATH (set REDTAP_REQUIRE_REDIS=1 to fail instead)")
	}
	if m.noShared != "" {
		if os.Getenv("REDTAP_REQUIRE_SERVERS") != "" {
			t.Fatalf("server matrix: %s and REDTAP_REQUIRE_SERVERS is set", m.noShared)
		}
		t.Logf("server matrix: %s (set REDTAP_REQUIRE_SERVERS=1 to fail instead)", m.noShared)
	}
	if len(m.kinds) == 0 {
		t.Skip("server matrix: no server to test on")
	}
	return m.kinds
}

// ForEachServer runs f in a subtest per server of the matrix, named after
// the server ("redis-7.0.15", "valkey-8.0.1"), one after the other.
func ForEachServer(t *testing.T, f func(t *testing.T, k Kind)) {
	t.Helper()
	for _, k := range Servers(t) {
		t.Run(k.Name, func(t *testing.T) {
			t.Logf("server %s", k)
			f(t, k)
		})
	}
}

// ServerNamed returns the server of the matrix with that name ("valkey-8.0.1"),
// or skips the test (fails it under REDTAP_REQUIRE_SERVERS) when there is
// none.
func ServerNamed(t testing.TB, name string) Kind {
	t.Helper()
	for _, k := range Servers(t) {
		if k.Name == name {
			return k
		}
	}
	if os.Getenv("REDTAP_REQUIRE_SERVERS") != "" {
		t.Fatalf("server %s not in the matrix and REDTAP_REQUIRE_SERVERS is set", name)
	}
	t.Skipf("server %s not in the matrix", name)
	return Kind{}
}

// ServerWith returns the first server of the matrix that has f, or skips
// the test (fails it under REDTAP_REQUIRE_SERVERS).
func ServerWith(t testing.TB, f Feature) Kind {
	t.Helper()
	for _, k := range Servers(t) {
		if k.Has(f) {
			return k
		}
	}
	if os.Getenv("REDTAP_REQUIRE_SERVERS") != "" {
		t.Fatalf("no server of the matrix has %v and REDTAP_REQUIRE_SERVERS is set", f)
	}
	t.Skipf("no server of the matrix has %v", f)
	return Kind{}
}

// FindServers returns the servers of the matrix for code without a
// testing.TB (the command table generator): the binaries found, oldest
// version first (Redis before Valkey at the same version), and an error
// when a binary does not run or no server was found at all.
func FindServers() ([]Kind, error) {
	m := findServers()
	if m.err != nil {
		return nil, m.err
	}
	if len(m.kinds) == 0 {
		return nil, fmt.Errorf("no server found (redis-server on PATH, shared/servers, or REDTAP_SERVERS)")
	}
	kinds := slices.Clone(m.kinds)
	slices.SortStableFunc(kinds, func(a, b Kind) int {
		return cmp.Or(cmp.Compare(a.major, b.major), cmp.Compare(a.minor, b.minor), cmp.Compare(a.patch, b.patch),
			cmp.Compare(a.Flavor, b.Flavor))
	})
	return kinds, nil
}

func findServers() (m serverMatrix) {
	type bin struct {
		path string
		tls  bool
	}
	var bins []bin
	if env := os.Getenv("REDTAP_SERVERS"); env != "" {
		debian, _ := exec.LookPath("redis-server")
		for _, p := range strings.FieldsFunc(env, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			if !filepath.IsAbs(p) && strings.ContainsRune(p, filepath.Separator) {
				// Relative to the module root, not to the test's package.
				if root, err := moduleRoot(); err == nil {
					p = filepath.Join(root, p)
				}
			}
			lp, _ := exec.LookPath(p)
			bins = append(bins, bin{path: p, tls: debian != "" && lp == debian})
		}
	} else {
		if p, err := exec.LookPath("redis-server"); err == nil {
			bins = append(bins, bin{path: p, tls: true})
		} else {
			m.noDebian = true
		}
		dir, err := sharedServersDir()
		if err != nil {
			m.err = err
			return m
		}
		found, _ := filepath.Glob(filepath.Join(dir, "*", "*-server"))
		sort.Strings(found)
		if len(found) == 0 {
			m.noShared = "no */*-server in " + dir
		}
		for _, p := range found {
			bins = append(bins, bin{path: p})
		}
	}
	seen := map[string]bool{}
	for _, b := range bins {
		k, err := probe(b.path)
		if err != nil {
			m.err = err
			return m
		}
		k.TLS = b.tls
		if seen[k.Name] {
			continue
		}
		seen[k.Name] = true
		m.kinds = append(m.kinds, k)
	}
	return m
}

// sharedServersDir is shared/servers beside the module root: ../shared in a
// clone, or further up for a git worktree nested deeper (the first ancestor
// of the module root holding shared/servers).
func sharedServersDir() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	for d := filepath.Dir(root); ; {
		p := filepath.Join(d, "shared", "servers")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return filepath.Join(filepath.Dir(root), "shared", "servers"), nil
		}
		d = up
	}
}

// moduleRoot walks up from the working directory (a package directory
// under go test) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		d = up
	}
}

var versionRE = regexp.MustCompile(`^(Redis|Valkey|KeyDB) server v=(\d+)\.(\d+)\.(\d+)`)

// probe runs `bin --version`: "Redis server v=7.2.6 sha=..." or "Valkey
// server v=8.0.1 ...".
func probe(bin string) (Kind, error) {
	p, err := exec.LookPath(bin)
	if err != nil {
		return Kind{}, fmt.Errorf("server %s: %w", bin, err)
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		return Kind{}, fmt.Errorf("%s --version: %w", p, err)
	}
	m := versionRE.FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		return Kind{}, fmt.Errorf("%s --version: unknown answer %q", p, out)
	}
	k := Kind{Flavor: strings.ToLower(m[1]), Path: p}
	k.major, _ = strconv.Atoi(m[2])
	k.minor, _ = strconv.Atoi(m[3])
	k.patch, _ = strconv.Atoi(m[4])
	k.Version = m[2] + "." + m[3] + "." + m[4]
	k.Name = k.Flavor + "-" + k.Version
	return k, nil
}
