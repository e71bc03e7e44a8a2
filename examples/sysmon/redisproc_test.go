package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
)

func TestManagedRedisStartStop(t *testing.T) {
	redistest.Binary(t, "redis-server")
	p, err := startRedis(context.Background(), "")
	require.NoError(t, err)
	t.Cleanup(func() { p.Stop() }) //nolint:errcheck // Stop is idempotent; the test stops it first
	require.NoError(t, pingRedis(p.Addr))
	require.DirExists(t, p.Dir)
	require.True(t, strings.HasPrefix(p.Addr, "127.0.0.1:"), p.Addr)

	require.NoError(t, p.Stop())
	require.NoError(t, p.Stop(), "Stop is idempotent")
	select {
	case <-p.done:
	default:
		t.Fatal("redis-server still running after Stop")
	}
	require.True(t, processGone(p.Pid()), "pid %d still exists", p.Pid())
	require.NoDirExists(t, p.Dir)
	require.Error(t, pingRedis(p.Addr))
}

func TestManagedRedisMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := startRedis(context.Background(), "")
	require.True(t, errors.Is(err, errNoRedisServer), "%v", err)

	var stdout, stderr bytes.Buffer
	code := run(context.Background(), nil, &stdout, &stderr)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr.String(), "apt-get install redis-server")
	require.Contains(t, stderr.String(), "brew install redis")
}

func TestManagedRedisBinaryFails(t *testing.T) {
	// A "redis-server" that exits at once: startRedis says so instead of
	// waiting for PING.
	if runtime.GOOS == "windows" {
		t.Skip("needs a shell script")
	}
	bin := t.TempDir() + "/redis-server"
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\necho 'bad config' >&2\nexit 1\n"), 0o755))
	_, err := startRedis(context.Background(), bin)
	require.ErrorContains(t, err, "exited at start")
}
