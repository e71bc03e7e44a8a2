package redistest

import (
	"context"
	"testing"
)

func TestStartPlainAndTLS(t *testing.T) {
	ctx := context.Background()
	s := Start(t, Options{Password: "secret"})
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tlsFiles := GenerateTLS(t)
	st := Start(t, Options{TLS: tlsFiles, ClientAuth: true})
	if err := st.Client().Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, "server")
	if err != nil || info["redis_version"] == "" {
		t.Fatalf("info: %v %v", info, err)
	}
}
