package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipamguard/ipamguard/internal/devenv/plant"
)

func TestPrintPlantedNamesTheDoctorAndEveryFinding(t *testing.T) {
	var b bytes.Buffer
	p := plant.Planted{Subnets: []string{plant.SubnetZombie, plant.SubnetFull}}
	printPlanted(&b, "/run/kubeconfig", p)
	out := b.String()
	for _, want := range []string{"bin/kubectl-ipam doctor --kubeconfig /run/kubeconfig", "wait a minute", plant.SubnetZombie + ", " + plant.SubnetFull} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	for _, e := range p.Expect() {
		line := string(e.Severity) + strings.Repeat(" ", 9-len(e.Severity)) + e.ID
		if e.Fix {
			line += "  (fix printed)"
		}
		if !strings.Contains(out, "  "+line+"\n") {
			t.Errorf("lacks the line %q:\n%s", line, out)
		}
	}
}
