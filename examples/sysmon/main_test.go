package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redtap/redtap/internal/testkit/redistest"
	"github.com/redtap/redtap/internal/testkit/syncbuf"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string // "" for valid
	}{
		{nil, ""},
		{[]string{"--redis", "h:1", "--user", "u", "--password", "p", "--collect=false", "--window", "10"}, ""},
		{[]string{"collect", "--redis", "h:1", "--host", "n", "--every", "200ms"}, ""},
		{[]string{"--cacert", "ca.pem", "--redis", "h:1"}, ""},
		{[]string{"collect"}, "--redis is required"},
		{[]string{"collect", "--redis", "h:1", "--listen", ":1"}, "flag provided but not defined"},
		{[]string{"--password", "p"}, "need --redis"},
		{[]string{"--tls"}, "need --redis"},
		{[]string{"--redis", "h:1", "--cert", "c.pem"}, "--cert and --key go together"},
		{[]string{"--window", "0"}, "--window 0"},
		{[]string{"--every", "0s"}, "--every 0s"},
		{[]string{"--retain", "-1s"}, "--retain -1s"},
		{[]string{"--host", ""}, "--host is required"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		o, err := parseArgs(tc.args, io.Discard)
		if tc.err == "" {
			require.NoError(t, err, "%q", tc.args)
			require.NotNil(t, o)
		} else {
			require.ErrorContains(t, err, tc.err, "%q", tc.args)
		}
	}
	o, err := parseArgs([]string{"--cacert", "ca.pem", "--redis", "h:1"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.tls.TLS, "--cacert implies --tls")
	o, err = parseArgs(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, defaultListen, o.listen)
	require.Equal(t, 300, o.window)
	require.True(t, o.collect)
	require.False(t, o.listenSet)
}

// The command with no Redis flags: its own redis-server, a collector and
// the dashboard, whose /events shows updates then dUpdates; the context's
// end (SIGINT in main) stops everything and removes the server.
func TestRunAllInOne(t *testing.T) {
	redistest.Binary(t, "redis-server")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--listen", "127.0.0.1:0", "--every", "200ms", "--host", "h1"}, &stdout, &stderr)
	}()
	urlRE := regexp.MustCompile(`dashboard at (http://\S+/)`)
	pidRE := regexp.MustCompile(`redis-server on \S+ \(pid (\d+)`)
	redistest.WaitFor(t, 20*time.Second, "the dashboard URL", func() bool { return urlRE.MatchString(stdout.String()) })
	url := urlRE.FindStringSubmatch(stdout.String())[1]
	var pid int
	_, err := fmt.Sscan(pidRE.FindStringSubmatch(stdout.String())[1], &pid)
	require.NoError(t, err)

	ch := readSSE(t, url+"events")
	var up updatesMsg
	require.Equal(t, "updates", next(t, ch, &up).event)
	for {
		var d dUpdatesMsg
		m := next(t, ch, &d)
		require.Equal(t, "dUpdates", m.event)
		if hasKey(d, "sysmon:h1:cpu") {
			break
		}
	}

	cancel()
	select {
	case c := <-code:
		require.Equal(t, exitOK, c, "stderr:\n%s", stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	require.True(t, processGone(pid), "redis-server %d still runs", pid)
}

func hasKey(d dUpdatesMsg, key string) bool {
	for _, x := range d.Deltas {
		if x.Key == key && len(x.Set) > 0 {
			return true
		}
	}
	return false
}
