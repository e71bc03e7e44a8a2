package keyspace

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/tidwall/redcon"
)

// serveFace serves one of the face's Commands on a connection that is not
// subscribed; false when cmd is not one of them.
func (f *Face) serveFace(conn redcon.Conn, cmd redcon.Command, st *connState, next redcon.Handler, srv *redcon.Server) bool {
	if len(cmd.Args) == 0 {
		return false
	}
	switch strings.ToLower(string(cmd.Args[0])) {
	case "subscribe", "psubscribe", "redtap.subscribe":
		if !f.detach(conn, cmd, st, next, srv) {
			conn.WriteError("ERR server is shutting down")
		}
	case "unsubscribe", "punsubscribe", "redtap.unsubscribe":
		// Not subscribed: what Redis answers then.
		name := strings.ToLower(string(cmd.Args[0]))
		b := appendPush(nil, 3, st.proto)
		b = redcon.AppendBulkString(b, name)
		if len(cmd.Args) > 1 {
			b = redcon.AppendBulk(b, cmd.Args[1])
		} else {
			b = appendNil(b, st.proto)
		}
		conn.WriteRaw(redcon.AppendInt(b, 0))
		for _, a := range cmd.Args[min(2, len(cmd.Args)):] {
			b = appendPush(nil, 3, st.proto)
			b = redcon.AppendBulkString(b, name)
			b = redcon.AppendBulk(b, a)
			conn.WriteRaw(redcon.AppendInt(b, 0))
		}
	case "hello":
		f.hello(conn, st, cmd.Args)
		if st.mounted {
			f.mu.Lock()
			if !f.closed {
				f.conns[conn] = st
			}
			f.mu.Unlock()
		}
	default:
		return false
	}
	return true
}

// serveOwn is the handler of the servers of Serve.
func (f *Face) serveOwn(conn redcon.Conn, cmd redcon.Command, st *connState, srv *redcon.Server) {
	if len(cmd.Args) == 0 {
		return
	}
	name := strings.ToLower(string(cmd.Args[0]))
	if !st.authed && name != "auth" && name != "hello" && name != "quit" {
		conn.WriteError(errNoAuth)
		return
	}
	if name == "auth" {
		f.authCmd(conn, st, cmd.Args)
		return
	}
	next := redcon.HandlerFunc(f.basic)
	if !f.serveFace(conn, cmd, st, next, srv) {
		f.basic(conn, cmd)
	}
}

// authCmd runs AUTH [username] password.
func (f *Face) authCmd(conn redcon.Conn, st *connState, args [][]byte) {
	var user, pass string
	switch len(args) {
	case 2:
		user, pass = "default", string(args[1])
	case 3:
		user, pass = string(args[1]), string(args[2])
	default:
		conn.WriteError("ERR wrong number of arguments for 'auth' command")
		return
	}
	if f.cfg.Auth == nil {
		conn.WriteError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	if err := f.cfg.Auth(conn, user, pass); err != nil {
		conn.WriteError("WRONGPASS invalid username-password pair or user is disabled.")
		return
	}
	st.authed = true
	conn.WriteString("OK")
}

// hello runs HELLO [protover [AUTH username password] [SETNAME name]].
func (f *Face) hello(conn redcon.Conn, st *connState, args [][]byte) {
	proto := st.proto
	if len(args) > 1 {
		v, err := strconv.Atoi(string(args[1]))
		if err != nil {
			conn.WriteError("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 && v != 3 {
			conn.WriteError("NOPROTO unsupported protocol version")
			return
		}
		proto = v
	}
	authed := st.authed
	name := st.name
	for i := 2; i < len(args); i++ {
		switch {
		case bytes.EqualFold(args[i], []byte("auth")) && i+2 < len(args):
			user, pass := string(args[i+1]), string(args[i+2])
			i += 2
			if f.cfg.Auth != nil {
				if err := f.cfg.Auth(conn, user, pass); err != nil {
					conn.WriteError("WRONGPASS invalid username-password pair or user is disabled.")
					return
				}
			}
			authed = true
		case bytes.EqualFold(args[i], []byte("setname")) && i+1 < len(args):
			name = string(args[i+1])
			i++
		default:
			conn.WriteError("ERR Syntax error in HELLO option '" + shorten(args[i]) + "'")
			return
		}
	}
	if !authed {
		conn.WriteError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	st.proto, st.authed, st.name = proto, authed, name
	var b []byte
	if proto == 3 {
		b = append(b, "%7\r\n"...)
	} else {
		b = redcon.AppendArray(b, 14)
	}
	b = redcon.AppendBulkString(b, "server")
	b = redcon.AppendBulkString(b, "redtap")
	b = redcon.AppendBulkString(b, "version")
	b = redcon.AppendBulkString(b, "7.0.0")
	b = redcon.AppendBulkString(b, "proto")
	b = redcon.AppendInt(b, int64(proto))
	b = redcon.AppendBulkString(b, "id")
	b = redcon.AppendInt(b, 1)
	b = redcon.AppendBulkString(b, "mode")
	b = redcon.AppendBulkString(b, "standalone")
	b = redcon.AppendBulkString(b, "role")
	b = redcon.AppendBulkString(b, "master")
	b = redcon.AppendBulkString(b, "modules")
	b = redcon.AppendArray(b, 0)
	conn.WriteRaw(b)
}

// basic serves the connection commands of Serve's servers that are not
// the face's own.
func (f *Face) basic(conn redcon.Conn, cmd redcon.Command) {
	args := cmd.Args
	switch strings.ToLower(string(args[0])) {
	case "ping":
		switch len(args) {
		case 1:
			conn.WriteString("PONG")
		case 2:
			conn.WriteBulk(args[1])
		default:
			conn.WriteError("ERR wrong number of arguments for 'ping' command")
		}
	case "echo":
		if len(args) != 2 {
			conn.WriteError("ERR wrong number of arguments for 'echo' command")
			return
		}
		conn.WriteBulk(args[1])
	case "quit":
		conn.WriteString("OK")
		conn.Close()
	case "reset":
		if st, ok := conn.Context().(*connState); ok {
			st.proto = 2
		}
		conn.WriteString("RESET")
	case "select":
		if len(args) != 2 {
			conn.WriteError("ERR wrong number of arguments for 'select' command")
			return
		}
		conn.WriteString("OK") // notifications of every database are served
	case "client":
		if len(args) >= 2 && bytes.EqualFold(args[1], []byte("id")) {
			conn.WriteInt(1)
			return
		}
		if len(args) >= 2 && bytes.EqualFold(args[1], []byte("getname")) {
			conn.WriteNull()
			return
		}
		conn.WriteString("OK") // SETNAME, SETINFO ...
	case "command":
		if len(args) >= 2 && bytes.EqualFold(args[1], []byte("count")) {
			conn.WriteInt(len(Commands) + 7)
			return
		}
		conn.WriteArray(0)
	default:
		conn.WriteError(unknownCommand(args))
	}
}
