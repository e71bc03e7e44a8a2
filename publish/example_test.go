package publish_test

import (
	"fmt"

	"github.com/redtap/redtap/publish"
)

func ExampleAppendToken() {
	for _, key := range []string{"user:42", "a.b", "with space", ""} {
		tok := publish.AppendToken(nil, []byte(key))
		back, _ := publish.ParseToken(string(tok))
		fmt.Printf("%q -> redtap.0.%s -> %q\n", key, tok, back)
	}
	// Output:
	// "user:42" -> redtap.0.user:42 -> "user:42"
	// "a.b" -> redtap.0.a%2Eb -> "a.b"
	// "with space" -> redtap.0.with%20space -> "with space"
	// "" -> redtap.0.% -> ""
}

func ExampleParseID() {
	id, err := publish.ParseID("0123456789abcdef0123456789abcdef01234567:1234:1")
	if err != nil {
		panic(err)
	}
	fmt.Println(id.ReplID[:8], id.Offset, id.Index)
	// Output: 01234567 1234 1
}
