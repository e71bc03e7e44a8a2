package keystate

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/rdb"
)

// TestEntriesReadEstimate follows streamEstimateDistanceFromFirstEverEntry
// for streams stored before RDB type 19.
func TestEntriesReadEstimate(t *testing.T) {
	id := func(ms uint64) rdb.StreamID { return rdb.StreamID{Ms: ms} }
	s := StreamSummary{Length: 10, LastID: id(100), FirstID: id(10), EntriesAdded: 10, Derived: true}
	for last, want := range map[uint64]int64{100: 10, 101: -1, 10: 1, 5: 0, 0: 0, 50: -1} {
		require.Equal(t, want, s.EntriesRead(&rdb.StreamGroup{LastID: id(last)}), "last-delivered %d", last)
	}
	empty := StreamSummary{Length: 0, LastID: id(100), FirstID: rdb.StreamID{Ms: math.MaxUint64, Seq: math.MaxUint64}, EntriesAdded: 0, Derived: true}
	require.Equal(t, int64(0), empty.EntriesRead(&rdb.StreamGroup{LastID: id(100)}))
	stored := StreamSummary{}
	require.Equal(t, int64(-1), stored.EntriesRead(&rdb.StreamGroup{LastID: id(100), EntriesRead: -1}))
	require.Equal(t, int64(42), stored.EntriesRead(&rdb.StreamGroup{LastID: id(100), EntriesRead: 42}))
}
