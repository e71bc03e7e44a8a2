package rdb

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStreamIDCompare(t *testing.T) {
	ids := []StreamID{{0, 0}, {0, 1}, {0, ^uint64(0)}, {1, 0}, {1, 5}, {^uint64(0), 0}, {^uint64(0), ^uint64(0)}}
	for i, a := range ids {
		for j, b := range ids {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			require.Equal(t, want, a.Compare(b), "%v vs %v", a, b)
		}
	}
}
