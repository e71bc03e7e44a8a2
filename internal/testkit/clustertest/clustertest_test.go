package clustertest

import (
	"os/exec"
	"strconv"
	"testing"
)

func TestStart(t *testing.T) {
	c := Start(t, Options{})
	if p := c.Primaries(); len(p) != 3 {
		t.Fatalf("primaries: %+v", p)
	}
	if testing.Verbose() {
		out, _ := exec.Command(c.cli, "-p", strconv.Itoa(c.Nodes[0].Port), "cluster", "shards").CombinedOutput()
		t.Logf("%s", out)
	}
}
