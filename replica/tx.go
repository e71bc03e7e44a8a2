package replica

import (
	"fmt"
	"slices"
)

// txBuilder assembles a MULTI ... EXEC block into a Transaction. The
// commands' arguments alias the parser's arena, which Next does not release
// while a block is open.
type txBuilder struct {
	open  bool
	db    int   // database selected at MULTI
	start int64 // replication offset right before MULTI
	cmds  []Command
	args  [][]byte // the arguments of every command, back to back
}

// begin opens a block at MULTI.
func (t *txBuilder) begin(db int, start int64) error {
	if t.open {
		return protoErr("MULTI inside MULTI")
	}
	t.open, t.db, t.start = true, db, start
	t.cmds, t.args = t.cmds[:0], t.args[:0]
	return nil
}

// add appends a command of the block. arena is the number of parser bytes
// the block holds so far, checked against maxBytes.
func (t *txBuilder) add(db int, args [][]byte, off int64, arena, maxBytes int64) error {
	if len(t.cmds) >= maxTxCommands || arena > maxBytes {
		return fmt.Errorf("%w: transaction of more than %d commands or %d bytes",
			ErrTooLarge, len(t.cmds), arena)
	}
	i := len(t.args)
	t.args = append(t.args, args...)
	t.cmds = append(t.cmds, Command{DB: db, Args: t.args[i:len(t.args):len(t.args)], Offset: off})
	return nil
}

// end closes the block at EXEC, whose end is at replication offset off.
// Pos is left for the caller.
func (t *txBuilder) end(off int64) (*Transaction, error) {
	if !t.open {
		return nil, protoErr("EXEC without MULTI")
	}
	t.open = false
	return &Transaction{DB: t.db, Commands: slices.Clone(t.cmds), Start: t.start, Offset: off}, nil
}

// abort forgets an open block (the connection broke).
func (t *txBuilder) abort() { t.open = false }
