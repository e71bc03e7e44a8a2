package live

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientJS(t *testing.T) {
	rec := httptest.NewRecorder()
	ClientJS().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/redtap-live.js", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript"))
	body := rec.Body.String()
	for _, s := range []string{"window.redtapLive", "new EventSource", "'updates'", "'dUpdates'"} {
		require.Contains(t, body, s)
	}
}
