package fakemaster

import "github.com/redtap/redtap/internal/testkit/rdbfile"

// NewRDB starts a snapshot to serve (Options.RDB, Payload.RDB): it is
// [rdbfile.New], kept here for the tests that build a master's snapshot
// next to the master.
//
//	snap := fakemaster.NewRDB(10).Aux("redis-ver", "7.0.15").
//		Select(0).Set("k", "v").Select(3).List("l", "a", "b").Bytes()
func NewRDB(version int) *rdbfile.File { return rdbfile.New(version) }

// EmptyRDB returns a version 10 snapshot (Redis 7.0) with no keys: the
// default Options.RDB.
func EmptyRDB() []byte { return rdbfile.New(10).Aux("redis-ver", "7.0.15").Bytes() }
