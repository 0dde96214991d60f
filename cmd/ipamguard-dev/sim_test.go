package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBannerMentionsSimulation(t *testing.T) {
	for _, simulate := range []bool{true, false} {
		var b bytes.Buffer
		printBanner(&b, banner{kubeconfig: "/k", metricsURL: "http://m", webhookLog: "/l",
			namespace: "ns", serviceAccount: "sa", webhookKubeconfig: "/w", simulate: simulate})
		out := b.String()
		for _, want := range []string{"export KUBECONFIG=/k", "--simulate-kube-ovn=false", "Ctrl-C stops everything.",
			"system:serviceaccount:ns:sa", "kubectl -n ns get lease"} {
			if !strings.Contains(out, want) {
				t.Errorf("simulate=%v: banner lacks %q:\n%s", simulate, want, out)
			}
		}
		if got := strings.Contains(out, "kubectl -n demo run"); got != simulate {
			t.Errorf("simulate=%v: pod demo shown = %v:\n%s", simulate, got, out)
		}
	}
}

func TestNilSimulator(t *testing.T) {
	var s *simulator
	if s.exited() != nil {
		t.Error("a nil simulator must never report an exit")
	}
	if err := s.stop(); err != nil {
		t.Errorf("stop on nil: %v", err)
	}
}
