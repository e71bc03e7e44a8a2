package corpus

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLocate(t *testing.T) {
	good := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(good, manifest), nil, 0o644))
	file := filepath.Join(good, manifest)
	for _, tc := range []struct {
		name, dir, require string
		want               string
		fails              bool
	}{
		{name: "unset", want: ""},
		{name: "unset but required", require: "1", fails: true},
		{name: "set", dir: good, want: good},
		{name: "set and required", dir: good, require: "1", want: good},
		{name: "missing", dir: filepath.Join(good, "nope"), fails: true},
		{name: "no manifest", dir: t.TempDir(), fails: true},
		{name: "a file", dir: file, fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envDir, tc.dir)
			t.Setenv(envRequire, tc.require)
			dir, err := locate()
			if tc.fails {
				require.Error(t, err)
				require.Contains(t, err.Error(), "REDTAP_")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, dir)
		})
	}
}

func TestParseManifest(t *testing.T) {
	text := "# Corpus\n\n| not | a | file | row | at | all | x | x | x | x | x |\n\n## Files\n\n" +
		"| file | size | license | header | keys | types | ops | expected | provenance | notes |  |\n" +
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" +
		"| redis/a.rdb | 35 | BSD-3 | REDIS0003 | 1 | 9 | 254 | yes | redis tests | checksum zero |  |\n" +
		"\n## Layout and formats\n\n| x | x | x | x | x | x | x | x | x | x | x |\n"
	require.Equal(t, []Row{{File: "redis/a.rdb", License: "BSD-3", Header: "REDIS0003", Keys: "1", Types: "9",
		Ops: "254", Expected: "yes", Provenance: "redis tests", Notes: "checksum zero"}}, parseManifest(text))
}

// The shared corpus, when there is one, lists its files.
func TestManifest(t *testing.T) {
	dir := Dir(t)
	rows := Manifest(t, dir)
	for _, r := range rows {
		_, err := os.Stat(filepath.Join(dir, r.File))
		require.NoError(t, err, r.File)
	}
	t.Logf("%d files", len(rows))
}
