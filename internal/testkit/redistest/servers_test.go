package redistest

import (
	"context"
	"strings"
	"testing"
)

// TestServers starts every server of the matrix and checks that it is what
// its --version said.
func TestServers(t *testing.T) {
	ForEachServer(t, func(t *testing.T, k Kind) {
		s := Start(t, k.Options(Options{}))
		info, err := s.Info(context.Background(), "server")
		if err != nil {
			t.Fatal(err)
		}
		field := "redis_version"
		if k.Flavor == FlavorValkey {
			field = "valkey_version"
		}
		if info[field] != k.Version {
			t.Fatalf("%s: INFO %s = %q, --version said %s", k, field, info[field], k.Version)
		}
		if !strings.HasPrefix(k.Name, k.Flavor+"-") {
			t.Fatalf("name %q", k.Name)
		}
	})
}

func TestKindAtLeast(t *testing.T) {
	k := Kind{major: 7, minor: 2, Flavor: FlavorRedis}
	for _, c := range []struct {
		major, minor int
		want         bool
	}{{7, 0, true}, {7, 2, true}, {7, 4, false}, {6, 9, true}, {8, 0, false}} {
		if got := k.AtLeast(c.major, c.minor); got != c.want {
			t.Errorf("7.2 AtLeast(%d, %d) = %v", c.major, c.minor, got)
		}
	}
	if !k.Has(ListpackSets) || k.Has(HashFieldTTL) || k.Has(DualChannel) {
		t.Error("features of redis 7.2")
	}
}

// TestServersOverride: REDTAP_SERVERS replaces the matrix; the Debian
// binary keeps its TLS mark; a binary that is not there is an error.
func TestServersOverride(t *testing.T) {
	Binary(t, "redis-server")
	t.Setenv("REDTAP_SERVERS", "redis-server")
	m := findServers()
	if m.err != nil || len(m.kinds) != 1 || !m.kinds[0].TLS || m.kinds[0].Flavor != FlavorRedis || m.noShared != "" {
		t.Fatalf("%+v", m)
	}
	t.Setenv("REDTAP_SERVERS", "redis-server, ./no/such-server")
	if m := findServers(); m.err == nil {
		t.Fatalf("a missing binary: %+v", m)
	}
}
