// Command hdt3213-parse decodes an RDB file with github.com/hdt3213/rdb
// (the decoder redtap is compared with in BENCHMARKS.md) and a callback that
// does nothing: the fair counterpart of `redtap dump --format none`.
//
//	go run ./internal/testkit/benchdata/cmd/hdt3213-parse FILE
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/hdt3213/rdb/core"
	"github.com/hdt3213/rdb/model"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hdt3213-parse FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "hdt3213-parse:", err)
		os.Exit(1)
	}
	defer f.Close()
	start := time.Now()
	n := 0
	err = core.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Parse(func(model.RedisObject) bool {
		n++
		return true
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hdt3213-parse:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "hdt3213-parse: %s: %d objects in %s\n", os.Args[1], n, time.Since(start).Round(time.Millisecond))
}
