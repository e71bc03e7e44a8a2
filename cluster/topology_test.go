package cluster

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseNodes(t *testing.T) {
	txt := `1111111111111111111111111111111111111111 127.0.0.1:7104@17104 slave 6666666666666666666666666666666666666666 0 1700000000001 4 connected
2222222222222222222222222222222222222222 127.0.0.1:7102@17102 master - 0 1700000000002 2 connected 5461-10922
3333333333333333333333333333333333333333 127.0.0.1:7103@17103 master - 0 1700000000003 3 connected 10923-16383
4444444444444444444444444444444444444444 127.0.0.1:7105@17105 slave 2222222222222222222222222222222222222222 0 1700000000002 5 connected
5555555555555555555555555555555555555555 127.0.0.1:7106@17106 slave 3333333333333333333333333333333333333333 0 1700000000004 6 connected
6666666666666666666666666666666666666666 127.0.0.1:7101@17101 myself,master - 0 0 1 connected 0-5460 [5461->-2222222222222222222222222222222222222222]
aaaa000000000000000000000000000000000000 127.0.0.1:7107@17107 master,fail - 0 0 7 disconnected
`
	sh, err := parseNodes(txt, "127.0.0.1")
	require.NoError(t, err)
	require.Len(t, sh, 4)
	byPrimary := map[string]ShardInfo{}
	for _, s := range sh {
		byPrimary[s.Nodes[0].ID] = s
	}
	s := byPrimary["6666666666666666666666666666666666666666"]
	require.Equal(t, 5461, s.Slots, "a migrating slot is not counted twice")
	require.Len(t, s.Nodes, 2)
	p, ok := s.Primary()
	require.True(t, ok)
	require.Equal(t, "127.0.0.1:7101", p.Addr)
	require.Equal(t, "1111111111111111111111111111111111111111", s.Nodes[1].ID)
	failed := byPrimary["aaaa000000000000000000000000000000000000"]
	_, ok = failed.Primary()
	require.False(t, ok, "a failed primary is not a healthy one")
}

func TestParseShards(t *testing.T) {
	node := func(id, port, role, health string) []any {
		return []any{[]byte("id"), []byte(id), []byte("port"), int64(0), []byte("ip"), []byte(""),
			[]byte("endpoint"), []byte("127.0.0.1"), []byte("role"), []byte(role), []byte("health"), []byte(health)}
	}
	n1 := node("a1", "7000", "master", "online")
	n1[3] = int64(7000)
	n2 := node("a2", "7001", "replica", "online")
	n2[3] = int64(7001)
	v := []any{
		[]any{[]byte("slots"), []any{int64(0), int64(99), int64(200), int64(299)}, []byte("nodes"), []any{n1, n2}},
		[]any{[]byte("id"), []byte("shard-b"), []byte("slots"), []any{}, []byte("nodes"), []any{node("b1", "7002", "master", "offline")}},
	}
	sh, err := parseShards(v, "10.0.0.1", false)
	require.NoError(t, err)
	require.Len(t, sh, 2)
	require.Equal(t, 200, sh[0].Slots)
	p, ok := sh[0].Primary()
	require.True(t, ok)
	require.Equal(t, "10.0.0.1:7000", p.Addr, "an empty ip is the seed's host")
	require.Equal(t, "shard-b", sh[1].ID)
	_, ok = sh[1].Primary()
	require.False(t, ok)
	_, err = parseShards("nope", "h", false)
	require.Error(t, err)
}

func TestMoveIn(t *testing.T) {
	b := func(s ...string) [][]byte {
		out := make([][]byte, len(s))
		for i, x := range s {
			out[i] = []byte(x)
		}
		return out
	}
	require.True(t, isMoveIn(b("RESTORE-ASKING", "k", "0", "payload")))
	require.True(t, isMoveIn(b("restore-asking", "k", "0", "payload", "REPLACE")))
	require.True(t, isMoveIn(b("RESTORE", "k", "0", "payload", "ASKING")))
	require.False(t, isMoveIn(b("RESTORE", "k", "0", "payload", "REPLACE")))
	require.False(t, isMoveIn(b("SET", "k", "v")))
	require.True(t, isDel(b("del", "a", "b")))
	require.False(t, isDel(b("UNLINK", "a")))
}
