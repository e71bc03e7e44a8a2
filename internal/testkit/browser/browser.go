// Package browser runs a headless Chromium for a test and waits for
// conditions in its page (chromedp). Without a browser on PATH the tests
// that need one skip, or fail when REDTAP_REQUIRE_BROWSER is set (CI).
package browser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Path returns a Chromium or Chrome binary. When there is none it skips the
// test, or fails it when REDTAP_REQUIRE_BROWSER is set.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("REDTAP_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium on PATH and REDTAP_REQUIRE_BROWSER is set (Debian: apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (Debian: apt-get install chromium; set REDTAP_REQUIRE_BROWSER=1 to fail instead)")
	return ""
}

// Start starts the headless browser at path (from Path) with chromedp's
// default options plus opts (without the sandbox when running as root),
// and returns the context of its first tab. The test's cleanup closes it.
func Start(t testing.TB, path string, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	all := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path))
	all = append(all, opts...)
	if os.Geteuid() == 0 {
		all = append(all, chromedp.NoSandbox)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), all...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// Poll waits up to a minute, checking every 50ms, until the JavaScript
// expression expr is true in the page of ctx; it fails the test, naming
// what it waited for, when it is not.
func Poll(t testing.TB, ctx context.Context, what, expr string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)))
	require.NoError(t, err, "waiting for %s (%s)", what, expr)
}
