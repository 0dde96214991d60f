package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipamguard/ipamguard/internal/version"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{arg}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
			t.Errorf("kubectl ipam %s: exit %d, want %d; stderr: %s", arg, code, exitOK, stderr.String())
		}
		want := "kubectl-ipam " + version.Get().String() + "\n"
		if stdout.String() != want {
			t.Errorf("kubectl ipam %s printed %q, want %q", arg, stdout.String(), want)
		}
	}
}
