package main

import (
	"debug/elf"
	"os/exec"
	"strings"
	"testing"
)

// TestCheckStaticRefusesDynamic: a dynamically linked system binary is
// refused, naming the loader.
func TestCheckStaticRefusesDynamic(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	f, err := elf.Open(sh)
	if err != nil {
		t.Skipf("%s is not ELF: %v", sh, err)
	}
	dynamic := false
	for _, p := range f.Progs {
		dynamic = dynamic || p.Type == elf.PT_INTERP
	}
	f.Close()
	if !dynamic {
		t.Skipf("%s is statically linked here", sh)
	}
	errs := checkStatic(sh)
	if len(errs) == 0 {
		t.Fatalf("checkStatic(%s) found nothing; it has a program interpreter", sh)
	}
	if !strings.Contains(errs[0].Error(), "PT_INTERP") {
		t.Errorf("first error %q does not name PT_INTERP", errs[0])
	}
}

func TestCheckStaticRefusesNonELF(t *testing.T) {
	if errs := checkStatic("main.go"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "not an ELF") {
		t.Errorf("checkStatic(main.go) = %v, want one not-an-ELF error", errs)
	}
}
