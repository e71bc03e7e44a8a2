// Package tlsflags is the TLS command-line flags of the example programs
// (--tls, --cacert, --cert, --key, --insecure and, for redtap tap,
// --server-name) and the tls.Config they make.
package tlsflags

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Flags are the TLS flags' values.
type Flags struct {
	TLS        bool
	CACert     string
	Cert, Key  string
	Insecure   bool
	ServerName string
}

// Register defines the flags on fs; withServerName adds --server-name.
func (f *Flags) Register(fs *flag.FlagSet, withServerName bool) {
	implied := []string{"--cacert", "--cert", "--insecure"}
	if withServerName {
		implied = append(implied, "--server-name")
	}
	fs.BoolVar(&f.TLS, "tls", false, "connect with TLS (implied by "+strings.Join(implied, ", ")+")")
	fs.StringVar(&f.CACert, "cacert", "", "PEM `FILE` of the CA to verify the server with (default: the system roots)")
	fs.StringVar(&f.Cert, "cert", "", "PEM `FILE` of the client certificate (with --key)")
	fs.StringVar(&f.Key, "key", "", "PEM `FILE` of the client certificate's private key")
	fs.BoolVar(&f.Insecure, "insecure", false, "do not verify the server's certificate")
	if withServerName {
		fs.StringVar(&f.ServerName, "server-name", "", "server `NAME` to verify (default: the host of --addr)")
	}
}

// Paired reports whether --cert and --key are given together (or neither).
func (f *Flags) Paired() bool { return (f.Cert == "") == (f.Key == "") }

// Imply turns TLS on when a flag that needs it is given.
func (f *Flags) Imply() {
	if f.CACert != "" || f.Cert != "" || f.Insecure || f.ServerName != "" {
		f.TLS = true
	}
}

// Config returns the tls.Config of the flags, nil without TLS.
func (f *Flags) Config() (*tls.Config, error) {
	if !f.TLS {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName, InsecureSkipVerify: f.Insecure}
	if f.CACert != "" {
		pem, err := os.ReadFile(f.CACert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate found", f.CACert)
		}
		c.RootCAs = pool
	}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
