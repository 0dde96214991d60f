package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
)

func TestCertFlags(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	for _, c := range []struct {
		name  string
		args  []string
		ns    string
		want  string // error substring; "" wants a Manager ("dir" wants none)
		isNil bool
	}{
		{name: "default is dir", isNil: true},
		{name: "unknown mode", args: []string{"--cert-mode=auto"}, want: `--cert-mode "auto": must be dir or self-managed`},
		{name: "self-managed", args: []string{"--cert-mode=self-managed"}, ns: "ipamguard-system"},
		{name: "no namespace", args: []string{"--cert-mode=self-managed"}, want: "$POD_NAMESPACE"},
		{name: "secret namespace flag", args: []string{"--cert-mode=self-managed", "--cert-secret-namespace=x"}},
		{name: "short validity", args: []string{"--cert-mode=self-managed", "--cert-validity=1m"}, ns: "n", want: "--cert-validity 1m0s: must be between 10m0s"},
		{name: "validity beyond CA", args: []string{"--cert-mode=self-managed", "--cert-validity=100000h", "--cert-ca-validity=1000h"}, ns: "n", want: "--cert-validity 100000h0m0s"},
		{name: "bad overlap", args: []string{"--cert-mode=self-managed", "--cert-overlap=2h"}, ns: "n", want: "--cert-overlap 2h0m0s"},
		{name: "bad secret name", args: []string{"--cert-mode=self-managed", "--cert-secret=Bad_Name"}, ns: "n", want: `--cert-secret "Bad_Name"`},
		{name: "no names", args: []string{"--cert-mode=self-managed", "--cert-service-name="}, ns: "n", want: "--cert-service-name or --cert-extra-sans"},
		{name: "no configurations", args: []string{"--cert-mode=self-managed", "--cert-validating-webhooks=", "--cert-mutating-webhooks="}, ns: "n", want: "--cert-validating-webhooks"},
		{name: "dir ignores the rest", args: []string{"--cert-validity=1s"}, isNil: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f certFlags
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			f.bind(fs)
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			m, err := f.manager(cfg, c.ns, logr.Discard())
			switch {
			case c.want != "":
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %v, want one containing %q", err, c.want)
				}
			case err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.isNil != (m == nil):
				t.Errorf("manager %v, want nil: %v", m, c.isNil)
			}
		})
	}
}
