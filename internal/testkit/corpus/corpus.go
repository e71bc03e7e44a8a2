// Package corpus finds the shared RDB corpus for tests: the directory that
// REDTAP_CORPUS names, whose MANIFEST.md lists every file with its header,
// value types, opcodes and provenance.
//
// A test that needs the corpus calls [Dir]: when REDTAP_CORPUS is unset the
// test is skipped, unless REDTAP_REQUIRE_CORPUS is set, in which case it
// fails: set it where a missing corpus must not pass unnoticed. A
// REDTAP_CORPUS that names no corpus always fails.
package corpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	envDir     = "REDTAP_CORPUS"
	envRequire = "REDTAP_REQUIRE_CORPUS"
	manifest   = "MANIFEST.md"
)

// Dir returns the corpus directory. It skips the test when REDTAP_CORPUS is
// unset and fails it when the corpus is required or unusable.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := locate()
	if err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		t.Skipf("%s not set (point it at the shared RDB corpus, or set %s=1 to fail instead)", envDir, envRequire)
	}
	return dir
}

// Optional returns the corpus directory, or "" when REDTAP_CORPUS is unset,
// for tests that run without the corpus and take in its files when it is
// there. It fails the test like Dir.
func Optional(t testing.TB) string {
	t.Helper()
	dir, err := locate()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// locate returns the corpus directory, or "" when REDTAP_CORPUS is unset
// and the corpus is not required.
func locate() (string, error) {
	dir := os.Getenv(envDir)
	if dir == "" {
		if os.Getenv(envRequire) != "" {
			return "", fmt.Errorf("corpus: %s is set but %s is not: point it at the shared RDB corpus", envRequire, envDir)
		}
		return "", nil
	}
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, manifest))
	}
	if err != nil {
		return "", fmt.Errorf("corpus: %s=%s is not the RDB corpus (a directory with %s): %w", envDir, dir, manifest, err)
	}
	return dir, nil
}

// Row is one line of the MANIFEST's file table.
type Row struct {
	File, License, Header, Keys, Types, Ops, Expected, Provenance, Notes string
}

// Manifest returns the rows of the file table in dir's MANIFEST.md: one per
// corpus file.
func Manifest(t testing.TB, dir string) []Row {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, manifest))
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	rows := parseManifest(string(b))
	if len(rows) == 0 {
		t.Fatalf("corpus: no file rows in %s", filepath.Join(dir, manifest))
	}
	return rows
}

// parseManifest reads the table under the "## Files" heading.
func parseManifest(text string) []Row {
	var rows []Row
	inFiles := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "## ") {
			inFiles = strings.HasPrefix(line, "## Files")
			continue
		}
		if !inFiles || !strings.HasPrefix(line, "| ") {
			continue
		}
		c := strings.Split(line, "|")
		if len(c) < 12 {
			continue
		}
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		if c[1] == "file" || strings.HasPrefix(c[1], "---") {
			continue
		}
		rows = append(rows, Row{File: c[1], License: c[3], Header: c[4], Keys: c[5], Types: c[6],
			Ops: c[7], Expected: c[8], Provenance: c[9], Notes: c[10]})
	}
	return rows
}

// Read returns the contents of the corpus file name (a MANIFEST path).
func Read(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	return b
}
