package rdb_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/hdt3213/rdb/core"

	"github.com/redtap/redtap/rdb"
)

// snapshot writes a small RDB file with hdt3213/rdb's encoder: a string,
// a list and a hash with a TTL in database 0, a set in database 2.
func snapshot() []byte {
	var buf bytes.Buffer
	enc := core.NewEncoder(&buf)
	check := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	check(enc.WriteHeader())
	check(enc.WriteAux("redis-ver", "7.0.15"))
	check(enc.WriteDBHeader(0, 3, 1))
	check(enc.WriteStringObject("greeting", []byte("hello")))
	check(enc.WriteListObject("queue", [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")}))
	check(enc.WriteHashMapObject("user:1", map[string][]byte{"name": []byte("Ada")}, core.WithTTL(4102444800000)))
	check(enc.WriteDBHeader(2, 1, 0))
	check(enc.WriteSetObject("user:ids", [][]byte{[]byte("1")}))
	check(enc.WriteEnd())
	return buf.Bytes()
}

// Decode a snapshot and print its keys.
func Example() {
	d, err := rdb.NewDecoder(bufio.NewReader(bytes.NewReader(snapshot())))
	if err != nil {
		log.Fatal(err)
	}
	for rec, err := range d.All(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		switch r := rec.(type) {
		case *rdb.Header:
			fmt.Println("version", r.Version)
		case *rdb.Entry:
			fmt.Printf("db %d %s %q", r.DB, r.Type, r.Key)
			switch r.Type {
			case rdb.TypeString:
				fmt.Printf(" = %q", r.Str)
			case rdb.TypeList, rdb.TypeSet:
				fmt.Printf(" = %q", r.Elems)
			case rdb.TypeHash:
				for _, f := range r.Fields {
					fmt.Printf(" %s=%s", f.Name, f.Value)
				}
			}
			if r.Expire >= 0 {
				fmt.Printf(" (expires at %d ms)", r.Expire)
			}
			fmt.Println()
		case *rdb.End:
			fmt.Println("checksum verified:", r.Verified)
		}
	}
	// Output:
	// version 11
	// db 0 string "greeting" = "hello"
	// db 0 list "queue" = ["a" "b" "c" "d" "e"]
	// db 0 hash "user:1" name=Ada (expires at 4102444800000 ms)
	// db 2 set "user:ids" = ["1"]
	// checksum verified: true
}

// Decode only some keys: the others are skipped without decoding their
// values.
func ExampleWithMatch() {
	d, err := rdb.NewDecoder(bytes.NewReader(snapshot()), rdb.WithMatch("user:*"), rdb.WithDBs(0))
	if err != nil {
		log.Fatal(err)
	}
	for rec, err := range d.All(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		if e, ok := rec.(*rdb.Entry); ok {
			fmt.Println(e.DB, string(e.Key), e.Type)
		}
	}
	// Output:
	// 0 user:1 hash
}

// Large values come in chunks: here two elements at a time.
func ExampleWithChunkSize() {
	d, err := rdb.NewDecoder(bytes.NewReader(snapshot()), rdb.WithChunkSize(2), rdb.WithTypes(rdb.TypeList))
	if err != nil {
		log.Fatal(err)
	}
	for rec, err := range d.All(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		if e, ok := rec.(*rdb.Entry); ok {
			fmt.Printf("%s chunk %d last=%v %q\n", e.Key, e.Chunk, e.Last, e.Elems)
		}
	}
	// Output:
	// queue chunk 0 last=false ["a" "b"]
	// queue chunk 1 last=false ["c" "d"]
	// queue chunk 2 last=true ["e"]
}

// The decoder stops at the snapshot's last byte: what follows (here a
// replication command stream) is still in the bufio.Reader.
func ExampleDecoder_Next() {
	stream := append(snapshot(), "*1\r\n$4\r\nPING\r\n"...)
	br := bufio.NewReader(bytes.NewReader(stream))
	d, err := rdb.NewDecoder(br)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	keys := 0
	for {
		rec, err := d.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if e, ok := rec.(*rdb.Entry); ok && e.Last {
			keys++
		}
	}
	rest, _ := io.ReadAll(br)
	fmt.Println(keys, "keys,", d.BytesRead(), "bytes of snapshot")
	fmt.Printf("then %q\n", rest)
	// Output:
	// 4 keys, 157 bytes of snapshot
	// then "*1\r\n$4\r\nPING\r\n"
}

// Bad input is an *rdb.Error with the offset and what was being read; its
// cause matches one of the package's sentinels.
func ExampleError() {
	b := snapshot()
	b[len(b)-1] ^= 0xff // damage the checksum
	d, _ := rdb.NewDecoder(bytes.NewReader(b))
	var err error
	for _, err = range d.All(context.Background()) {
		if err != nil {
			break
		}
	}
	var re *rdb.Error
	if errors.As(err, &re) {
		fmt.Println(re.Op, "at", re.Offset, errors.Is(err, rdb.ErrChecksum))
	}
	_, err = rdb.NewDecoder(strings.NewReader("REDIS0099"))
	fmt.Println(err)
	// Output:
	// checksum at 149 true
	// <nil>
}
