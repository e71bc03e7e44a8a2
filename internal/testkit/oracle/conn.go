package oracle

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Conn is the one connection a workload writes through. It remembers the
// database it has selected, and Write treats a nil reply (redis.Nil) as
// success. Workload uses one; so does any test that drives a workload of its
// own (monitor's model test).
type Conn struct {
	*redis.Conn
	db int
}

// NewConn takes a connection from c's pool. No database is selected yet.
func NewConn(c *redis.Client) *Conn { return &Conn{Conn: c.Conn(), db: -1} }

// DB returns the selected database, -1 before the first Use.
func (c *Conn) DB() int { return c.db }

// Use selects db unless it is selected already.
func (c *Conn) Use(ctx context.Context, db int) error {
	if db == c.db {
		return nil
	}
	if err := c.Select(ctx, db).Err(); err != nil {
		return err
	}
	c.db = db
	return nil
}

// Write runs one command; redis.Nil is not an error. An error names the
// command, clipped to 200 characters.
func (c *Conn) Write(ctx context.Context, args ...any) error {
	err := c.Do(ctx, args...).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("oracle workload %v: %w", clipArgs(args), err)
	}
	return nil
}

func clipArgs(args []any) string {
	s := fmt.Sprint(args)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// FirstPending returns the ID of the first entry of the stream k that the
// consumer group has delivered and not had acknowledged, or "" when there
// is none.
func (c *Conn) FirstPending(ctx context.Context, k, group string) (string, error) {
	p, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: k, Group: group, Start: "-", End: "+", Count: 1}).Result()
	if err != nil || len(p) == 0 {
		return "", err
	}
	return p[0].ID, nil
}

// Alive counts the keys matching pattern in databases 0..dbs-1 that still
// exist. SCAN finds them; EXISTS expires lazily the ones whose time has
// passed (the master then propagates a DEL). It leaves database 0 selected.
func (c *Conn) Alive(ctx context.Context, dbs int, pattern string) (int, error) {
	left := 0
	for db := 0; db < dbs; db++ {
		if err := c.Use(ctx, db); err != nil {
			return 0, err
		}
		var keys []string
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		if err := it.Err(); err != nil {
			return 0, err
		}
		for _, k := range keys {
			n, err := c.Exists(ctx, k).Result()
			if err != nil {
				return 0, err
			}
			left += int(n)
		}
	}
	return left, c.Use(ctx, 0)
}
