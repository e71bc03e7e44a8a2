// Package keyspace serves redtap's change stream as Redis keyspace
// notifications over RESP.
package keyspace
