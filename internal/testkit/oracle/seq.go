package oracle

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// SeqWriter numbers writes so that a test can check exactly-once, in-order
// delivery: write n is "RPUSH <Key> n"; every fifth write is a MULTI/EXEC
// of "INCR <Key>:ctr" and that RPUSH.
type SeqWriter struct {
	Key string
	n   int64
}

// Last returns the number of the last write.
func (s *SeqWriter) Last() int64 { return s.n }

// Write performs count numbered writes, pipelined in batches of up to 100.
func (s *SeqWriter) Write(ctx context.Context, c redis.Cmdable, count int) error {
	for count > 0 {
		batch := min(count, 100)
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < batch; i++ {
				s.n++
				if s.n%5 == 0 {
					// Generic commands: their replies ("QUEUED") need no parsing.
					p.Do(ctx, "MULTI")
					p.Do(ctx, "INCR", s.Key+":ctr")
					p.Do(ctx, "RPUSH", s.Key, s.n)
					p.Do(ctx, "EXEC")
				} else {
					p.Do(ctx, "RPUSH", s.Key, s.n)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("oracle: sequence write near %d: %w", s.n, err)
		}
		count -= batch
	}
	return nil
}

// SeqOf returns n when args is "RPUSH key n" (any case).
func SeqOf(key string, args [][]byte) (int64, bool) {
	if len(args) != 3 || !strings.EqualFold(string(args[0]), "RPUSH") || string(args[1]) != key {
		return 0, false
	}
	n, err := strconv.ParseInt(string(args[2]), 10, 64)
	return n, err == nil
}

// CheckSeq checks that got is exactly from, from+1, ..., to.
func CheckSeq(got []int64, from, to int64) error {
	want := from
	for i, n := range got {
		if n != want {
			switch {
			case n < want:
				return fmt.Errorf("oracle: write %d delivered again at position %d (expected %d)", n, i, want)
			default:
				return fmt.Errorf("oracle: writes %d..%d lost: got %d at position %d", want, n-1, n, i)
			}
		}
		want++
	}
	if want != to+1 {
		return fmt.Errorf("oracle: delivered %d..%d, expected up to %d", from, want-1, to)
	}
	return nil
}
