package jsonl_test

import (
	"fmt"
	"os"

	"github.com/redtap/redtap/jsonl"
	"github.com/redtap/redtap/rdb"
)

func ExampleEncoder() {
	var enc jsonl.Encoder
	var b []byte
	b = enc.AppendKey(b, &rdb.Entry{DB: 0, Key: []byte("cpu:host1"), Type: rdb.TypeZSet, Expire: -1,
		Members: []rdb.Member{{Name: []byte("a"), Score: 1.5}}, Last: true})
	b = enc.AppendCommand(b, 0, 1234, [][]byte{[]byte("ZADD"), []byte("cpu:host1"), []byte("2"), []byte("b")})
	os.Stdout.Write(b)
	// Output:
	// {"kind":"key","db":0,"key":"cpu:host1","type":"zset","expire_ms":null,"value":[["a",1.5]]}
	// {"kind":"cmd","db":0,"offset":1234,"args":["ZADD","cpu:host1","2","b"],"keys":["cpu:host1"]}
}

func ExampleDecode() {
	r, err := jsonl.Decode([]byte(`{"kind":"cmd","db":2,"offset":99,"args":["SET","k",{"base64":"/w=="}],"keys":["k"]}`))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s db %d offset %d: %q\n", r.Kind, r.DB, r.Offset, r.Args)
	// Output: cmd db 2 offset 99: ["SET" "k" "\xff"]
}
