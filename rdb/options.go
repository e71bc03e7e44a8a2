package rdb

import (
	"fmt"

	"github.com/redtap/redtap/internal/glob"
)

// Option configures a [Decoder].
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// Filter decides, from the key's database, name and type, whether the
// decoder should decode a key's value. A rejected key is skipped without
// decompressing or allocating its value.
type Filter func(db int, key []byte, t Type) bool

const (
	defaultChunkSize    = 1024
	defaultMaxStringLen = 512 << 20
)

type config struct {
	chunkSize      int
	maxStringLen   int64
	futureVersions bool
	filters        []Filter
}

func defaultConfig() config {
	return config{chunkSize: defaultChunkSize, maxStringLen: defaultMaxStringLen}
}

// WithChunkSize sets how many elements (list items, set members, hash
// fields, zset members, stream entries) one [*Entry] carries at most; larger
// values arrive in several chunks. Default 1024.
func WithChunkSize(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("rdb: chunk size %d, want at least 1", n)
		}
		c.chunkSize = n
		return nil
	})
}

// WithMaxStringLen caps the length of any one string in the file (a value, a
// key, a listpack or ziplist blob, a compressed string's expanded size).
// Longer strings fail with [ErrTooLarge]. Default 512 MiB, Redis's own
// proto-max-bulk-len; a string is allocated only as its bytes arrive.
func WithMaxStringLen(n int64) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("rdb: max string length %d, want at least 1", n)
		}
		c.maxStringLen = n
		return nil
	})
}

// WithFutureVersions accepts RDB versions newer than those this package
// knows (REDIS0014 and up, VALKEY081 and up), decoding them as the newest
// known version. By default such files fail with [ErrUnsupportedVersion].
func WithFutureVersions() Option {
	return optionFunc(func(c *config) error {
		c.futureVersions = true
		return nil
	})
}

// WithFilter adds a filter; a key is decoded only if every filter accepts it.
func WithFilter(f Filter) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return fmt.Errorf("rdb: nil filter")
		}
		c.filters = append(c.filters, f)
		return nil
	})
}

// WithDBs decodes only keys of the given databases.
func WithDBs(dbs ...int) Option {
	set := make(map[int]bool, len(dbs))
	for _, db := range dbs {
		set[db] = true
	}
	return WithFilter(func(db int, _ []byte, _ Type) bool { return set[db] })
}

// WithMatch decodes only keys matching a Redis glob pattern ('*', '?',
// '[a-z]', '\' escapes), as KEYS and SCAN MATCH do.
func WithMatch(pattern string) Option {
	p := []byte(pattern)
	return WithFilter(func(_ int, key []byte, _ Type) bool { return glob.Match(p, key) })
}

// WithTypes decodes only keys of the given types.
func WithTypes(types ...Type) Option {
	var set [8]bool
	for _, t := range types {
		if int(t) < len(set) {
			set[t] = true
		}
	}
	return WithFilter(func(_ int, _ []byte, t Type) bool { return int(t) < len(set) && set[t] })
}
