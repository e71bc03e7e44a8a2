package monitor_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/redtap/redtap/monitor"
)

// fuzzSep separates the arguments in a fuzz input: a byte no command name
// or keyword has.
const fuzzSep = 0xff

// FuzzKeys feeds random argument lists to AppendKeys: it must never panic,
// must return indexes inside args, must leave dst's prefix alone, must
// return no keys with an error, and must agree with Keys and LookupArgs.
// The seed corpus (testdata/fuzz/FuzzKeys) holds the commands whose keys
// depend on their arguments, in valid and broken forms.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{
		"SET\xffk\xffv", "ZUNIONSTORE\xffd\xff2\xffa\xffb", "EVAL\xffs\xff1\xffk", "XREAD\xffSTREAMS\xffa\xff0",
		"SORT\xffk\xffSTORE\xffd", "MIGRATE\xffh\xffp\xff\xff0\xff1\xffKEYS\xffa", "XGROUP\xffCREATE\xffk\xffg\xff$",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		args := bytes.Split(data, []byte{fuzzSep})
		prefix := []monitor.KeyRef{{Index: -1, Flags: monitor.KeyRM}}
		got, err := monitor.AppendKeys(prefix, args)
		if len(got) == 0 || got[0] != prefix[0] {
			t.Fatalf("dst prefix lost: %v", got)
		}
		if err != nil {
			var e *monitor.Error
			if len(got) != 1 || !errors.As(err, &e) {
				t.Fatalf("error %v with keys %v, or not an *Error", err, got)
			}
			if !errors.Is(err, monitor.ErrUnknownCommand) && !errors.Is(err, monitor.ErrArity) && !errors.Is(err, monitor.ErrInvalidArgs) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			_ = err.Error()
		}
		for _, k := range got[1:] {
			if k.Index < 1 || k.Index >= len(args) {
				t.Fatalf("index %d outside %d arguments", k.Index, len(args))
			}
		}
		keys, err2 := monitor.Keys(args)
		if (err == nil) != (err2 == nil) || len(keys) != len(got)-1 {
			t.Fatalf("Keys: %v %v; AppendKeys: %v %v", keys, err2, got[1:], err)
		}
		for i := range keys {
			if keys[i] != got[i+1] {
				t.Fatalf("Keys: %v; AppendKeys: %v", keys, got[1:])
			}
		}
		c, lerr := monitor.LookupArgs(args)
		if err == nil && lerr != nil {
			t.Fatalf("keys found, but LookupArgs: %v", lerr)
		}
		if c != nil && !errors.Is(err, monitor.ErrArity) && !c.ArityOK(len(args)) {
			t.Fatalf("arity %d, %d arguments, no arity error: %v", c.Arity, len(args), err)
		}
	})
}
