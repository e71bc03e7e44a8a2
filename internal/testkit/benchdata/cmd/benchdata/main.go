// Command benchdata builds the benchmark RDB file of BENCHMARKS.md: it fills
// a running redis-server (one whose files are on this machine) with the
// benchdata dataset, SAVEs it and copies dump.rdb to --out.
//
//	redis-server --port 6390 --save '' --appendonly no --dir /tmp/rb &
//	go run ./internal/testkit/benchdata/cmd/benchdata --addr 127.0.0.1:6390 --out /tmp/redtap-bench/mixed-150mb.rdb
//
// It flushes the server's database 0 first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redtap/redtap/internal/testkit/benchdata"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "redis-server address, host:port or unix:/path/to/socket (the server's dir must be readable here)")
	out := flag.String("out", "", "where to copy the saved dump.rdb (required)")
	scale := flag.Int("scale", 1, "divide every count of the default dataset by this")
	flag.Parse()
	if *out == "" || *scale < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*addr, *out, *scale); err != nil {
		fmt.Fprintln(os.Stderr, "benchdata:", err)
		os.Exit(1)
	}
}

func run(addr, out string, scale int) error {
	ctx := context.Background()
	o := &redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true,
		ReadTimeout: 5 * time.Minute, WriteTimeout: time.Minute}
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		o.Network, o.Addr = "unix", p
	}
	c := redis.NewClient(o)
	defer c.Close()

	if v, err := c.ConfigGet(ctx, "rdbcompression").Result(); err != nil {
		return err
	} else if v["rdbcompression"] != "yes" {
		return errors.New("the server has rdbcompression " + v["rdbcompression"] + ", want yes")
	}
	spec := benchdata.Scaled(scale)
	start := time.Now()
	if err := benchdata.Populate(ctx, c, spec); err != nil {
		return err
	}
	filled := time.Since(start)
	if err := c.Save(ctx).Err(); err != nil {
		return fmt.Errorf("SAVE: %w", err)
	}
	saved := time.Since(start) - filled
	cfg, err := c.ConfigGet(ctx, "dir").Result()
	if err != nil {
		return err
	}
	name, err := c.ConfigGet(ctx, "dbfilename").Result()
	if err != nil {
		return err
	}
	src := filepath.Join(cfg["dir"], name["dbfilename"])
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	size, err := copyFile(src, out)
	if err != nil {
		return err
	}
	info, err := c.Info(ctx, "server", "keyspace", "memory").Result()
	if err != nil {
		return err
	}
	keys, err := c.DBSize(ctx).Result()
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d bytes, %d keys (spec %d) in %s (fill %s, SAVE %s)\n",
		out, size, keys, spec.Keys(), time.Since(start).Round(time.Millisecond),
		filled.Round(time.Millisecond), saved.Round(time.Millisecond))
	for _, l := range strings.Split(info, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "redis_version:") || strings.HasPrefix(l, "db0:") ||
			strings.HasPrefix(l, "used_memory_human:") {
			fmt.Println("  " + l)
		}
	}
	fmt.Printf("  spec: %+v\n", spec)
	return nil
}

func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	o, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(o, in)
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, os.Rename(tmp, dst)
}
